# Ours (RLE-flow + Laplace score) on the CrowdPose layout of the synthetic
# figures (K = 14: `python -m mmpose_ext.tools.make_synthetic --layout
# crowdpose --out data/synthetic-crowdpose`), evaluated as MMPose's CrowdPose
# configs do (CocoMetric with iou_type='keypoints_crowd', use_area=False).
_base_ = ['./td-reg_rle-flow-laplace_effnet-lite0_synthetic-128x96.py']

data_root = 'data/synthetic-crowdpose/'
dataset_type = 'CrowdPoseDataset'

model = dict(head=dict(num_joints=14))

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/person_keypoints_val.json',
        use_area=False,
        iou_type='keypoints_crowd',
        prefix='crowdpose'),
    dict(
        type='BoxNormalizedPoseMetric',
        ann_file=data_root + 'annotations/person_keypoints_val.json',
        prefix='crowdpose'),
]
test_evaluator = val_evaluator
