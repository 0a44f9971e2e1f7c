# UperNet on LoveDA (Urban + Rural, 1024-px images; 0 no-data is ignored, seven classes). Trained on train (or a seeded
# fraction of it) with 512-px random crops, scored on val by mIoU (test labels are withheld); the test predictions are
# written in the CodaLab server's format (0-6 PNGs, zipped flat) by rule finetune_submission. As mmseg's LoveDA
# configs: RandomResize of (2048, 512) by 0.5-2x then 512-px random crops; inference on the whole 1024-px image.
_base_ = ["_base_/upernet_vitdet.py", "_base_/schedule.py"]

data_root = "data/prepared/loveda"
classes = ("background", "building", "road", "water", "barren", "forest", "agricultural")
crop_size = (512, 512)
img_scale = (1024, 1024)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=True),
    dict(type="RandomResize", scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="LoadAnnotations", reduce_zero_label=True),
    dict(type="PackSegInputs"),
]
submission_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="PackSegInputs"),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type="FractionSubset",
        fraction=1.0,
        seed=0,
        dataset=dict(
            type="LoveDADataset",
            data_root=data_root,
            data_prefix=dict(img_path="img_dir/train", seg_map_path="ann_dir/train"),
            pipeline=train_pipeline,
        ),
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type="LoveDADataset",
        data_root=data_root,
        data_prefix=dict(img_path="img_dir/val", seg_map_path="ann_dir/val"),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="RSSegMetric")
test_evaluator = val_evaluator

# The server's test set: images only; predictions as 0-6 PNGs zipped flat (LoveDASubmission).
submission = dict(
    split="test",
    dataloader=dict(
        batch_size=1,
        num_workers=2,
        persistent_workers=False,
        sampler=dict(type="DefaultSampler", shuffle=False),
        dataset=dict(
            type="LoveDADataset",
            data_root=data_root,
            data_prefix=dict(img_path="img_dir/test"),
            pipeline=submission_pipeline,
        ),
    ),
)

model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=len(classes)),
    auxiliary_head=dict(num_classes=len(classes)),
)
default_hooks = dict(checkpoint=dict(save_best="mIoU"))
