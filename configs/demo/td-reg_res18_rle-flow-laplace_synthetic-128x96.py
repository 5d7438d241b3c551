# The demo on generated data: our RLE-flow + Laplace model (ResNet-18 from scratch, 128x96) trained on a small
# synthetic set that the demo generates on first run with
#   mmpose_ext.datasets.synthetic.ensure_for_config(cfg)  # = ensure_dataset(data_root, **synthetic)
# (about half a minute on 2 cores); a CPU-scale run, not a benchmark.
_base_ = ['../synthetic/td-reg_res18_rle-flow-laplace-1xb32-30e_synthetic-128x96.py']

data_root = '{{ fileDirname }}/../../data/synthetic-demo/'
synthetic = dict(num_train=400, num_val=50, seed=0, layout='coco')  # read by the demo for ensure_dataset
max_epochs = 20

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, begin=0, end=max_epochs, by_epoch=True),
]
train_dataloader = dict(num_workers=0, dataset=dict(data_root=data_root))
val_dataloader = dict(num_workers=0, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=max_epochs, save_best=None), logger=dict(interval=10))
