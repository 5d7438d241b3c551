"""Learning check: a small TokenPose (stem → 2-layer transformer) overfits one
fixed batch of the bundled COCO instances (MMPose's pipeline and MSRAHeatmap
targets, 64×48 crops): the heatmap loss falls far below that of predicting all
zeros, and the decoded keypoints (MMPose's predict, no flip) land on the ground
truth."""
import numpy as np
import torch
from tokenpose_helpers import build_small_model, load_batch

STEPS = 100


def test_small_tokenpose_overfits_fixed_batch(fixtures_root):
    torch.manual_seed(0)
    data = load_batch(17, fixtures_root)
    model = build_small_model(17, data['metainfo'])
    batch = model.data_preprocessor(data['batch'], training=True)
    inputs, samples = batch['inputs'], batch['data_samples']
    target = torch.stack([s.gt_fields.heatmaps for s in samples])
    weights = torch.cat(
        [s.gt_instance_labels.keypoint_weights for s in samples])
    # loss of all-zero heatmaps
    zero_loss = float((target**2 * weights[:, :, None, None]).mean())

    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    history = []
    for _ in range(STEPS):
        losses = model(inputs, samples, mode='loss')
        optimizer.zero_grad()
        losses['loss_kpt'].backward()
        optimizer.step()
        history.append((float(losses['loss_kpt']), float(losses['acc_pose'])))
    final_loss = min(loss for loss, _ in history[-5:])
    print(f'\noverfit: loss {history[0][0]:.4f} -> {final_loss:.5f} (all-zero '
          f'heatmaps {zero_loss:.4f}), '
          f'PCK acc {history[0][1]:.2f} -> {history[-1][1]:.2f}')
    assert all(np.isfinite(loss) for loss, _ in history)
    assert final_loss < zero_loss / 5, (final_loss, zero_loss)
    assert history[-1][1] > 0.3

    model.eval()
    model.test_cfg = dict(flip_test=False)
    with torch.no_grad():
        preds = model(inputs, samples, mode='predict')
    errors = []
    for pred in preds:
        gt = pred.gt_instances
        visible = gt.keypoints_visible[0] > 0
        size = float(np.max(gt.bboxes[0, 2:] - gt.bboxes[0, :2]))
        errors.extend(
            np.linalg.norm(
                pred.pred_instances.keypoints[0] - gt.keypoints[0],
                axis=-1)[visible] / size)
    print(f'overfit: median keypoint error {np.median(errors):.3f} of the box '
          'size')
    assert np.median(errors) < 0.1
