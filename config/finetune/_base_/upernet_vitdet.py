# UperNet (Xiao et al. 2018) on the plain backbone: four taps of evenly spaced blocks, brought to strides 4, 8, 16
# and 32 by mmseg's Feature2Pyramid (rescales for patch 16; the pipeline adapts them to the patch size), an auxiliary
# FCN head on the third level, as mmseg's ViT/BEiT UperNet configs. The pipeline fills in arch, pretrained, img_size,
# patch_size, out_indices and the channel counts per run.
custom_imports = dict(
    imports=["rsfm.finetune.backbone", "rsfm.finetune.optim", "rsfm.finetune.subset", "rsfm.finetune.scores"],
    allow_failed_imports=False,
)
default_scope = "mmseg"
norm_cfg = dict(type="SyncBN", requires_grad=True)

model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(
        type="SegDataPreProcessor",
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512),
    ),
    backbone=dict(
        type="ParallelViTDet",
        arch="vit_b12x1",
        img_size=512,
        patch_size=16,
        pretrained=None,
        window_size=14,
        drop_path_rate=0.1,
        out_indices=(3, 5, 7, 11),
        with_cp=False,
    ),
    neck=dict(type="Feature2Pyramid", embed_dim=768, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    decode_head=dict(
        type="UPerHead",
        in_channels=[768, 768, 768, 768],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    auxiliary_head=dict(
        type="FCNHead",
        in_channels=768,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)

visualizer = dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")], name="visualizer")
