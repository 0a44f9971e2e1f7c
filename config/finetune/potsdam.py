# UperNet on ISPRS Potsdam: 512-px crops of the data stage (labels 0 impervious ... 5 clutter, eroded boundaries 255).
# Trained on the 24 training tiles (or a seeded fraction of their crops), scored on the 14 test tiles with OA, mF1 and
# mIoU over the five classes other than clutter, as the RS literature reports Potsdam (RSSegMetric's docstring).
# The test tiles are whole (the data stage writes the scored splits uncut) and inferred by mmseg's sliding window:
# 512-px windows every 341 px, overlapping logits averaged, so that every labelled pixel is scored exactly once.
_base_ = ["_base_/upernet_vitdet.py", "_base_/schedule.py"]

data_root = "data/tiles/potsdam"
classes = ("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter")
crop_size = (512, 512)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=False),
    dict(type="RandomResize", scale=crop_size, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    # the whole tile at the training crops' pixel size (the pipeline rescales this factor with img_size)
    dict(type="Resize", scale_factor=1.0, keep_ratio=True),
    dict(type="LoadAnnotations", reduce_zero_label=False),  # after Resize: scored at the labels' own size
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
            type="PotsdamDataset",
            data_root=data_root,
            data_prefix=dict(img_path="img_dir/train", seg_map_path="ann_dir/train"),
            metainfo=dict(classes=classes),
            reduce_zero_label=False,
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
        type="PotsdamDataset",
        data_root=data_root,
        data_prefix=dict(img_path="img_dir/test", seg_map_path="ann_dir/test"),
        metainfo=dict(classes=classes),
        reduce_zero_label=False,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="RSSegMetric", exclude_classes=("clutter",))
test_evaluator = val_evaluator

model = dict(
    data_preprocessor=dict(size=crop_size),
    test_cfg=dict(mode="slide", crop_size=crop_size, stride=(341, 341)),
    decode_head=dict(num_classes=len(classes)),
    auxiliary_head=dict(num_classes=len(classes)),
)
default_hooks = dict(checkpoint=dict(save_best="mIoU"))
