# The demo's mixed model as RTMPose-t (CSPNeXt-t backbone, RTMCCHead with SimCC
# classification of x and y in half-pixel bins) at the demo's input size 96x128, so the
# feature map is 3x4 (input/32). Same data, schedule and evaluation as combine.py.
# The SimCC sigmas are RTMPose-t's (4.9, 5.66) at 192x256, halved with the input.
_base_ = ['combine.py']

codec = dict(type='SimCCLabel', input_size=(96, 128), sigma=(2.45, 2.83),
             simcc_split_ratio=2.0, normalize=False, use_dark=False)

model = dict(
    backbone=dict(_delete_=True, _scope_='mmdet', type='CSPNeXt', arch='P5',
                  expand_ratio=0.5, deepen_factor=0.167, widen_factor=0.375,
                  out_indices=(4,), channel_attention=True, norm_cfg=dict(type='SyncBN'),
                  act_cfg=dict(type='SiLU')),
    head=dict(_delete_=True, type='RTMCCHead', in_channels=384, out_channels=None,
              input_size=codec['input_size'],
              in_featuremap_size=tuple(s // 32 for s in codec['input_size']),
              simcc_split_ratio=codec['simcc_split_ratio'], final_layer_kernel_size=7,
              gau_cfg=dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.,
                           drop_path=0., act_fn='SiLU', use_rel_bias=False, pos_enc=False),
              loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10.,
                        label_softmax=True),
              decoder=codec),
    test_cfg=dict(_delete_=True, flip_test=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', rotate_prob=0.0),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
