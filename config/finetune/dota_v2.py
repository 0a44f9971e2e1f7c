# Oriented R-CNN (le90) on DOTA v2.0: the 1024-px windows (gap 200) cut by the data stage from train, val and test.
# Trained on train (or a seeded fraction of it; train + val with the pipeline's `train_splits`), scored on val as the
# DOTA server scores test: the windows' detections merged back to whole scenes (rate and offset from the window names,
# class-wise rotated NMS at 0.1) and matched against each scene's uncut labels, mAP at IoU 0.5 (VOC07 11-point),
# difficult objects ignored (SceneAPMetric); the test windows are merged the same way into the server's Task1 files.
_base_ = ["_base_/oriented_rcnn_vitdet.py", "_base_/schedule.py"]

data_root = "data/tiles/dota_v2"
classes = (
    "plane", "ship", "storage-tank", "baseball-diamond", "tennis-court", "basketball-court",
    "ground-track-field", "harbor", "bridge", "large-vehicle", "small-vehicle", "helicopter",
    "roundabout", "soccer-ball-field", "swimming-pool", "container-crane", "airport", "helipad",
)  # fmt: skip
img_scale = (1024, 1024)

train_pipeline = [
    dict(type="mmdet.LoadImageFromFile"),
    dict(type="mmdet.LoadAnnotations", with_bbox=True, box_type="qbox"),
    dict(type="ConvertBoxType", box_type_mapping=dict(gt_bboxes="rbox")),
    dict(type="mmdet.Resize", scale=img_scale, keep_ratio=True),
    dict(type="mmdet.RandomFlip", prob=0.75, direction=["horizontal", "vertical", "diagonal"]),
    dict(type="mmdet.PackDetInputs"),
]
val_pipeline = [
    dict(type="mmdet.LoadImageFromFile"),
    dict(type="mmdet.Resize", scale=img_scale, keep_ratio=True),
    dict(type="mmdet.LoadAnnotations", with_bbox=True, box_type="qbox"),  # after Resize: boxes stay in image pixels
    dict(type="ConvertBoxType", box_type_mapping=dict(gt_bboxes="rbox")),
    dict(type="mmdet.PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
test_pipeline = [
    dict(type="mmdet.LoadImageFromFile"),
    dict(type="mmdet.Resize", scale=img_scale, keep_ratio=True),
    dict(type="mmdet.PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type="FractionSubset",
        fraction=1.0,
        seed=0,
        dataset=dict(
            type="DOTADataset",
            data_root=data_root,
            ann_file="train/annfiles/",
            data_prefix=dict(img_path="train/images/"),
            metainfo=dict(classes=classes),
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=train_pipeline,
        ),
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type="DOTADataset",
        data_root=data_root,
        ann_file="val/annfiles/",
        data_prefix=dict(img_path="val/images/"),
        metainfo=dict(classes=classes),
        test_mode=True,
        pipeline=val_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type="SceneAPMetric", data_root=data_root, scene_labels="val/scenes/", metric="mAP", iou_thrs=[0.5], nproc=4
)
test_evaluator = val_evaluator

# The server's test set: windows without labels, merged into Task1 files per class (rule finetune_submission).
submission = dict(
    split="test",
    dataloader=dict(
        batch_size=1,
        num_workers=2,
        persistent_workers=False,
        drop_last=False,
        sampler=dict(type="DefaultSampler", shuffle=False),
        dataset=dict(
            type="DOTADataset",
            data_root=data_root,
            ann_file="",
            data_prefix=dict(img_path="test/images/"),
            metainfo=dict(classes=classes),
            test_mode=True,
            pipeline=test_pipeline,
        ),
    ),
)

model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes))))
default_hooks = dict(checkpoint=dict(save_best="dota/mAP"))
