# The demo's AIC-like single-source baseline: the same model and budget as combine.py,
# trained on the AIC-like data alone (14 outputs), evaluated on aic-like val.
_base_ = ['combine.py']

union = dict(from_file='configs/_base_/datasets/aic.py')
model = dict(metainfo=union)

train_dataloader = dict(dataset=dict(
    metainfo=union,
    datasets=[dict(type='AicDataset', data_root='demo_data/aic-like/',
                   ann_file='annotations/train.json', data_prefix=dict(img='images/'))]))
val_dataloader = dict(dataset=dict(
    metainfo=union,
    datasets=[dict(type='AicDataset', data_root='demo_data/aic-like/',
                   ann_file='annotations/val.json', data_prefix=dict(img='images/'),
                   test_mode=True)]))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(save_best='aic/AP'))
