"""Fine-tuning the pretrained encoders with mmrotate (rotated detection) and mmsegmentation (semantic segmentation)."""
