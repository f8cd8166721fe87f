# The demo's single-source baseline: the same model and budget as combine.py, trained on
# the COCO-like data alone (17 outputs), evaluated on coco-like val.
_base_ = ['combine.py']

union = dict(from_file='configs/_base_/datasets/coco.py')
model = dict(metainfo=union)

train_dataloader = dict(dataset=dict(
    metainfo=union,
    datasets=[dict(type='CocoDataset', data_root='demo_data/coco-like/',
                   ann_file='annotations/train.json', data_prefix=dict(img='images/'))]))
val_dataloader = dict(dataset=dict(
    metainfo=union,
    datasets=[dict(type='CocoDataset', data_root='demo_data/coco-like/',
                   ann_file='annotations/val.json', data_prefix=dict(img='images/'),
                   test_mode=True)]))
test_dataloader = val_dataloader
