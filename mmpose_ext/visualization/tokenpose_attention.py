"""Keypoint-token attention maps of TokenPose.

`TokenPose`, Li et al., ICCV 2021, Fig. 1/5: for one person crop, how much
each keypoint token attends to each visual token (image patch) at chosen
layers, drawn as a grid (rows = layers, columns = keypoints) of heat overlays
on the crop.

The overlays are MMEngine's ``Visualizer.draw_featmap`` — what MMPose's
``PoseLocalVisualizer`` uses to draw heatmaps — so colours and blending match
MMPose's heatmap views.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.visualization import Visualizer
from torch import nn


def keypoint_attention_maps(model: nn.Module,
                            inputs: torch.Tensor,
                            layers: Optional[Sequence[int]] = None
                            ) -> Tuple[np.ndarray, List[int]]:
    """Attention of each keypoint token over the patch grid, averaged over
    heads.

    Args:
        model: A ``TopdownPoseEstimator`` whose head is a ``TokenPoseHead``.
        inputs: (1, 3, H, W) preprocessed input (one crop).
        layers: Layer indices (negative counts from the end); ``None`` → all.

    Returns:
        (L, K, h, w) array — row k of layer l sums, over the h·w visual tokens,
        to 1 minus the attention keypoint token k pays to the keypoint tokens —
        and the (non-negative) layer indices.
    """
    head = model.head
    if not hasattr(head, 'forward_with_attention'):
        raise TypeError(
            f'{type(head).__name__} has no attention maps (TokenPoseHead '
            'needed)')
    with torch.no_grad():
        _, weights, (h, w) = head.forward_with_attention(
            model.extract_feat(inputs), need_weights=True)
    depth, K = len(weights), head.out_channels
    layers = list(
        range(depth)) if layers is None else [int(i) % depth for i in layers]
    maps = []
    for i in layers:
        # (K+N, K+N): first sample, mean over heads
        attn = weights[i][0].mean(0)
        # (K, h, w): keypoint queries over visual keys
        maps.append(attn[:K, K:].reshape(K, h, w))
    return torch.stack(maps).cpu().numpy(), layers


def draw_attention_grid(image: np.ndarray,
                        maps: np.ndarray,
                        layers: Sequence[int],
                        keypoint_names: Sequence[str],
                        alpha: float = 0.5) -> np.ndarray:
    """Grid of overlays: row = layer, column = keypoint.

    Each cell is the (H, W) RGB ``image`` with that map (upsampled by
    ``draw_featmap``) blended in, labelled ``L<layer> <keypoint>``.

    Returns: (L·H, K·W, 3) uint8 RGB.
    """
    L, K = maps.shape[:2]
    if len(keypoint_names) != K or len(layers) != L:
        raise ValueError(
            f'draw_attention_grid: {L}x{K} maps for {len(layers)} layers and '
            f'{len(keypoint_names)} keypoint names')
    H, W = image.shape[:2]
    grid = np.zeros((L * H, K * W, 3), dtype=np.uint8)
    for r in range(L):
        for c in range(K):
            cell = Visualizer.draw_featmap(
                torch.from_numpy(maps[r, c][None]).float(),
                image,
                channel_reduction='squeeze_mean',
                alpha=alpha)
            cell = np.ascontiguousarray(cell[:, :, :3], dtype=np.uint8)
            cv2.putText(cell, f'L{layers[r]} {keypoint_names[c]}', (2, 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                        cv2.LINE_AA)
            grid[r * H:(r + 1) * H, c * W:(c + 1) * W] = cell
    return grid


def tokenpose_attention_grid(model: nn.Module,
                             pipeline: Sequence[dict],
                             image_path: str,
                             bbox: Optional[Sequence[float]] = None,
                             layers: Optional[Sequence[int]] = None
                             ) -> np.ndarray:
    """Crop one person from ``image_path`` with the model's test ``pipeline``
    (``bbox`` xyxy; the whole image if ``None``), run it and draw the keypoint-
    token attention grid over the crop.

    Returns: (L·H, K·W, 3) uint8 RGB, H × W the model's input size.
    """
    if bbox is None:
        h, w = cv2.imread(image_path).shape[:2]
        bbox = (0, 0, w, h)
    data_info = dict(
        img_path=image_path,
        bbox=np.array([bbox], dtype=np.float32),
        bbox_score=np.ones(1, dtype=np.float32))
    data_info.update(model.dataset_meta)
    batch = pseudo_collate([Compose(pipeline)(data_info)])
    # (H, W, 3) BGR → RGB
    crop = batch['inputs'][0].permute(1, 2, 0).numpy()[:, :, ::-1]
    inputs = model.data_preprocessor(batch, False)['inputs']
    maps, layers = keypoint_attention_maps(model, inputs, layers)
    names = [
        model.dataset_meta['keypoint_id2name'][k] for k in range(maps.shape[1])
    ]
    return draw_attention_grid(np.ascontiguousarray(crop), maps, layers, names)
