"""ONNX export of a pose model's inference path, its check against onnxruntime,
and the metadata that makes the file self-describing.

Two graph modes:

- **raw** (default): backbone → neck → ``head.forward`` (what MMPose heads
  return before decoding: heatmaps, SimCC vectors, normalised coordinates and
  σ, ...). Decoding stays outside, as in MMDeploy's SDK.
- **decoded** (``decode=True``): the same network followed by the head's
  decoding, in the graph. A top-down model then outputs ``keypoints`` (B, K, 2)
  in crop pixels (pixels of the ``input_size`` network input) and
  ``keypoint_scores`` (B, K); the one-stage ``RTMOSineCCHead`` outputs its kept
  instances after the score threshold and ONNX's ``NonMaxSuppression``
  (``batch_index`` (M,), ``boxes`` (M, 4), ``scores`` (M,), ``keypoints`` (M,
  K, 2), ``keypoint_scores`` (M, K), all in network-input pixels).

In-graph decoding, by head (and codec):

- heatmaps (MMPose's ``HeatmapHead``, ``TokenPoseHead``, SCAI's corrected
  heatmaps) with ``MSRAHeatmap``: the flattened argmax, ``-1`` where the
  maximum is ≤ 0, then MMPose's ¼-pixel shift towards the higher neighbour
  (``refine_keypoints``, with its exact border conditions) or, with
  ``unbiased=True``, DARK (zero-padded blur with OpenCV's Gaussian taps as a
  convolution, rescaled to each map's maximum, log, one Newton step with the
  2×2 inverse in closed form, MMPose's interior and non-zero-determinant
  guards), times ``input_size / heatmap_size``; score = the maximum.
- ``RLEHead`` (``RegressionLabel`` / ``LaplaceRegressionLabel``),
  ``PoseurHead``, ``SineCoordClsHead``: normalised coordinates ×
  ``input_size``; score ``1 − mean σ`` or the Laplace integral, as the model's
  ``predict`` scores.
- ``SimCCHead`` with ``SimCCLabel`` (no DARK, no visibility decoding): the
  per-axis argmax ÷ ``simcc_split_ratio``, score ``min(max_x, max_y)``, ``-1``
  locations where it is ≤ 0 (MMPose's order).
- ``RTMOSineCCHead``: ``forward``'s top ``num_dets``, then
  ``NonMaxSuppression`` (MMPose's strict ``score > score_thr`` and
  ``IoU > nms_thr`` rules), boxes clipped to the input as ``predict`` does.

Not in the graph: SimCC's DARK / visibility decoding
(``SimCCLabel(use_dark=True)`` / ``decode_visibility=True``) and other codecs
(UDP heatmaps, ...): ``decode=True`` then warns and writes the raw graph.
``mmpose_ext_runtime`` decodes raw graphs in NumPy/OpenCV from the codec
parameters in the metadata (MSRA heatmaps incl. DARK with the same
``cv2.GaussianBlur`` as MMPose's, SimCC without DARK, coordinate heads); UDP is
not supported there either. DARK's Newton step is ill-conditioned where a
heatmap is flat (random weights): float32 rounding (onnxruntime vs PyTorch,
~1e-6) can then move a keypoint by pixels. Flip test is never in the graph.

Metadata (``metadata_props``, JSON strings, keys below :data:`META_PREFIX`,
schema :data:`FORMAT_VERSION`): ``format_version``, ``model`` (kind, head,
decoding family, decoded or not), ``preprocess`` (input size, mean/std,
bgr_to_rgb), ``affine`` (MMPose's top-down crop convention), ``codec``,
``score``, ``dataset`` (keypoint names, skeleton links and colours, flip
indices), ``outputs`` (names and layout) and, for the one-stage head,
``postprocess`` (score threshold, NMS IoU). :func:`read_metadata` reads them
back.
"""
import json
import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from .models.poseur.poseur_head import rle_score

#: Prefix of every metadata key the export writes.
META_PREFIX = 'mmpose_ext.'
#: Version of the metadata schema (bumped on incompatible changes).
FORMAT_VERSION = 1


class InferencePath(nn.Module):
    """``backbone → neck → head.forward`` of an MMPose ``TopdownPoseEstimator``
    as one module (for a model without ``extract_feat`` that wraps one, its
    ``forward(inputs, None, mode='tensor')``).

    ``forward(inputs (B, 3, H, W)) → head outputs`` (a tensor or a tuple of
    tensors), no data samples, no flip test, no decoding: what an exported
    graph should contain.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor):
        if not hasattr(self.model, 'extract_feat'):
            # a wrapper around a top-down model (e.g. SCAIPoseEstimator): its
            # own tensor mode
            return self.model(inputs, None, mode='tensor')
        feats = self.model.extract_feat(inputs)
        return self.model.head.forward(feats)


def _as_tuple(outputs) -> Tuple[Tensor, ...]:
    return tuple(outputs) if isinstance(outputs,
                                        (tuple, list)) else (outputs, )


# ----------------------------------------------------------------------------------------------
# model facts
def _head(model: nn.Module) -> Optional[nn.Module]:
    if hasattr(model, 'head'):
        return model.head
    # SCAIPoseEstimator wraps a top-down model
    base = getattr(model, 'base', None)
    return getattr(base, 'head', None)


def head_kind(model: nn.Module) -> Optional[str]:
    """The decoding family of ``model``'s outputs: ``'heatmap'``,
    ``'regression'``, ``'simcc'``, ``'sinecc'``, ``'poseur'``, ``'rtmo'``, or
    None (unknown: raw export only, no decoding metadata)."""
    from mmpose.models.heads import HeatmapHead, RLEHead, SimCCHead

    from mmpose_ext.models import PoseurHead, RTMOSineCCHead, SineCoordClsHead
    head = _head(model)
    # SCAI: corrected heatmaps of the wrapped heatmap model
    if not hasattr(model, 'extract_feat'):
        return 'heatmap' if isinstance(head, HeatmapHead) else None
    for cls, kind in ((RTMOSineCCHead, 'rtmo'), (PoseurHead, 'poseur'),
                      (SineCoordClsHead, 'sinecc'), (SimCCHead, 'simcc'),
                      (RLEHead, 'regression'), (HeatmapHead, 'heatmap')):
        if isinstance(head, cls):
            return kind
    return None


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _codec_meta(codec) -> Dict:
    """Type and plain parameters (numbers, strings, booleans, their
    lists/arrays) of an MMPose codec."""
    meta = dict(type=type(codec).__name__)
    for key, value in vars(codec).items():
        if key.startswith('_'):
            continue
        value = _jsonable(value)
        ok = isinstance(value, (int, float, str, bool)) or value is None or (
            isinstance(value, list)
            and all(isinstance(v, (int, float, bool, list)) for v in value))
        if ok:
            meta[key] = value
    scorer = getattr(codec, 'scorer', None)  # LaplaceRegressionLabel
    if scorer is not None:
        meta['scorer'] = dict(
            type=type(scorer).__name__,
            radius=scorer.radius,
            weight=scorer.weight,
            eps=scorer.eps)
    return meta


def _laplace(scorer,
             sigma_scale: float = 1.0,
             sigma_activation: str = 'none') -> Dict:
    return dict(
        rule='laplace_integral',
        radius=scorer.radius,
        weight=scorer.weight,
        eps=scorer.eps,
        sigma_scale=sigma_scale,
        sigma_activation=sigma_activation,
        formula=
        'weight * prod_axes(1 - exp(-radius / max(sigma_scale * sigma, eps)))')


def _laplace_scorer(model: nn.Module):
    """The :class:`~mmpose_ext.models.common.LaplaceIntegralScorer` that
    ``predict`` scores σ with, or None when the head scores ``1 − mean(σ)`` (or
    does not score σ)."""
    kind, head = head_kind(model), _head(model)
    if kind == 'regression':
        return getattr(head.decoder, 'scorer', None)
    if kind == 'sinecc' or (kind == 'poseur' and head.score == 'laplace'):
        return head.scorer
    return None


def score_meta(model: nn.Module) -> Dict:
    """How ``predict`` scores keypoints (without flip test), as data."""
    kind, scorer = head_kind(model), _laplace_scorer(model)
    if kind == 'heatmap':
        return dict(rule='heatmap_max', formula='max of the (K, H, W) heatmap')
    if kind == 'simcc':
        return dict(
            rule='simcc_max',
            formula='min(max_x, max_y) of the raw SimCC vectors')
    # RLEHead's σ are logits, Poseur's already positive
    if kind in ('regression', 'poseur'):
        activation = 'sigmoid' if kind == 'regression' else 'none'
        if scorer is not None:
            return _laplace(scorer, sigma_activation=activation)
        return dict(
            rule='one_minus_mean_sigma',
            sigma_activation=activation,
            formula='1 - mean_axes(sigma)')
    # the MLE kernel of scale σ is a Laplace of scale 2σ on both axes
    if kind == 'sinecc':
        return _laplace(scorer, sigma_scale=2.0)
    if kind == 'rtmo':
        return dict(
            rule='rtmo',
            instance='max class probability (sigmoid) of the grid point',
            keypoint='sigmoid visibility')
    return dict(rule='unknown')


def _input_size(model: nn.Module, kind: Optional[str],
                input_shape: Sequence[int]) -> Tuple[int, int]:
    head = _head(model)
    if kind == 'rtmo':
        size = (getattr(model, 'test_cfg', None) or {}).get('input_size')
        return tuple(int(v) for v in size) if size else (int(input_shape[3]),
                                                         int(input_shape[2]))
    for owner in (getattr(head, 'decoder', None), head):
        if getattr(owner, 'input_size', None) is not None:
            return tuple(int(v) for v in owner.input_size)
    return int(input_shape[3]), int(input_shape[2])  # (w, h)


def _preprocess_meta(model: nn.Module, input_size) -> Dict:
    pre = getattr(model, 'data_preprocessor', None)
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    normalize = bool(getattr(pre, '_enable_normalize', mean is not None))
    return dict(
        input_size=list(input_size),
        layout='NCHW',
        dtype='float32',
        mean=[float(v)
              for v in mean.flatten()] if normalize else [0.0, 0.0, 0.0],
        std=[float(v)
             for v in std.flatten()] if normalize else [1.0, 1.0, 1.0],
        bgr_to_rgb=bool(getattr(pre, '_channel_conversion', False)),
        order=
        'image read as BGR (cv2); channels swapped if bgr_to_rgb; then (x - '
        'mean) / std')


def _test_pipeline(cfg) -> list:
    try:
        return list(cfg.test_dataloader.dataset.pipeline)
    except (AttributeError, KeyError, TypeError):
        return []


def _affine_meta(kind: Optional[str], cfg, model: nn.Module) -> Dict:
    pipeline = _test_pipeline(cfg) if cfg is not None else []
    step = {t.get('type'): t for t in pipeline if isinstance(t, dict)}
    if kind == 'rtmo':
        resize = step.get('BottomupResize', {})
        return dict(
            type='bottomup_resize',
            resize_mode=resize.get('resize_mode', 'fit'),
            pad_val=list(
                resize.get('pad_val', (0, 0, 0) if resize else
                           (114, 114, 114))),
            interpolation='linear',
            note='MMPose BottomupResize (fit): center = (w/2, h/2), scale = '
            '(w, '
            'h) * input / fitted size, '
            'fitted = (min(W, H*w/h), min(H, W*h/w)), '
            'get_warp_matrix(center, scale, 0, (W, H)) '
            '(the image scaled and centred in the input), cv2.warpAffine '
            'INTER_LINEAR with pad_val; '
            'back: x / input_size * scale + center - scale / 2 '
            '(BottomupPoseEstimator)')
    padding = float(step.get('GetBBoxCenterScale', {}).get('padding', 1.25))
    use_udp = bool(step.get('TopdownAffine', {}).get('use_udp', False))
    return dict(
        type='topdown',
        bbox_padding=padding,
        fix_aspect_ratio=True,
        rotation=0.0,
        use_udp=use_udp,
        interpolation='linear',
        border_value=0,
        note='GetBBoxCenterScale: center = box centre, scale = box (w, h) * '
        'bbox_padding; TopdownAffine: '
        'scale grown to the input aspect ratio (w > h * W/H ? (w, w * H/W) '
        ': (h * W/H, h)), '
        'get_warp_matrix(center, scale, rot=0, (W, H)), cv2.warpAffine '
        'INTER_LINEAR; back: '
        'x_img = x_crop / input_size * scale + center - scale / 2')


def _dataset_meta(model: nn.Module, dataset_meta: Optional[Dict]) -> Dict:
    meta = dataset_meta if dataset_meta is not None else getattr(
        model, 'dataset_meta', None)
    if not meta:
        return {}
    out = dict(
        dataset_name=meta.get('dataset_name'),
        num_keypoints=meta.get('num_keypoints'))
    id2name = meta.get('keypoint_id2name')
    if id2name:
        out['keypoint_names'] = [id2name[i] for i in sorted(id2name)]
    for key in ('skeleton_links', 'skeleton_link_colors', 'keypoint_colors',
                'flip_indices', 'flip_pairs', 'sigmas'):
        if meta.get(key) is not None:
            out[key] = _jsonable(meta[key])
    out['colors'] = 'RGB'
    return out


def _num_keypoints(model, kind) -> Optional[int]:
    head = _head(model)
    for name in ('num_keypoints', 'out_channels', 'num_joints'):
        if isinstance(getattr(head, name, None), int):
            return getattr(head, name)
    return None


# ----------------------------------------------------------------------------------------------
# decoding
def _heatmap_maximum(heatmaps: Tensor):
    """(B, K, H, W) → flattened maps, first-maximum x, y (int64, −1 where the
    maximum ≤ 0) and maxima."""
    W = heatmaps.shape[-1]
    flat = heatmaps.flatten(2)  # (B, K, H*W)
    vals, idx = flat.max(-1)  # first maximum, as numpy's argmax
    valid = vals > 0
    x = torch.where(valid, idx % W, torch.full_like(idx, -1))
    y = torch.where(valid, torch.div(idx, W, rounding_mode='floor'),
                    torch.full_like(idx, -1))
    return flat, x, y, vals


def _sampler(flat: Tensor, x: Tensor, y: Tensor, H: int, W: int):
    """``at(dy, dx)``: the maps' values at (y + dy, x + dx), indices clamped
    into the map."""

    def at(dy: int, dx: int) -> Tensor:
        pos = (y + dy).clamp(0, H - 1) * W + (x + dx).clamp(0, W - 1)
        return flat.gather(2, pos.unsqueeze(-1)).squeeze(-1)

    return at


def _heatmap_decode(heatmaps: Tensor, scale_factor) -> Tuple[Tensor, Tensor]:
    """MMPose's heatmap decoding in tensor ops.

    ``get_heatmap_maximum`` + ``refine_keypoints`` + ``× scale_factor``.
    """
    B, K, H, W = heatmaps.shape
    flat, x, y, vals = _heatmap_maximum(heatmaps)
    at = _sampler(flat, x, y, H, W)
    dx, dy = at(0, 1) - at(0, -1), at(1, 0) - at(-1, 0)
    zero = torch.zeros_like(dx)
    dx = torch.where((x > 1) & (x < W - 1) & (y > 0) & (y < H), dx, zero)
    dy = torch.where((y > 1) & (y < H - 1) & (x > 0) & (x < W), dy, zero)
    keypoints = torch.stack((x.to(flat.dtype) + torch.sign(dx) * 0.25,
                             y.to(flat.dtype) + torch.sign(dy) * 0.25), -1)
    return keypoints * keypoints.new_tensor(scale_factor), vals


def _dark_decode(heatmaps: Tensor, scale_factor,
                 kernel: Tensor) -> Tuple[Tensor, Tensor]:
    """MMPose's DARK (``MSRAHeatmap(unbiased=True)``) in tensor ops: maxima of
    the raw maps; each map zero-padded and blurred with OpenCV's Gaussian
    (``kernel``: its 1-D taps), rescaled to its own maximum, log of max(·,
    1e-10); one Newton step at interior maxima (1 < x < W−2, 1 < y < H−2) whose
    Hessian determinant is non-zero, the 2×2 inverse in closed form."""
    B, K, H, W = heatmaps.shape
    flat_raw, x, y, vals = _heatmap_maximum(heatmaps)
    k = kernel.numel()
    # (1, 1, k, k), separable
    weight = (kernel[:, None] * kernel[None, :]).to(heatmaps.dtype)[None, None]
    blurred = torch.nn.functional.conv2d(
        heatmaps.reshape(-1, 1, H, W), weight, padding=(k - 1) // 2)
    blurred = blurred.reshape(heatmaps.shape)
    blurred = blurred * (heatmaps.amax((2, 3)) / blurred.amax(
        (2, 3)))[..., None, None]
    logs = torch.log(blurred.clamp(min=1e-10))
    at = _sampler(logs.flatten(2), x, y, H, W)
    c = at(0, 0)
    dx, dy = 0.5 * (at(0, 1) - at(0, -1)), 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    ok = (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2) & (det != 0)
    det = torch.where(ok, det, torch.ones_like(det))
    zero = torch.zeros_like(det)
    ox = torch.where(ok, -(dyy * dx - dxy * dy) / det, zero)
    oy = torch.where(ok, -(dxx * dy - dxy * dx) / det, zero)
    keypoints = torch.stack(
        (x.to(heatmaps.dtype) + ox, y.to(heatmaps.dtype) + oy), -1)
    return keypoints * keypoints.new_tensor(scale_factor), vals


def _cv2_gaussian_taps(size: int) -> Tensor:
    """The 1-D taps ``cv2.GaussianBlur(img32f, (size, size), 0)`` uses (σ from
    the size)."""
    import cv2
    return torch.from_numpy(
        cv2.getGaussianKernel(int(size), 0, cv2.CV_32F).reshape(-1).copy())


def _simcc_decode(simcc_x: Tensor, simcc_y: Tensor,
                  split_ratio: float) -> Tuple[Tensor, Tensor]:
    max_x, x = simcc_x.max(-1)
    max_y, y = simcc_y.max(-1)
    vals = torch.minimum(max_x, max_y)
    locs = torch.stack((x, y), -1).to(simcc_x.dtype)
    locs = torch.where((vals > 0).unsqueeze(-1), locs,
                       torch.full_like(locs, -1.0))
    return locs / split_ratio, vals


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (corner boxes): selected (batch, class, box)
    indices (M, 3), boxes kept in descending score order per batch and class; a
    box is dropped when ``score <= score_thr`` or when its IoU with a kept box
    is ``> iou_thr``.

    The PyTorch forward is the same rule (for tracing and checks).
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_out: Tensor,
                iou_thr: Tensor, score_thr: Tensor) -> Tensor:
        from mmpose.evaluation.functional import nms_torch
        selected = []
        for b in range(boxes.shape[0]):
            for c in range(scores.shape[1]):
                s = scores[b, c]
                cand = torch.nonzero(s > score_thr).flatten()
                if cand.numel() == 0:
                    continue
                keep = cand[nms_torch(boxes[b, cand], s[cand], float(iou_thr))]
                keep = keep[:int(max_out)]
                selected.append(
                    torch.stack((torch.full_like(
                        keep, b), torch.full_like(keep, c), keep), 1))
        if not selected:
            return boxes.new_zeros((0, 3), dtype=torch.int64)
        return torch.cat(selected).to(torch.int64)

    @staticmethod
    def symbolic(g, boxes, scores, max_out, iou_thr, score_thr):
        return g.op(
            'NonMaxSuppression',
            boxes,
            scores,
            max_out,
            iou_thr,
            score_thr,
            center_point_box_i=0)


class DecodedPath(nn.Module):
    """:class:`InferencePath` followed by the head's decoding.

    See the module docstring. ``forward`` returns ``(keypoints (B, K, 2) crop
    pixels, keypoint_scores (B, K))`` for a top-down model and ``(batch_index,
    boxes, scores, keypoints, keypoint_scores)`` of the kept instances for
    ``'rtmo'``.
    """

    def __init__(self,
                 model: nn.Module,
                 score_thr: Optional[float] = None,
                 nms_thr: Optional[float] = None):
        super().__init__()
        self.path = InferencePath(model)
        self.kind = head_kind(model)
        if not decodable_in_graph(model):
            raise ValueError(
                f'{type(_head(model)).__name__} ({self.kind}): no in-graph '
                'decoding '
                f'({_not_in_graph_reason(model)})')
        head = _head(model)
        self.codec = getattr(head, 'decoder', None)
        self.score = score_meta(model)
        # the model's own module: the graph scores as predict does
        self.scorer = _laplace_scorer(model)
        self.num_keypoints = _num_keypoints(model, self.kind)
        self.input_size = _input_size(model, self.kind, (1, 3, 0, 0))
        if self.kind == 'rtmo':
            test_cfg = getattr(model, 'test_cfg', None) or {}
            self.score_thr = float(
                test_cfg.get('score_thr', 0.01) if score_thr is
                None else score_thr)
            self.nms_thr = float(
                test_cfg.get('nms_thr', 1.0) if nms_thr is None else nms_thr)

    def _sigma_score(self, sigma: Tensor) -> Tensor:
        """(…, 2) σ as the head outputs it → (…) keypoint scores, by the head's
        rule (:func:`score_meta`)."""
        if self.score.get('sigma_activation') == 'sigmoid':
            sigma = sigma.sigmoid()
        if self.scorer is not None:
            return self.scorer(sigma * self.score['sigma_scale'])
        return rle_score(sigma)

    def output_names(self) -> Tuple[str, ...]:
        if self.kind == 'rtmo':
            return ('batch_index', 'boxes', 'scores', 'keypoints',
                    'keypoint_scores')
        return 'keypoints', 'keypoint_scores'

    def forward(self, inputs: Tensor):
        outs = _as_tuple(self.path(inputs))
        kind, size = self.kind, self.input_size
        if kind == 'heatmap':
            hm = outs[0]
            scale = (size[0] / hm.shape[-1], size[1] / hm.shape[-2])
            if self.codec.unbiased:
                return _dark_decode(
                    hm, scale, _cv2_gaussian_taps(self.codec.blur_kernel_size))
            return _heatmap_decode(hm, scale)
        if kind == 'simcc':
            return _simcc_decode(outs[0], outs[1],
                                 float(self.codec.simcc_split_ratio))
        if kind == 'regression':
            coords = outs[0][..., :2] * outs[0].new_tensor(size)
            if outs[0].shape[-1] == 2:
                return coords, torch.ones_like(coords[..., 0])
            return coords, self._sigma_score(outs[0][..., 2:4])
        if kind == 'sinecc':
            sigma = outs[3].unsqueeze(-1).expand(*outs[3].shape, 2)
            return outs[2] * outs[2].new_tensor(size), self._sigma_score(sigma)
        if kind == 'poseur':
            K = self.num_keypoints
            coords, sigma = outs[2][:, -1, :K], outs[3][:, -1, :K]
            return coords * coords.new_tensor(size), self._sigma_score(sigma)
        if kind == 'rtmo':
            boxes, scores, keypoints, kpt_scores = outs
            D = boxes.shape[1]
            sel = _NonMaxSuppression.apply(
                boxes, scores.unsqueeze(1), torch.tensor([D],
                                                         dtype=torch.int64),
                torch.tensor([self.nms_thr], dtype=torch.float32),
                torch.tensor([self.score_thr], dtype=torch.float32))
            b, i = sel[:, 0], sel[:, 2]
            w, h = size
            kept = boxes[b, i]
            kept = torch.stack((kept[:, 0].clamp(0, w), kept[:, 1].clamp(
                0, h), kept[:, 2].clamp(0, w), kept[:, 3].clamp(0, h)), -1)
            return b, kept, scores[b, i], keypoints[b, i], kpt_scores[b, i]
        raise ValueError(f'no in-graph decoding for {kind}')


def _not_in_graph_reason(model: nn.Module) -> Optional[str]:
    kind = head_kind(model)
    codec = getattr(_head(model), 'decoder', None)
    if kind is None:
        return 'unknown head'
    if kind == 'heatmap':
        if type(codec).__name__ != 'MSRAHeatmap':
            return (f'codec {type(codec).__name__} (only MSRAHeatmap decodes '
                    'in the graph)')
    if kind == 'simcc':
        if type(codec).__name__ != 'SimCCLabel':
            return f'codec {type(codec).__name__}'
        if codec.use_dark or codec.decode_visibility:
            return ('SimCC DARK / visibility decoding is done by the runtime '
                    'in NumPy')
    if kind in ('regression', 'poseur') and not hasattr(codec, 'input_size'):
        return 'no codec input_size'
    return None


def decodable_in_graph(model: nn.Module) -> bool:
    """Whether ``export_onnx(..., decode=True)`` puts ``model``'s decoding in
    the graph."""
    return _not_in_graph_reason(model) is None


def _outputs_meta(names: Sequence[str], kind: Optional[str],
                  decoded: bool) -> list:
    if decoded and kind == 'rtmo':
        layout = [
            '(M,) int64 image index in the batch',
            '(M, 4) xyxy input pixels, clipped', '(M,) instance score',
            '(M, K, 2) input pixels', '(M, K) visibility'
        ]
    elif decoded:
        layout = [
            '(B, K, 2) keypoints in crop (network input) pixels',
            '(B, K) keypoint scores'
        ]
    else:
        layout = {
            'heatmap': ['(B, K, H, W) heatmaps'],
            'simcc': ['(B, K, W*r) x vectors', '(B, K, H*r) y vectors'],
            'regression': [
                '(B, K, 4) x, y normalised to [0, 1] of input_size, sigma '
                'logits (sigmoid -> sigma)'
            ],
            'sinecc': [
                '(B, K, Bx) x logits', '(B, K, By) y logits',
                '(B, K, 2) normalised keypoints', '(B, K) sigma'
            ],
            'poseur': [
                '(B, K, 2) coarse normalised keypoints',
                '(B, K, 2) coarse sigma',
                '(B, L, K, 2) decoder normalised keypoints per layer (last '
                '= prediction)', '(B, L, K, 2) decoder sigma per layer'
            ],
            'rtmo': [
                '(B, D, 4) xyxy input pixels, unclipped',
                '(B, D) scores, descending', '(B, D, K, 2) input pixels',
                '(B, D, K) visibility'
            ],
        }.get(kind, [''] * len(names))
    return [dict(name=n, layout=l) for n, l in zip(names, layout)]


def build_metadata(model: nn.Module,
                   input_shape: Sequence[int] = (1, 3, 256, 192),
                   decoded: bool = False,
                   output_names: Sequence[str] = (),
                   cfg=None,
                   dataset_meta: Optional[Dict] = None,
                   postprocess: Optional[Dict] = None) -> Dict[str, Dict]:
    """The metadata of an export of ``model`` (without the key prefix), as
    JSON-able dicts."""
    kind = head_kind(model)
    head = _head(model)
    codec = getattr(head, 'decoder', None)
    input_size = _input_size(model, kind, input_shape)
    meta = dict(
        format_version=FORMAT_VERSION,
        model=dict(
            kind='bottomup' if kind == 'rtmo' else 'topdown',
            head=type(head).__name__,
            estimator=type(model).__name__,
            decoding=kind,
            decoded=bool(decoded),
            num_keypoints=_num_keypoints(model, kind),
            flip_test_in_graph=False,
            not_in_graph=_not_in_graph_reason(model)),
        preprocess=_preprocess_meta(model, input_size),
        affine=_affine_meta(
            kind, cfg if cfg is not None else getattr(model, 'cfg', None),
            model),
        codec=_codec_meta(codec) if codec is not None else {},
        score=score_meta(model),
        dataset=_dataset_meta(model, dataset_meta),
        outputs=_outputs_meta(output_names, kind, decoded),
    )
    if kind == 'rtmo':
        test_cfg = dict(getattr(model, 'test_cfg', None) or {})
        meta['postprocess'] = dict(
            score_thr=float(test_cfg.get('score_thr', 0.01)),
            nms_thr=float(test_cfg.get('nms_thr', 1.0)),
            num_dets=int(head.num_dets),
            in_graph=bool(decoded))
        if postprocess:
            meta['postprocess'].update(postprocess)
    return meta


def write_metadata(path: Union[str, Path], metadata: Dict[str, Dict]) -> None:
    """Store ``metadata`` (key → JSON-able value) in the ONNX file's
    ``metadata_props``."""
    import onnx

    proto = onnx.load(str(path))
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in metadata.items():
        full = META_PREFIX + key
        text = json.dumps(_jsonable(value))
        if full in existing:
            existing[full].value = text
        else:
            entry = proto.metadata_props.add()
            entry.key, entry.value = full, text
    onnx.save(proto, str(path))


def read_metadata(path: Union[str, Path]) -> Dict:
    """The metadata written by :func:`export_onnx` (prefix stripped, values
    parsed); {} if there is none."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {
        p.key[len(META_PREFIX):]: json.loads(p.value)
        for p in proto.metadata_props if p.key.startswith(META_PREFIX)
    }


# ----------------------------------------------------------------------------------------------
# export
def export_onnx(model: nn.Module,
                path: Union[str, Path],
                input_shape: Sequence[int] = (1, 3, 256, 192),
                opset: int = 17,
                dynamic_batch: bool = True,
                decode: bool = False,
                metadata: bool = True,
                cfg=None,
                dataset_meta: Optional[Dict] = None,
                score_thr: Optional[float] = None,
                nms_thr: Optional[float] = None) -> Path:
    """Export ``model``'s inference path to ONNX, with the metadata that
    describes it.

    Args:
        model: An MMPose top-down estimator (anything with ``extract_feat`` and
            ``head``), a wrapper with a tensor mode (SCAI), or a bottom-up
            estimator with ``RTMOSineCCHead``; in eval mode.
        path: Output ``.onnx`` file.
        input_shape: (B, 3, H, W) of the example input (H, W = the codec's
            input size, h first).
        opset: ONNX opset (≥ 13).
        dynamic_batch: Export the batch dimension as dynamic.
        decode: Put the head's decoding in the graph (:class:`DecodedPath`);
            where that is not possible (SimCC DARK, UDP and other codecs,
            unknown heads) a warning is given and the raw graph written.
        metadata: Write the metadata (:func:`build_metadata`) into
            ``metadata_props``.
        cfg: The model's config (for the test pipeline's box padding); defaults
            to ``model.cfg`` if set.
        dataset_meta: Keypoint names, skeleton, colours, flip indices; defaults
            to ``model.dataset_meta``.
        score_thr, nms_thr: One-stage head, decoded graph: override
        ``model.test_cfg``'s values.

    Returns:
        Path: the written file.
    """
    if opset < 13:
        raise ValueError(f'opset must be >= 13, got {opset}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _deploy_copy(model)
    if decode and not decodable_in_graph(model):
        warnings.warn(
            f'export_onnx(decode=True): {_not_in_graph_reason(model)}; '
            'writing the raw graph '
            '(mmpose_ext_runtime decodes it from the metadata)')
        decode = False
    wrapper = (DecodedPath(model, score_thr, nms_thr)
               if decode else InferencePath(model)).eval()
    dummy = torch.randn(*input_shape)
    if decode and wrapper.kind == 'rtmo':
        dummy = torch.rand(*input_shape) * 255
    with torch.no_grad():
        n_out = len(_as_tuple(wrapper(dummy)))
    output_names = list(wrapper.output_names()) if decode else [
        f'output{i}' for i in range(n_out)
    ]
    if decode and wrapper.kind == 'rtmo':
        dynamic_axes = {
            'input': {
                0: 'batch'
            },
            **{
                name: {
                    0: 'instances'
                }
                for name in output_names
            }
        }
        if not dynamic_batch:
            dynamic_axes.pop('input')
    else:
        dynamic_axes = {
            name: {
                0: 'batch'
            }
            for name in ['input', *output_names]
        } if dynamic_batch else None
    with warnings.catch_warnings():
        # TorchScript-exporter deprecation and tracer warnings
        warnings.simplefilter('ignore')
        torch.onnx.export(
            wrapper, (dummy, ),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=['input'],
            output_names=output_names,
            dynamic_axes=dynamic_axes)
    if metadata:
        post = dict(
            score_thr=wrapper.score_thr, nms_thr=wrapper.nms_thr
        ) if decode and wrapper.kind == 'rtmo' else None
        write_metadata(
            path,
            build_metadata(model, input_shape, decode, output_names, cfg,
                           dataset_meta, post))
    return path


def _deploy_copy(model: nn.Module) -> nn.Module:
    """``model`` itself, or, if a submodule has MMPose's ``switch_to_deploy``
    (e.g. RTMO's ``HybridEncoder``, whose exported graph reads position
    encodings precomputed there), a deep copy switched to deploy mode (the
    caller's model is left as it was)."""
    if not any(
            callable(getattr(m, 'switch_to_deploy', None))
            for m in model.modules() if m is not model):
        return model
    if not callable(getattr(model, 'switch_to_deploy', None)):
        return model
    import copy

    from mmengine.logging import MMLogger
    deployed = copy.deepcopy(model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # one INFO line per switched module otherwise
    try:
        deployed.switch_to_deploy()
    finally:
        logger.setLevel(level)
    return deployed.eval()


def _wrapper_for(model: nn.Module, path: Union[str, Path]) -> nn.Module:
    """The module an exported file was made from (decoded or raw, read from its
    metadata)."""
    try:
        meta = read_metadata(path)
    # no onnx package or no metadata: a raw graph
    except Exception:  # noqa: BLE001
        meta = {}
    if meta.get('model', {}).get('decoded'):
        post = meta.get('postprocess', {})
        return DecodedPath(model, post.get('score_thr'),
                           post.get('nms_thr')).eval()
    return InferencePath(model).eval()


def check_onnx(model: nn.Module, path: Union[str, Path],
               inputs: Tensor) -> float:
    """Run the ONNX file with onnxruntime and PyTorch on ``inputs``; return the
    max absolute difference over all outputs (a decoded graph is compared with
    :class:`DecodedPath`; outputs of different shapes, e.g. another number of
    kept instances, give ``inf``)."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    ort_outs = session.run(None, {'input': inputs.numpy()})
    with torch.no_grad():
        torch_outs = _as_tuple(_wrapper_for(model, path)(inputs))
    if len(ort_outs) != len(torch_outs):
        raise RuntimeError(f'ONNX graph has {len(ort_outs)} outputs, PyTorch '
                           f'{len(torch_outs)}')
    diffs = []
    for o, t in zip(ort_outs, torch_outs):
        t = t.numpy()
        if o.shape != t.shape:
            return float('inf')
        diffs.append(
            float(np.abs(o.astype(np.float64) -
                         t.astype(np.float64)).max()) if o.size else 0.0)
    return max(diffs)
