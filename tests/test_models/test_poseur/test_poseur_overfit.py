"""Learning check: a small Poseur overfits a fixed batch of the bundled COCO
images.

12 annotated people from data/fixtures/coco, cropped to 64×48 with MMPose's
top-down pipeline, trained for 50 AdamW steps (lr 2e-3, noisy groups on,
dropout off), with both initialisations. Measured on this machine (mean
keypoint error of the final decoder layer in normalised units; total of the
per-keypoint normalised RLE losses): official init 0.665 → 0.126 (×5.3; it
starts with every coarse keypoint near the top-left corner), loss 24.4 → −5.4;
DETR-style init 0.247 → 0.052 (×4.8), loss 11.5 → −11.9. The test asserts a ≥
3× lower error, an error below 0.15 (official) / 0.1 (DETR) and a loss at least
10 lower (the RLE loss is a negative log-likelihood and turns negative, so a
ratio of losses means nothing). This is a smoke test of the training mechanics
on the training images, not evidence of learning.
"""
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmpose.registry import DATASETS, MODELS


def _batch(root,
           input_size,
           dataset_type='CocoDataset',
           ann_file='test_coco.json'):
    codec = dict(type='RegressionLabel', input_size=input_size)
    dataset = DATASETS.build(
        dict(
            type=dataset_type,
            data_root=str(root),
            ann_file=ann_file,
            data_prefix=dict(img=''),
            data_mode='topdown',
            pipeline=[
                dict(type='LoadImage'),
                dict(type='GetBBoxCenterScale'),
                dict(type='TopdownAffine', input_size=input_size),
                dict(type='GenerateTarget', encoder=codec),
                dict(type='PackPoseInputs')
            ]))
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


@pytest.mark.parametrize('init_scheme, max_error', [('official', 0.15),
                                                    ('detr', 0.1)])
def test_small_poseur_overfits_the_bundled_images(poseur_cfg, coco_fixtures,
                                                  init_scheme, max_error):
    torch.manual_seed(0)
    model = MODELS.build(
        poseur_cfg(num_keypoints=17, dropout=0.0, init_scheme=init_scheme))
    model.init_weights()
    data = model.data_preprocessor(
        _batch(coco_fixtures, (48, 64)), training=True)
    inputs, samples = data['inputs'], data['data_samples']
    assert len(samples) == 12  # people with keypoints on the 4 images
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in samples])
    weights = torch.cat(
        [d.gt_instance_labels.keypoint_weights for d in samples])

    def mean_error():
        model.eval()
        with torch.no_grad():
            # (N, K, 2), last layer
            coords = model(inputs, None, mode='tensor')[2][:, -1]
        model.train()
        return float(
            ((coords - labels).norm(dim=-1) * weights).sum() / weights.sum())

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=2e-3, weight_decay=1e-4)
    error_before, losses = mean_error(), []
    for _ in range(50):
        terms = model.loss(inputs, samples)
        loss = sum(v for k, v in terms.items() if k.startswith('loss'))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    error_after = mean_error()
    assert all(torch.isfinite(torch.tensor(losses)))
    assert error_after * 3 <= error_before, (error_before, error_after)
    assert error_after < max_error, error_after
    assert losses[-1] < losses[0] - 10, (losses[0], losses[-1])


def test_crowdpose_images_train_a_14_keypoint_head(poseur_cfg,
                                                   crowdpose_fixtures):
    """K = 14 from the CrowdPose metainfo; real CrowdPose crops give finite
    losses that a few steps lower."""
    model = MODELS.build(
        poseur_cfg(
            metainfo=dict(from_file='configs/_base_/datasets/crowdpose.py'),
            dropout=0.0))
    model.init_weights()
    data = model.data_preprocessor(
        _batch(crowdpose_fixtures, (48, 64), 'CrowdPoseDataset',
               'test_crowdpose.json'),
        training=True)
    assert data['data_samples'][0].gt_instance_labels.keypoint_labels.shape[
        1:] == (14, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        terms = model.loss(data['inputs'], data['data_samples'])
        loss = sum(v for k, v in terms.items() if k.startswith('loss'))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0], losses
