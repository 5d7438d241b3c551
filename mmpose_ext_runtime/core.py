"""Pose inference from a self-describing ONNX file (written by
``mmpose_ext.deploy.export_onnx``) with NumPy, OpenCV and onnxruntime only (no
torch, mmcv, mmengine or mmpose).

The pre- and post-processing follow MMPose 1.x's definitions, re-derived here:

- top-down crop: ``GetBBoxCenterScale`` (centre of the box, size ×
  ``bbox_padding``), ``TopdownAffine`` (size grown to the input aspect ratio,
  the three-point warp of ``get_warp_matrix`` with no rotation,
  ``cv2.warpAffine`` bilinear, black border); keypoints back with
  ``x / input_size · scale + centre − scale / 2``;
- one-stage input: ``BottomupResize`` (fit: the image scaled and centred in the
  input, ``pad_val`` border);
- normalisation: BGR → RGB if ``bgr_to_rgb``, then ``(x − mean) / std``, NCHW
  float32;
- decoding of raw graphs from the codec parameters in the metadata (MSRA
  heatmaps with MMPose's ¼-pixel shift or DARK, SimCC argmax, normalised
  coordinates, Poseur's last decoder layer) and the score rule.
"""
import json
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

META_PREFIX = 'mmpose_ext.'
SUPPORTED_FORMAT = 1


# ----------------------------------------------------------------------------------------------
# geometry
def _rotate(pt: np.ndarray, angle_rad: float) -> np.ndarray:
    sn, cs = np.sin(angle_rad), np.cos(angle_rad)
    return np.array([cs * pt[0] - sn * pt[1], sn * pt[0] + cs * pt[1]])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` plus the vector ``a − b`` turned by 90° (anticlockwise)."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=d.dtype)


def _affine_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 affine map taking the three points ``src`` to ``dst`` (solved in
    float64)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    a = np.zeros((6, 6))
    a[0::2, 0:2], a[0::2, 2] = src, 1.0
    a[1::2, 3:5], a[1::2, 5] = src, 1.0
    return np.linalg.solve(a, dst.reshape(-1)).reshape(2, 3)


def get_warp_matrix(center: Sequence[float],
                    scale: Sequence[float],
                    rot: float,
                    output_size: Sequence[float],
                    shift: Sequence[float] = (0., 0.),
                    inv: bool = False) -> np.ndarray:
    """MMPose's top-down warp (``fix_aspect_ratio=True``) from its definition:

    the box centre (+ shift) goes to the output centre, the point half a box
    width to its left (turned by ``rot`` degrees) to the point half an output
    width left of the output centre, and each triangle's third point is its
    second point plus the (first − second) vector turned 90°
    (:func:`_third_point`), so the map is a similarity with scale output_w /
    box_w; the points are float32 as MMPose builds them, the solve float64.
    """
    center, scale, shift = (
        np.asarray(v, np.float64) for v in (center, scale, shift))
    src_w = scale[0]
    dst_w, dst_h = output_size[:2]
    src_dir = _rotate(np.array([src_w * -0.5, 0.]), np.deg2rad(rot))
    dst_dir = np.array([dst_w * -0.5, 0.])
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center + scale * shift
    src[1] = center + src_dir + scale * shift
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return _affine_from_points(dst, src) if inv else _affine_from_points(
        src, dst)


def box_to_center_scale(bbox_xyxy: np.ndarray,
                        padding: float) -> Tuple[np.ndarray, np.ndarray]:
    """(4,) xyxy → centre (2,), size × padding (2,) (MMPose's ``bbox_xyxy2cs``;
    float32 in, float32 out)."""
    bbox = np.asarray(bbox_xyxy, dtype=np.float32)
    return (bbox[2:] + bbox[:2]) * 0.5, (bbox[2:] - bbox[:2]) * padding


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow (w, h) to ``aspect_ratio = w / h`` (``TopdownAffine``)."""
    w, h = scale
    return np.array(
        [w, w / aspect_ratio] if w > h *
        aspect_ratio else [h * aspect_ratio, h],
        dtype=scale.dtype)


# ----------------------------------------------------------------------------------------------
# decoding
def heatmap_maximum(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(N, K, H, W) → first-maximum locations (N, K, 2) as float32 (x, y), −1
    where the maximum ≤ 0, and the maxima (N, K)."""
    N, K, H, W = heatmaps.shape
    flat = heatmaps.reshape(N, K, -1)
    idx = flat.argmax(-1)
    vals = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    locs = np.stack((idx % W, idx // W), -1).astype(np.float32)
    locs[vals <= 0] = -1
    return locs, vals


def refine_quarter(locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Shift each location ¼ pixel towards its higher neighbour on each axis
    (MMPose's ``refine_keypoints``, same border conditions: x shift if 1 < x <
    W−1 and 0 < y < H, y shift if 1 < y < H−1 and 0 < x < W)."""
    N, K, H, W = heatmaps.shape
    out = locs.copy()
    x, y = locs[..., 0].astype(int), locs[..., 1].astype(int)
    n, k = np.meshgrid(np.arange(N), np.arange(K), indexing='ij')
    cx, cy = np.clip(x, 0, W - 1), np.clip(y, 0, H - 1)
    dx = heatmaps[n, k, cy, np.clip(x + 1, 0, W -
                                    1)] - heatmaps[n, k, cy,
                                                   np.clip(x - 1, 0, W - 1)]
    dy = heatmaps[n, k, np.clip(y + 1, 0, H - 1),
                  cx] - heatmaps[n, k, np.clip(y - 1, 0, H - 1), cx]
    dx = np.where((x > 1) & (x < W - 1) & (y > 0) & (y < H), dx, 0)
    dy = np.where((y > 1) & (y < H - 1) & (x > 0) & (x < W), dy, 0)
    out[..., 0] += np.sign(dx).astype(np.float32) * 0.25
    out[..., 1] += np.sign(dy).astype(np.float32) * 0.25
    return out


def _blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """Each (H, W) map zero-padded by (kernel−1)/2, blurred with OpenCV's
    Gaussian of that size (σ from the size), cropped back and rescaled to its
    original maximum (the DARK modulation)."""
    border = (kernel - 1) // 2
    out = np.empty_like(heatmaps)
    for idx in np.ndindex(*heatmaps.shape[:-2]):
        hm = heatmaps[idx]
        padded = np.zeros((hm.shape[0] + 2 * border, hm.shape[1] + 2 * border),
                          np.float32)
        padded[border:-border, border:-border] = hm
        blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:-border,
                                                                border:-border]
        out[idx] = blurred * (hm.max() / blurred.max())
    return out


def refine_dark(locs: np.ndarray, heatmaps: np.ndarray,
                kernel: int) -> np.ndarray:
    """DARK: one Newton step on the blurred log-heatmap at the integer maximum.

    Central differences, interior points 1 < x < W−2 and 1 < y < H−2 only,
    skipped where the Hessian is singular.
    """
    N, K, H, W = heatmaps.shape
    logs = np.log(np.maximum(_blur(heatmaps, kernel), 1e-10))
    out = locs.copy()
    for n, k in np.ndindex(N, K):
        x, y = locs[n, k].astype(int)
        if not (1 < x < W - 2 and 1 < y < H - 2):
            continue
        h = logs[n, k]
        dx = 0.5 * (h[y, x + 1] - h[y, x - 1])
        dy = 0.5 * (h[y + 1, x] - h[y - 1, x])
        dxx = 0.25 * (h[y, x + 2] - 2 * h[y, x] + h[y, x - 2])
        dxy = 0.25 * (
            h[y + 1, x + 1] - h[y - 1, x + 1] - h[y + 1, x - 1] +
            h[y - 1, x - 1])
        dyy = 0.25 * (h[y + 2, x] - 2 * h[y, x] + h[y - 2, x])
        if dxx * dyy - dxy**2 != 0:
            hess = np.array([[dxx, dxy], [dxy, dyy]])
            out[n, k] += -np.linalg.inv(hess) @ np.array([dx, dy])
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def sigma_score(sigma: np.ndarray, rule: Dict) -> np.ndarray:
    """(…, 2) σ → (…) keypoint scores by the metadata's score rule."""
    sigma = sigma.astype(np.float32)
    if rule.get('sigma_activation') == 'sigmoid':
        sigma = _sigmoid(sigma)
    if rule['rule'] == 'laplace_integral':
        s = np.maximum(sigma * rule.get('sigma_scale', 1.0),
                       rule.get('eps', 1e-12))
        return rule['weight'] * (1.0 - np.exp(-rule['radius'] / s)).prod(-1)
    if rule['rule'] == 'one_minus_mean_sigma':
        return 1.0 - sigma.mean(-1)
    raise ValueError(f'unknown score rule {rule["rule"]}')


def decode(outputs: Sequence[np.ndarray],
           meta: Dict) -> Tuple[np.ndarray, np.ndarray]:
    """A top-down graph's outputs → keypoints (N, K, 2) in crop pixels and
    scores (N, K)."""
    model, codec, score = meta['model'], meta.get('codec',
                                                  {}), meta.get('score', {})
    if model.get('decoded'):
        return outputs[0], outputs[1]
    kind = model['decoding']
    w, h = meta['preprocess']['input_size']
    size = np.array([w, h], np.float32)
    if kind == 'heatmap':
        hm = outputs[0]
        if codec.get('type') != 'MSRAHeatmap':
            raise NotImplementedError(f'heatmap codec {codec.get("type")}')
        locs, vals = heatmap_maximum(hm)
        if codec.get('unbiased'):
            locs = refine_dark(locs, hm, int(codec['blur_kernel_size']))
        else:
            locs = refine_quarter(locs, hm)
        return locs * (size / np.array(hm.shape[:1:-1], np.float32)), vals
    if kind == 'simcc':
        if codec.get('use_dark') or codec.get('decode_visibility'):
            raise NotImplementedError('SimCC DARK / visibility decoding')
        sx, sy = outputs[0], outputs[1]
        max_x, max_y = sx.max(-1), sy.max(-1)
        vals = np.minimum(max_x, max_y)
        locs = np.stack((sx.argmax(-1), sy.argmax(-1)), -1).astype(np.float32)
        locs[vals <= 0] = -1
        return locs / float(codec['simcc_split_ratio']), vals
    if kind == 'regression':
        out = outputs[0]
        if out.shape[-1] == 2:
            return out * size, np.ones(out.shape[:2], np.float32)
        return out[..., :2] * size, sigma_score(out[..., 2:4], score)
    if kind == 'sinecc':
        sigma = outputs[3][..., None].repeat(2, -1)
        return outputs[2] * size, sigma_score(sigma, score)
    if kind == 'poseur':
        K = model['num_keypoints']
        return outputs[2][:, -1, :K] * size, sigma_score(
            outputs[3][:, -1, :K], score)
    raise NotImplementedError(f'decoding {kind!r}')


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> List[int]:
    """Greedy NMS (descending score; drop IoU > ``iou_thr``)."""
    order = list(np.argsort(-scores, kind='stable'))
    keep = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        i = order.pop(0)
        keep.append(i)
        if not order:
            break
        rest = np.array(order)
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-6)
        order = [o for o, v in zip(order, iou) if not v > iou_thr]
    return keep


# ----------------------------------------------------------------------------------------------
# the model
def _read_meta(session) -> Dict:
    raw = session.get_modelmeta().custom_metadata_map
    meta = {
        k[len(META_PREFIX):]: json.loads(v)
        for k, v in raw.items() if k.startswith(META_PREFIX)
    }
    if not meta:
        raise ValueError(
            'the ONNX file has no mmpose_ext metadata: export it with '
            'mmpose_ext.deploy.export_onnx')
    if meta.get('format_version', 0) > SUPPORTED_FORMAT:
        raise ValueError(
            f'metadata format {meta["format_version"]} is newer than this '
            'runtime '
            f'({SUPPORTED_FORMAT})')
    return meta


class PoseModel:
    """An exported pose model: ``predict(image_bgr, bboxes_xyxy)`` → instances
    in image pixels.

    Args:
        path: The ``.onnx`` file (with ``mmpose_ext`` metadata).
        threads: onnxruntime intra-op threads (None: its default).
        batch_size: Crops per onnxruntime call (top-down).
    """

    def __init__(self,
                 path: str,
                 threads: Optional[int] = None,
                 batch_size: int = 16) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), opts, providers=['CPUExecutionProvider'])
        self.meta = _read_meta(self.session)
        self.input_name = self.session.get_inputs()[0].name
        fixed = self.session.get_inputs()[0].shape[0]
        # a graph without dynamic batch
        self.batch_size = fixed if isinstance(fixed, int) else int(batch_size)
        pre = self.meta['preprocess']
        self.input_size = tuple(int(v) for v in pre['input_size'])  # (w, h)
        self.mean = np.array(pre['mean'], np.float32).reshape(1, 3, 1, 1)
        self.std = np.array(pre['std'], np.float32).reshape(1, 3, 1, 1)
        self.bgr_to_rgb = bool(pre['bgr_to_rgb'])
        self.bottomup = self.meta['model']['kind'] == 'bottomup'

    @property
    def dataset(self) -> Dict:
        return self.meta.get('dataset', {})

    def normalise(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(H, W, 3) uint8 BGR images → (N, 3, H, W) float32 network input."""
        x = np.stack(images).astype(np.float32)
        if self.bgr_to_rgb:
            x = x[..., ::-1]
        x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(
            (x - self.mean) / self.std, dtype=np.float32)

    def crop(self, image: np.ndarray, bbox_xyxy: np.ndarray
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The top-down crop of one box: (crop (h, w, 3), centre (2,), scale
        (2,) after the aspect fix)."""
        aff = self.meta['affine']
        w, h = self.input_size
        center, scale = box_to_center_scale(
            bbox_xyxy, float(aff.get('bbox_padding', 1.25)))
        scale = fix_aspect_ratio(scale, w / h)
        mat = get_warp_matrix(center, scale, 0.0, (w, h))
        return cv2.warpAffine(
            image, mat, (int(w), int(h)),
            flags=cv2.INTER_LINEAR), center, scale

    def predict(self,
                image: np.ndarray,
                bboxes: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """Instances of one BGR image.

        Args:
            image: (H, W, 3) uint8, BGR (as ``cv2.imread``).
            bboxes: (N, 4) xyxy boxes for a top-down model (None: the whole
                image, as MMPose's ``inference_topdown``); ignored by a
                one-stage model.

        Returns:
            dict: ``keypoints`` (N, K, 2) image pixels, ``keypoint_scores`` (N,
                K), ``bboxes`` (N, 4) xyxy,
            ``bbox_scores`` (N,) (1 for given boxes).
        """
        if self.bottomup:
            return self._predict_bottomup(image)
        if bboxes is None or len(bboxes) == 0:
            bboxes = np.array([[0, 0, image.shape[1], image.shape[0]]],
                              np.float32)
        bboxes = np.asarray(bboxes, np.float32).reshape(-1, 4)
        crops, centers, scales = zip(*(self.crop(image, b) for b in bboxes))
        kpts, scores = [], []
        for i in range(0, len(crops), self.batch_size):
            outs = self.session.run(None, {
                self.input_name:
                self.normalise(crops[i:i + self.batch_size])
            })
            k, s = decode(outs, self.meta)
            kpts.append(k), scores.append(s)
        kpts = np.concatenate(kpts).astype(np.float64)
        center, scale = np.stack(centers), np.stack(scales)
        size = np.array(self.input_size, np.float64)
        kpts = kpts / size * scale[:, None] + center[:,
                                                     None] - 0.5 * scale[:,
                                                                         None]
        return dict(
            keypoints=kpts.astype(np.float32),
            keypoint_scores=np.concatenate(scores).astype(np.float32),
            bboxes=bboxes,
            bbox_scores=np.ones(len(bboxes), np.float32))

    def _predict_bottomup(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        aff, post = self.meta['affine'], self.meta.get('postprocess', {})
        W, H = self.input_size
        img_h, img_w = image.shape[:2]
        ratio = img_w / img_h
        fit_w, fit_h = min(W, H * ratio), min(H, W / ratio)
        center = np.array([img_w / 2, img_h / 2], np.float32)
        scale = np.array([img_w * W / fit_w, img_h * H / fit_h], np.float32)
        mat = get_warp_matrix(center, scale, 0.0, (W, H))
        pad = tuple(float(v) for v in aff.get('pad_val', (114, 114, 114)))
        x = cv2.warpAffine(
            image, mat, (W, H), flags=cv2.INTER_LINEAR, borderValue=pad)
        outs = self.session.run(None, {self.input_name: self.normalise([x])})
        if self.meta['model'].get('decoded'):
            _, boxes, scores, kpts, kpt_scores = outs
        else:  # forward's top-k: threshold and NMS here
            boxes, scores, kpts, kpt_scores = (o[0] for o in outs)
            keep = scores > float(post.get('score_thr', 0.01))
            boxes, scores, kpts, kpt_scores = boxes[keep], scores[keep], kpts[
                keep], kpt_scores[keep]
            if len(scores) and float(post.get('nms_thr', 1.0)) < 1.0:
                k = _nms(boxes, scores, float(post['nms_thr']))
                boxes, scores, kpts, kpt_scores = boxes[k], scores[k], kpts[
                    k], kpt_scores[k]
            boxes = np.stack([
                boxes[:, 0].clip(0, W), boxes[:, 1].clip(0, H),
                boxes[:, 2].clip(0, W), boxes[:, 3].clip(0, H)
            ], -1) if len(boxes) else boxes.reshape(0, 4)
        size = np.array([W, H], np.float64)
        kpts = kpts / size * scale + center - 0.5 * scale
        boxes = (boxes.reshape(-1, 2, 2) / size * scale + center -
                 0.5 * scale).reshape(-1, 4)
        return dict(
            keypoints=kpts.astype(np.float32),
            keypoint_scores=kpt_scores.astype(np.float32),
            bboxes=boxes.astype(np.float32),
            bbox_scores=scores.astype(np.float32))


def instance_score(bbox_score: float,
                   keypoint_scores: np.ndarray,
                   thr: float = 0.2) -> float:
    """COCO result score as MMPose's ``CocoMetric`` rescoring: box score × mean
    keypoint score over the keypoints scoring above ``thr`` (0 if none)."""
    valid = keypoint_scores[keypoint_scores > thr]
    return float(bbox_score) * (float(valid.mean()) if valid.size else 0.0)
