# Oriented R-CNN (le90) on DIOR-R (20 classes): 800-px images, converted to DOTA text by the data stage and passed
# through the same window splitter (one window per image). Trained on train (or a seeded fraction of it), validated on
# val, scored on test with mmrotate's mAP at IoU 0.5 and per-class AP.
_base_ = ["_base_/oriented_rcnn_vitdet.py", "_base_/schedule.py"]

data_root = "data/tiles/dior_r"
classes = (
    "airplane", "airport", "baseballfield", "basketballcourt", "bridge", "chimney",
    "expressway-service-area", "expressway-toll-station", "dam", "golffield", "groundtrackfield",
    "harbor", "overpass", "ship", "stadium", "storagetank", "tenniscourt", "trainstation", "vehicle", "windmill",
)  # fmt: skip
img_scale = (800, 800)

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
    dict(type="mmdet.LoadAnnotations", with_bbox=True, box_type="qbox"),
    dict(type="ConvertBoxType", box_type_mapping=dict(gt_bboxes="rbox")),
    dict(type="mmdet.PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]


def _split(name, pipeline, test_mode):
    return dict(
        type="DOTADataset",
        data_root=data_root,
        ann_file=f"{name}/annfiles/",
        data_prefix=dict(img_path=f"{name}/images/"),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=not test_mode),
        test_mode=test_mode,
        pipeline=pipeline,
    )


train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(type="FractionSubset", fraction=1.0, seed=0, dataset=_split("train", train_pipeline, False)),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=_split("val", val_pipeline, True),
)
test_dataloader = dict(val_dataloader, dataset=_split("test", val_pipeline, True))
val_evaluator = dict(type="RotatedAPMetric", metric="mAP", iou_thrs=[0.5], nproc=4)
test_evaluator = val_evaluator

model = dict(backbone=dict(img_size=800), roi_head=dict(bbox_head=dict(num_classes=len(classes))))
default_hooks = dict(checkpoint=dict(save_best="dota/mAP"))
