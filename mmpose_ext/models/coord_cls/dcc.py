"""Dynamic Coordinate Classifier (DCC) with sine-encoded bins, as a reusable
module.

`RTMO: Towards High-Performance One-Stage Real-Time Multi-Person Pose
Estimation` (Lu et al., CVPR 2024) classifies each keypoint coordinate against
1-D bins placed over the instance's (padded) box. Every bin coordinate is
sine-encoded and passed through a learned Linear per axis ("bin codes"); the
keypoint feature's dot product with the codes gives the per-bin logits, and the
softmax expectation over the bin coordinates is the decoded coordinate (an
integral / soft-argmax). SimCC (Li et al., ECCV 2022) is the special case where
the bins are fixed over the input image and the codes are free parameters; here
the codes stay explicit sine encodings in both modes:

- dynamic mode (RTMO): ``num_bins`` bins over each box expanded by
  ``bbox_padding``;
- static mode (top-down heads): ``num_bins`` bins at ``i · W / num_bins`` over
  the input image, i.e. SimCC's bins ``i / split_ratio`` when
  ``num_bins = W · split_ratio`` (so SimCC labels fit).

Follows MMPose 1.3.2's ``DCC``
(``mmpose/models/heads/hybrid_heads/rtmo_head.py``): same layers with the same
parameter names (a state dict of MMPose's ``DCC`` loads as is), MMPose's
``SinePositionalEncoding`` and ``GAUEncoder``. The fast path reorders the code
product, ``f · (W·pe + b)ᵀ = (f·W)·peᵀ + f·b``, which avoids building the (N,
bins, C) code tensor per instance; ``fast=False`` is the readable reference
path.

Two departures from MMPose's ``DCC``, neither changing a result it gives:

- a batch of one instance in training (MMPose's DCC raises there: PyTorch's
  BatchNorm needs two values per channel) is normalised with the BatchNorm's
  running statistics, as in eval mode, and does not update them;
- under autocast (AMP) the keypoint features (Linear, BatchNorm, GAU) and σ run
  in the autocast dtype like any layer, while the bin positions, their sine
  encodings, the code product (the logits) and the softmax expectation run in
  float32: in bfloat16 (8-bit mantissa) a 500 px coordinate is rounded by up to
  1 px and a logit of a few hundred by up to 1, which would move the decoded
  keypoints by whole bins.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import Scale
from mmengine.model import BaseModule
from mmpose.models.utils import GAUEncoder, SinePositionalEncoding
from mmpose.models.utils.rtmcc_block import ScaleNorm
from mmpose.registry import MODELS
from torch import Tensor, nn
from torch.nn import functional as F

from ..common.precision import at_least_fp32, fp32_region

# MMPose's DCC guards the softmax denominator with it; kept so decoded
# coordinates agree
EPS = 1e-8
# Shifted logits below this are clamped before exp: exp(-80) ≈ 2e-35 changes no
# float32/64 result at the EPS-guarded scale, while exp's underflow path on CPU
# is ~50x slower (logits reach hundreds)
MIN_SHIFTED_LOGIT = -80.0

#: ``input_mode``: one pose vector per instance (RTMO) or one vector per
#: keypoint (RTMCC's top-down layout)
INPUT_MODES = ('pose', 'keypoint')
#: ``gau_init``: MMPose's start, or one near the GAU's shortcut
GAU_INITS = ('mmpose', 'near_identity')

DEFAULT_GAU = dict(
    s=128,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')


def _shifted_exp(logits: Tensor) -> Tensor:
    """exp(logits − max) as MMPose's DCC: logits clamped to ±5e4 (fp16-safe),
    detached max subtracted (and ``MIN_SHIFTED_LOGIT``, see there)."""
    logits = logits.clamp(min=-5e4, max=5e4)
    shifted = logits - logits.max(dim=-1, keepdim=True).values.detach()
    return shifted.clamp(min=MIN_SHIFTED_LOGIT).exp()


def bin_softmax(logits: Tensor) -> Tensor:
    """Softmax over the last (bin) axis as MMPose's DCC computes it
    (denominator + ``EPS``).

    Differs from ``Tensor.softmax`` by < 1e-8 relative.
    """
    exp = _shifted_exp(logits)
    return exp / (exp.sum(dim=-1, keepdim=True) + EPS)


def _expectation(logits: Tensor, bins: Tensor) -> Tensor:
    """Σ_b bin_softmax(logits)_b · c_b for (N, K, B) logits and (N, B) or (B,)
    bins → (N, K), without dividing the (N, K, B) tensor elementwise."""
    exp = _shifted_exp(logits)  # (N, K, B)
    if bins.dim() == 2:
        # (N, K, B) @ (N, B, 1) → (N, K)
        num = (exp @ bins.unsqueeze(-1)).squeeze(-1)
    else:
        num = exp @ bins  # (N, K, B) @ (B,) → (N, K)
    return num / (exp.sum(dim=-1) + EPS)


def boxes_to_center_scale(bboxes: Tensor,
                          padding: float) -> Tuple[Tensor, Tensor]:
    """(N, 4) xyxy boxes → centres (N, 2) and padded sizes (N, 2), as MMPose's
    ``bbox_xyxy2cs``."""
    x1, y1, x2, y2 = bboxes.unbind(-1)
    center = torch.stack(((x1 + x2) * 0.5, (y1 + y2) * 0.5), dim=-1)
    scale = torch.stack((x2 - x1, y2 - y1), dim=-1) * padding
    return center, scale


def resolve_logit_scale(logit_scale: Union[float, str], channels: int,
                        owner: str) -> float:
    """``logit_scale`` as a positive float (``'rsqrt'``: 1/√channels); a clear
    error naming ``owner`` otherwise."""
    if isinstance(logit_scale, str):
        if logit_scale != 'rsqrt':
            raise ValueError(f'{owner}: logit_scale must be a positive number '
                             f"or 'rsqrt' (1/sqrt(C)), got {logit_scale!r}")
        return 1.0 / math.sqrt(channels)
    scale = float(logit_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f'{owner}: logit_scale must be a positive, finite '
                         f'number, got {logit_scale!r}')
    return scale


@MODELS.register_module()
class DynamicCoordinateClassifier(BaseModule):
    """Classify keypoint coordinates against sine-encoded bins (RTMO's DCC;
    static mode for top-down).

    Note:
        - instances: N
        - keypoints: K
        - input pose-feature channels: C_in
        - keypoint feature channels: C (``feat_channels``)
        - sine-encoding channels: S (``spe_channels``)
        - bins: Bx, By (``num_bins``)

    Args:
        in_channels (int): C_in, channels of the per-instance pose feature
            (``input_mode='pose'``) or of each keypoint's own feature
            (``'keypoint'``).
        num_keypoints (int): K.
        feat_channels (int): C. Defaults to 128 (RTMO).
        num_bins (tuple[int, int]): (Bx, By). Defaults to (192, 256) (RTMO).
        spe_channels (int): S, dimensions of the sine encoding of a bin
            coordinate. Defaults to 128.
        spe_temperature (float): Temperature of the sine encoding. Defaults to
            300 (RTMO).
        bbox_padding (float): Dynamic mode: boxes are expanded by this factor
            before bins are placed.
        input_mode (str): Where the K keypoint features come from.
            ``'pose'`` (RTMO, default): one (N, C_in) pose vector per
            instance → Linear(C_in → K·C) + BatchNorm, σ = Linear(C_in → K).
            ``'keypoint'`` (RTMCC's top-down layout): (N, K, C_in), one
            vector per keypoint (e.g. its flattened feature map) →
            ScaleNorm + a Linear(C_in → C) shared by the keypoints, σ = a
            shared Linear(C_in → 1).
        gau_cfg (dict, optional): MMPose ``GAUEncoder`` refining the K keypoint
            features jointly (``None``: no refinement). ``pos_enc='add'`` adds
            a learned (K, s) embedding, as RTMO.
        gau_init (str): ``'mmpose'`` (default): the GAU starts as MMPose
            builds it (γ, β ~ U(0, 1), the position embedding ~ N(0, 1)),
            which multiplies the features' RMS by about 13 at K = 17.
            ``'near_identity'``: γ ~ N(0, 0.02²), β = 0 and the position
            embedding ~ N(0, 0.02²), so that the attention kernel starts near
            zero and the block near its shortcut (our choice for the top-down
            head; see ``docs/coord_cls.md``).
        static_size (tuple[int, int], optional): (W, H) of the input image.
            Given: static mode, bins fixed at ``i · W / Bx`` and ``j · H / By``
            and ``bboxes`` not used.
        sigma_scale (float): σ = sigmoid(Linear(pose feature)) · sigma_scale (a
            learnable ``Scale``).
        fast (bool): Use the reordered code product in dynamic mode (same
            result, fewer FLOPs).
        logit_scale (float | str): Multiplies the logits (the keypoint
            features before the code product): a positive number, or
            ``'rsqrt'`` for 1/√C, the scaled dot product of attention.
            Defaults to 1.0, MMPose's ``DCC`` (a raw dot product).
        learn_logit_scale (bool): Learn the scale as a temperature, stored as
            its logarithm (``logit_log_scale``) and started at
            ``logit_scale``. Defaults to False (a fixed scale, no parameter).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 feat_channels: int = 128,
                 num_bins: Sequence[int] = (192, 256),
                 spe_channels: int = 128,
                 spe_temperature: float = 300.0,
                 bbox_padding: float = 1.25,
                 input_mode: str = 'pose',
                 gau_cfg: Optional[dict] = DEFAULT_GAU,
                 gau_init: str = 'mmpose',
                 static_size: Optional[Sequence[int]] = None,
                 sigma_scale: float = 0.1,
                 fast: bool = True,
                 logit_scale: Union[float, str] = 1.0,
                 learn_logit_scale: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_keypoints < 1:
            raise ValueError(
                f'num_keypoints must be >= 1, got {num_keypoints}')
        if input_mode not in INPUT_MODES:
            raise ValueError(f'{type(self).__name__}: input_mode must be one '
                             f'of {INPUT_MODES}, got {input_mode!r}')
        if gau_init not in GAU_INITS:
            raise ValueError(f'{type(self).__name__}: gau_init must be one '
                             f'of {GAU_INITS}, got {gau_init!r}')
        self.input_mode = input_mode
        scale = resolve_logit_scale(logit_scale, feat_channels,
                                    type(self).__name__)
        self.learn_logit_scale = bool(learn_logit_scale)
        if self.learn_logit_scale:
            # log-space: the scale stays positive whatever the update
            self.logit_log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        else:
            self._fixed_logit_scale = scale
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.feat_channels = feat_channels
        self.num_bins = tuple(int(b) for b in num_bins)
        self.bbox_padding = float(bbox_padding)
        self.static_size = None if static_size is None else tuple(
            float(s) for s in static_size)
        self.fast = fast

        self.spe = SinePositionalEncoding(
            out_channels=spe_channels, temperature=spe_temperature)

        if input_mode == 'pose':
            # pose feature → K keypoint features (Linear + BatchNorm)
            self.pose_to_kpts = nn.Sequential(
                nn.Linear(in_channels, feat_channels * num_keypoints),
                nn.BatchNorm1d(feat_channels * num_keypoints))
        else:
            # each keypoint's feature → its keypoint feature, weights shared
            # by the keypoints (RTMCC's ``mlp``)
            self.pose_to_kpts = nn.Sequential(
                ScaleNorm(in_channels),
                nn.Linear(in_channels, feat_channels, bias=False))
        # then joint refinement
        self.gau = nn.Identity()
        self.pos_enc = None
        if gau_cfg is not None:
            gau_cfg = dict(
                gau_cfg,
                in_token_dims=feat_channels,
                out_token_dims=feat_channels)
            self.gau = GAUEncoder(**gau_cfg)
            if gau_cfg.get('pos_enc', 'none') in ('add', 'rope'):
                self.pos_enc = nn.Parameter(
                    torch.randn(num_keypoints, gau_cfg['s']))
            if gau_init == 'near_identity':
                nn.init.normal_(self.gau.gamma, std=0.02)
                nn.init.zeros_(self.gau.beta)
                if self.pos_enc is not None:
                    nn.init.normal_(self.pos_enc, std=0.02)

        # per-axis adapters: sine encoding of a bin coordinate → bin code
        self.x_fc = nn.Linear(spe_channels, feat_channels)
        self.y_fc = nn.Linear(spe_channels, feat_channels)
        # per-keypoint σ of the Laplace error model (RTMO: sigmoid · 0.1)
        self.sigma_fc = nn.Sequential(
            nn.Linear(in_channels,
                      num_keypoints if input_mode == 'pose' else 1),
            nn.Sigmoid(), Scale(sigma_scale))

        # unit bins over [-0.5, 0.5] (dynamic mode: × padded box size + centre)
        self.register_buffer('x_bins',
                             torch.linspace(-0.5, 0.5, self.num_bins[0]))
        self.register_buffer('y_bins',
                             torch.linspace(-0.5, 0.5, self.num_bins[1]))
        if self.static_size is not None:
            w, h = self.static_size
            self.register_buffer(
                'x_static',
                torch.arange(self.num_bins[0]) * (w / self.num_bins[0]),
                persistent=False)
            self.register_buffer(
                'y_static',
                torch.arange(self.num_bins[1]) * (h / self.num_bins[1]),
                persistent=False)

    @property
    def static(self) -> bool:
        return self.static_size is not None

    @property
    def logit_scale(self) -> Union[float, Tensor]:
        """The factor on the logits: a float, or a 0-d tensor when learned."""
        if self.learn_logit_scale:
            return self.logit_log_scale.exp()
        return self._fixed_logit_scale

    def bin_coords(self,
                   bboxes: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Coordinates of the bins (in the boxes' / input image's pixel frame).

        Args:
            bboxes (Tensor, optional): (N, 4) xyxy boxes; not used in static
                mode.

        Returns:
            tuple[Tensor, Tensor]: x bins (N, Bx) and y bins (N, By) in dynamic
            mode; (Bx,), (By,) in static mode.
        """
        if self.static:
            return self.x_static, self.y_static
        return self._place_bins(*self._center_scale(bboxes))

    def _center_scale(self, bboxes: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Dynamic mode: (N, 4) xyxy boxes → centres (N, 2) and padded sizes
        (N, 2)."""
        if bboxes is None or bboxes.dim() != 2 or bboxes.size(-1) != 4:
            raise ValueError(
                'DynamicCoordinateClassifier (dynamic mode) needs bboxes of '
                'shape (N, 4), '
                f'got {None if bboxes is None else tuple(bboxes.shape)}')
        return boxes_to_center_scale(bboxes, self.bbox_padding)

    def _place_bins(self, offset: Tensor,
                    scale: Tensor) -> Tuple[Tensor, Tensor]:
        """Unit bins × padded box size (N, 2) + ``offset`` (N, 2) → x bins (N,
        Bx), y bins (N, By)."""
        x_bins = self.x_bins * scale[:, 0:1] + offset[:, 0:1]  # (N, Bx)
        y_bins = self.y_bins * scale[:, 1:2] + offset[:, 1:2]  # (N, By)
        return x_bins, y_bins

    def _static_codes(self) -> Tuple[Tensor, Tensor]:
        """Static mode's bin codes (Bx, C) and (By, C).

        They depend on the weights only, so without autograd (inference,
        export) they are computed once and reused until a weight changes
        (tracked by the tensors' version counters, which ``load_state_dict``
        and optimisers bump).
        """
        params = (self.x_fc.weight, self.x_fc.bias, self.y_fc.weight,
                  self.y_fc.bias)
        key = tuple((p._version, p.data_ptr(), p.dtype) for p in params)
        if torch.is_grad_enabled() or getattr(self, '_codes_key', None) != key:
            codes = (self.x_fc(self.spe(position=self.x_static)),
                     self.y_fc(self.spe(position=self.y_static)))
            if torch.is_grad_enabled():
                return codes
            self._codes_key, self._codes = key, codes
        return self._codes

    def _check_input(self, pose_feats: Tensor) -> None:
        if self.input_mode == 'pose':
            want = (self.in_channels, )
        else:
            want = (self.num_keypoints, self.in_channels)
        if pose_feats.dim() != len(want) + 1 or tuple(
                pose_feats.shape[1:]) != want:
            names = ', '.join(map(str, want))
            raise ValueError(
                f'{type(self).__name__} (input_mode={self.input_mode!r}): '
                f'pose_feats must be (N, {names}), got '
                f'{tuple(pose_feats.shape)}')

    def sigma(self, pose_feats: Tensor) -> Tensor:
        """(N, C_in) or (N, K, C_in) input features → σ (N, K)."""
        sigma = self.sigma_fc(pose_feats)  # (N, K) or (N, K, 1)
        return sigma if self.input_mode == 'pose' else sigma.squeeze(-1)

    def keypoint_feats(self, pose_feats: Tensor) -> Tensor:
        """(N, C_in) pose features (``input_mode='pose'``) or (N, K, C_in) per-
        keypoint features (``'keypoint'``) → (N, K, C) keypoint features."""
        self._check_input(pose_feats)
        if self.input_mode == 'keypoint':
            kpt_feats = self.pose_to_kpts(pose_feats)  # (N, K, C)
            if isinstance(self.gau, GAUEncoder):
                kpt_feats = self.gau(kpt_feats, pos_enc=self.pos_enc)
            return kpt_feats
        linear, norm = self.pose_to_kpts
        kpt_feats = linear(pose_feats)  # (N, K*C)
        if self.training and kpt_feats.size(0) == 1 and not isinstance(
                norm, nn.SyncBatchNorm):
            # one instance has no batch statistics (PyTorch's BatchNorm
            # raises): normalise with the running ones, as in eval mode, and
            # leave them as they are. N >= 2 (and N = 0) are MMPose's DCC
            # exactly.
            kpt_feats = F.batch_norm(
                kpt_feats,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                training=False,
                momentum=0.0,
                eps=norm.eps)
        else:
            kpt_feats = norm(kpt_feats)  # (N, K*C)
        # (N, K, C)
        kpt_feats = kpt_feats.reshape(-1, self.num_keypoints,
                                      self.feat_channels)
        if isinstance(self.gau, GAUEncoder):
            kpt_feats = self.gau(kpt_feats, pos_enc=self.pos_enc)
        return kpt_feats

    def _logits_dynamic(self, kpt_feats: Tensor, rel_bins: Tensor,
                        fc: nn.Linear) -> Tensor:
        """Logits (N, K, B) of keypoint features (N, K, C) against codes of
        bins (N, B) per instance."""
        pe = self.spe(position=rel_bins)  # (N, B, S)
        if self.fast:
            # f·(pe·Wᵀ + b)ᵀ = (f·W)·peᵀ + f·b : no (N, B, C) code tensor
            proj = kpt_feats @ fc.weight  # (N, K, S)
            # (N, K, B)
            return proj @ pe.transpose(1, 2) + (
                kpt_feats @ fc.bias).unsqueeze(-1)
        codes = fc(pe)  # (N, B, C)
        return kpt_feats @ codes.transpose(1, 2)  # (N, K, B)

    def forward(self,
                pose_feats: Tensor,
                bboxes: Optional[Tensor] = None,
                origin: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Classify the K keypoint coordinates of N instances.

        Args:
            pose_feats (Tensor): (N, C_in) per-instance pose features, or (N,
                K, C_in) per-keypoint features (``input_mode='keypoint'``).
            bboxes (Tensor, optional): (N, 4) xyxy boxes (dynamic mode; ignored
                in static mode).
            origin (Tensor, optional): (N, 2) point the bin coordinates are
                encoded relative to (RTMO: the anchor/grid point of the
                instance). Decoded coordinates are absolute either way.

        Returns:
            tuple: x logits (N, K, Bx), y logits (N, K, By), keypoints (N, K,
                2) (softmax expectation over
            the bin coordinates) and σ (N, K); at least float32 under autocast.
        """
        # (N, K, C), the autocast dtype under AMP
        kpt_feats = self.keypoint_feats(pose_feats)
        sigma = at_least_fp32(self.sigma(pose_feats))  # (N, K)
        # positions, encodings, logits, decoding: see the module doc
        with fp32_region(pose_feats.device):
            kpt_feats = at_least_fp32(kpt_feats)
            if bboxes is not None:
                bboxes = at_least_fp32(bboxes)
            if origin is not None:
                origin = at_least_fp32(origin)
            x_logits, y_logits, x_bins, y_bins = self._logits(
                kpt_feats, bboxes, origin)
            keypoints = self.decode(x_logits, y_logits, x_bins, y_bins)
        return x_logits, y_logits, keypoints, sigma

    def _logits(self, kpt_feats: Tensor, bboxes: Optional[Tensor],
                origin: Optional[Tensor]
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Keypoint features (N, K, C) → x logits (N, K, Bx), y logits (N, K,
        By) and the bin coordinates (N, Bx), (N, By) (static mode: (Bx,),
        (By,))."""
        scale = self.logit_scale
        if self.learn_logit_scale or scale != 1.0:
            # (N, K, C): scaling the features scales every logit, at K·C
            # products instead of K·(Bx + By)
            kpt_feats = kpt_feats * scale
        if self.static:
            x_bins, y_bins = self.bin_coords()  # (Bx,), (By,)
            # (Bx, C), (By, C), shared by all instances
            x_codes, y_codes = self._static_codes()
            x_logits = kpt_feats @ x_codes.t()  # (N, K, Bx)
            y_logits = kpt_feats @ y_codes.t()  # (N, K, By)
        else:
            center, scale = self._center_scale(bboxes)  # (N, 2), (N, 2)
            # (N, Bx), (N, By)
            x_bins, y_bins = self._place_bins(center, scale)
            x_rel, y_rel = x_bins, y_bins
            if origin is not None:
                # bins relative to the origin as MMPose places them: (centre −
                # origin) first, then the unit bins × size added. Subtracting
                # the origin from the absolute bins instead rounds each bin at
                # the absolute coordinate's float32 step (3e-5 px error at 700
                # px, not 1e-5) before the sine encoding, whose 1 rad/px
                # channel passes it on to the logits. Measured at RTMO-s
                # shapes, random init: logit error 4.0e-3 → 8.9e-4, keypoint
                # error 0.018 → 0.008 px (MMPose's own: 0.009).
                # (N, Bx), (N, By)
                x_rel, y_rel = self._place_bins(center - origin, scale)
            x_logits = self._logits_dynamic(kpt_feats, x_rel, self.x_fc)
            y_logits = self._logits_dynamic(kpt_feats, y_rel, self.y_fc)
        return x_logits, y_logits, x_bins, y_bins

    @staticmethod
    def decode(x_logits: Tensor, y_logits: Tensor, x_bins: Tensor,
               y_bins: Tensor) -> Tensor:
        """Softmax expectation of the bin coordinates: logits (N, K, B*) and
        bins (N, B*) or (B*,) →

        keypoints (N, K, 2). Same value as
        ``(bin_softmax(logits) * bins).sum(-1)``, computed as
        ``Σ e·c / (Σ e + EPS)`` so that the (N, K, B) probabilities are never
        divided elementwise.
        """
        return torch.stack(
            (_expectation(x_logits, x_bins), _expectation(y_logits, y_bins)),
            dim=-1)

    def extra_repr(self) -> str:
        mode = (f'static={self.static_size}'
                if self.static else f'bbox_padding={self.bbox_padding}')
        scale = ('learned' if self.learn_logit_scale else
                 f'{self._fixed_logit_scale:.4g}')
        return (f'num_keypoints={self.num_keypoints}, '
                f'input_mode={self.input_mode!r}, '
                f'num_bins={self.num_bins}, {mode}, fast={self.fast}, '
                f'logit_scale={scale}')
