"""A fixed batch of the bundled COCO (K=17) / CrowdPose (K=14) instances
through MMPose's top-down pipeline, for the coordinate-classification tests."""
from pathlib import Path

from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.registry import DATASETS, MODELS

FIXTURES = Path(__file__).resolve().parents[2].parent / 'data' / 'fixtures'
DATASETS_K = {
    17: ('CocoDataset', FIXTURES / 'coco', 'test_coco.json'),
    14: ('CrowdPoseDataset', FIXTURES / 'crowdpose', 'test_crowdpose.json'),
}


def fixture_batch(K: int,
                  input_size=(48, 64),
                  codec=None,
                  max_instances: int = 8):
    """(inputs (B, 3, H, W) normalised, data samples) for the bundled dataset
    with K keypoints (cached; callers must not modify them)."""
    codec = codec or dict(type='RegressionLabel', input_size=input_size)
    key = (K, tuple(input_size), repr(sorted(codec.items())), max_instances)
    if key not in _CACHE:
        _CACHE[key] = _load(K, tuple(input_size), codec, max_instances)
    return _CACHE[key]


_CACHE = {}


def _load(K, input_size, codec, max_instances):
    dataset_type, root, ann = DATASETS_K[K]
    # transforms resolve in MMPose's registry
    with DefaultScope.overwrite_default_scope('mmpose'):
        return _build(dataset_type, root, ann, input_size, codec,
                      max_instances)


def _build(dataset_type, root, ann, input_size, codec, max_instances):
    dataset = DATASETS.build(
        dict(
            type=dataset_type,
            data_root=str(root),
            ann_file=ann,
            data_mode='topdown',
            data_prefix=dict(img=''),
            test_mode=False,
            pipeline=[
                dict(type='LoadImage'),
                dict(type='GetBBoxCenterScale'),
                dict(type='TopdownAffine', input_size=input_size),
                dict(type='GenerateTarget', encoder=codec),
                dict(type='PackPoseInputs')
            ]))
    items = [dataset[i] for i in range(min(len(dataset), max_instances))]
    preprocessor = MODELS.build(
        dict(
            type='PoseDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True))
    data = preprocessor(pseudo_collate(items), training=True)
    return data['inputs'], data['data_samples']
