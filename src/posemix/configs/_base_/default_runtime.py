# Runtime defaults shared by the top-down configs: the settings of MMPose 1.3.2's
# configs/_base_/default_runtime.py, as data. No `randomness` entry: the seed is drawn at
# start-up unless a config or --cfg-options sets one.
default_scope = 'mmpose'

# hooks
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False),
    badcase=dict(
        type='BadCaseAnalysisHook',
        enable=False,
        out_dir='badcase',
        metric_type='loss',
        badcase_thr=5),
)

# custom hooks: average buffers (BatchNorm running statistics) across ranks after each epoch
custom_hooks = [dict(type='SyncBuffersHook')]

# multi-processing and distributed settings
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# visualizer
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')

# logging
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False

# file I/O backend
backend_args = dict(backend='local')

# training / validation / testing loops
train_cfg = dict(by_epoch=True)
val_cfg = dict()
test_cfg = dict()
