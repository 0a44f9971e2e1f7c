# Fine-tuning schedule shared by every benchmark: iteration-based, AdamW with layer-wise lr decay (BEiT/MAE recipe),
# linear warm-up then cosine, validation every `val_interval` iterations, checkpoints kept for the best validation
# score and the last iteration only. The pipeline sets max_iters, warm-up, lr, layer decay and the metric to keep.
train_cfg = dict(type="IterBasedTrainLoop", max_iters=40000, val_interval=4000)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")

optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor="LayerDecayOptimWrapperConstructor",
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=None,
)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=1000, end=40000),
]

default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(
        type="CheckpointHook", by_epoch=False, interval=4000, max_keep_ckpts=1, save_last=True,
        save_best="auto", rule="greater",
    ),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
    dist_cfg=dict(backend="nccl"),
)
log_processor = dict(type="LogProcessor", window_size=50, by_epoch=False)
log_level = "INFO"
load_from = None
resume = True  # a rerun of the same run continues from its last checkpoint
randomness = dict(seed=0, deterministic=False)
