"""SCAIPoseEstimator: SCAI's prediction, feedback and correction networks on a
frozen MMPose top-down heatmap model.

`Self-Correctable and Adaptable Inference for Generalizable Human Pose
Estimation`, Kan et al., CVPR 2023.

The wrapped model is any MMPose ``TopdownPoseEstimator`` whose head outputs K
heatmaps and decodes them (``HeatmapHead`` and its relatives), built from its
config and optionally a checkpoint, then frozen. For each kinematic chain A → B
→ C → D (see :mod:`.chains`):

    Ĥ_D = Φ(H_A, H_B, H_C, f)                      prediction
    e_s = H_A − Γ(H_B, H_C, Ĥ_D, f)                feedback error map
    H̃_D = Ĥ_D + C(Ĥ_D, e_s)                       correction

The frozen model is the baseline to beat: per instance and chain, H̃_D replaces
the frozen model's own distal heatmap H_D only where Γ's feedback error of
H̃_D, ‖Γ(H_B, H_C, H̃_D) − H_A‖, is below that of H_D
(``test_cfg.keep='feedback'``, ours; ``'always'`` replaces unconditionally, as
the paper's text reads), the chain's start node is visible in the frozen
model's heatmaps (``test_cfg.min_root_score``) and everything is finite;
elsewhere the frozen H_D is decoded, so SCAI can only change a keypoint where
its own feedback says the change is an improvement. Training runs through
MMPose's runner in two stages picked by ``train_cfg.stage``: ``'phi_gamma'``
trains Φ and Γ (alternating steps by default), ``'correction'`` trains C with
``L_C`` (Φ, Γ frozen) and records the training people's selection scores. At
test time C can be adapted to each instance (:mod:`.adaptation`), switched by
``test_cfg.adapt.enable``, for everyone or only for the people whose score says
they are unlike the training people (``test_cfg.adapt.select``, ours, after
ESCAPE, arXiv 2407.14605); the same keep rule applies after adaptation.

Distributed training: with alternating steps (stage 1's default) one of Φ / Γ
takes no part in each step's loss, so the stage-1 configs set
``find_unused_parameters = True`` (MMEngine's Runner hands it to
MMDistributedDataParallel). Giving the idle network an exact-zero gradient
instead (``0 * Σ params`` in the loss) would satisfy DDP without that flag but
change what is learnt: Adam moves a parameter whose gradient is zero by its
momentum (``lr · m̂ / (√v̂ + ε)``) and counts the step in its bias correction,
while a parameter without gradient is skipped (measured on the tiny test model:
after 3 alternating steps at lr 1e-3, Φ's weights differ by up to 2e-3). With
``find_unused_parameters``, DDP leaves the gradient of a parameter unused on
every rank undefined, so the optimizer skips it exactly as in single-process
training. The frozen parts (the wrapped model, and C or Φ, Γ depending on the
stage) have ``requires_grad=False`` and are not in DDP's reducer at all; stage
2 uses every parameter of C in every step.

Bad input: a chain whose start node the frozen model does not see (score
below ``test_cfg.min_root_score``) or whose feedback error or corrected heatmap
is non-finite falls back to the frozen model's H_D (never adapted), counted in
``fallback_counts`` and in the log, and marked per chain in the prediction's
``scai_fallback``. :func:`~mmpose_ext.models.common.check_finite` stops a
training step at a NaN / Inf in the frozen model's heatmaps or features or in
the targets (before Φ, Γ, C run, so that nothing changes, BatchNorm statistics
included) and at a non-finite loss (before the optimizer update), and a
prediction at non-finite keypoints or scores (which only the frozen model's own
heatmaps can give: a NaN image or NaN weights); each message names the term and
the training iteration. Heatmap errors are taken in float32 and heatmaps are
decoded in float32, so bf16 autocast trains, predicts and adapts.
"""
import copy
import logging
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.typing import SampleList
from torch import Tensor, nn

from ...checkpoint import load_checkpoint_strict
from ..common import check_finite
from .adaptation import adapt_correction
from .chains import KinematicChains
from .losses import heatmap_error

STAGES = ('phi_gamma', 'correction')
FEATURE_SOURCES = ('head', 'backbone', 'none')
GAMMA_DISTAL_INPUTS = ('phi', 'gt', 'base')
KEEP_RULES = ('feedback', 'always')
SELECT_RULES = ('all', 'feedback', 'free_energy')
#: the selection scores whose training statistics ``score_stats`` records, in
#: its row order
SCORES = ('feedback', 'free_energy')
DEFAULT_TEST = dict(keep='feedback', keep_margin=0.0, min_root_score=0.05)
DEFAULT_ADAPT = dict(
    enable=False,
    steps=20,
    lr=0.013,
    decay=0.96,
    optimizer='adam',
    anchor_weight=0.0,
    select='all',
    select_z=1.0,
    energy_temperature=0.1)
FALLBACK_REASONS = ('no visible start joint', 'non-finite feedback error')
INPUT_HINT = (
    'frozen_model_*: the input images or the wrapped model\'s weights hold '
    'NaN/Inf; target_heatmaps: '
    'the annotations. The step is stopped before Φ, Γ and C run (their '
    'BatchNorm statistics are untouched).')
LOSS_HINT = ('Φ, Γ or C diverged (their inputs were finite): lower the '
             'learning rate.')
PREDICTION_HINT = (
    'With non-finite frozen_model_heatmaps, the input images or the wrapped '
    'model\'s weights hold '
    'NaN/Inf; otherwise Φ, Γ or C (or its test-time adaptation) diverged.')


def interleave(num_chains: int, *parts: Tensor) -> Tensor:
    """Concatenate chain-major channel groups chain by chain.

    Args:
        num_chains (int): M.
        parts (Tensor): each (B, M·P_i, h, w), chain m's maps at
            ``m·P_i … m·P_i+P_i−1``.

    Returns:
        Tensor: (B, M·ΣP_i, h, w), chain m's maps of every part together.
    """
    b, _, h, w = parts[0].shape
    # each (B, M, P_i, h, w)
    groups = [p.reshape(b, num_chains, -1, h, w) for p in parts]
    return torch.cat(groups, dim=2).flatten(1, 2)  # (B, M·ΣP_i, h, w)


def _load_model_cfg(base_model: Union[str, dict, Config]) -> ConfigDict:
    if isinstance(base_model, str):
        return Config.fromfile(base_model).model
    if isinstance(base_model, Config):
        return base_model.model
    return ConfigDict(copy.deepcopy(dict(base_model)))


@MODELS.register_module()
class SCAIPoseEstimator(BaseModel):
    """SCAI on a frozen MMPose top-down heatmap model.

    Note:
        - instances: B
        - keypoints: K
        - chains: M
        - heatmap size: h, w

    Args:
        base_model (dict | str): The wrapped model: its ``model`` config dict,
            or a config file path.
        base_checkpoint (str, optional): Its checkpoint, loaded by
            :meth:`init_weights` (as MMEngine's runner does with pretrained
            weights) — a path or URL.
        chains (str | dict): Preset name (``'coco'``, ``'crowdpose'``) or
            :class:`KinematicChains` arguments (``chains``, ``virtual_nodes``,
            ``keypoint_names`` or ``dataset_info``, ...).
        phi, gamma, correction (dict): Configs of Φ, Γ and C; channel counts
        are filled in here.
        feature_source (str): The image feature f given to Φ and Γ: ``'head'``
            = the heatmap head's features before its last conv (heatmap
            resolution; needs a ``HeatmapHead``-like head), ``'backbone'`` =
            the last backbone/neck level (resized), ``'none'`` = no image
            features.
        phi_residual (bool): Not in the paper (its Φ never sees the frozen
            model's H_D): when True, Φ predicts a change to the frozen model's
            own distal heatmap, Ĥ_D = H_D + Φ(H_A, H_B, H_C, f), with Φ's last
            conv zero-initialised, so that SCAI starts from the frozen model's
            prediction.
        features_for (tuple[str]): Which of ``'phi'``, ``'gamma'`` receive f
            (paper: both). Without f, Γ can only recover H_A from (H_B, H_C,
            H_D), which makes it depend on H_D more.
        heatmap_loss (dict): Loss of Φ and Γ.
        correction_loss (dict): ``L_C`` of C.
        train_cfg (dict): ``stage`` (``'phi_gamma'`` | ``'correction'``),
            ``alternate`` (Φ and Γ on alternating iterations; default True;
            under DDP it needs ``find_unused_parameters=True``, see the module
            docstring) and ``gamma_distal_input`` (what Γ sees as H_D while it
            trains: ``'phi'`` Φ's detached output (default; what Γ sees at test
            time), ``'gt'``, ``'base'``).
        test_cfg (dict): The wrapped model's ``test_cfg`` (flip test …) updated
            with this one, and SCAI's own (defaults in brackets):

            - ``keep`` (``'feedback'``): per instance and chain, use H̃_D only
              where its feedback error is below ``(1 − keep_margin)`` times
              that of the frozen model's H_D, else H_D (ours: the frozen
              model is the baseline to beat); ``'always'``: use H̃_D
              wherever it is finite (the paper's text).
            - ``keep_margin`` (0.0): see ``keep``.
            - ``min_root_score`` (0.05): a chain whose start node A scores
              below this in the frozen model's heatmaps (its maximum; a
              virtual node: the lowest of its members') keeps H_D and is not
              adapted (counted as a fallback); 0 disables.
            - ``adapt`` (dict): test-time adaptation
              (:func:`~.adaptation.adapt_correction`; each instance adapts its
              own copy of C): ``enable`` (False), ``steps`` (20), ``lr``
              (0.013), ``decay`` (0.96), ``optimizer`` (``'adam'``; the
              paper's lr, decay and steps), ``anchor_weight`` (0.0, the
              paper's objective; μ > 0 adds ``μ·‖H̃_D − H_D‖``), ``select``:
              who adapts — ``'all'``, or only the people whose score is more
              than ``select_z`` (1.0) standard deviations above the training
              people's mean (``score_stats``): ``'feedback'`` (log of the
              mean feedback error of the frozen H_D over the chains) or
              ``'free_energy'`` (mean over the K maps of
              ``−T·logsumexp(H/T)``, ``T = energy_temperature`` (0.1));
              the others get C's trained output.
        data_preprocessor (dict, optional): Defaults to the wrapped model's.
        metainfo (dict, optional): Overrides the data samples' metainfo at
            prediction (as MMPose).
        init_cfg: Unused by this class (Φ, Γ, C take their own).
    """

    def __init__(self,
                 base_model: Union[str, dict],
                 base_checkpoint: Optional[str] = None,
                 chains: Union[str, dict] = 'coco',
                 phi: dict = dict(type='SCAIPredictionNet'),
                 gamma: dict = dict(type='SCAIFeedbackNet'),
                 correction: dict = dict(type='SCAICorrectionNet'),
                 feature_source: str = 'head',
                 features_for: Tuple[str, ...] = ('phi', 'gamma'),
                 phi_residual: bool = False,
                 heatmap_loss: dict = dict(type='SCAIHeatmapLoss'),
                 correction_loss: dict = dict(type='SCAICorrectionLoss'),
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 metainfo: Optional[dict] = None,
                 init_cfg=None) -> None:
        if feature_source not in FEATURE_SOURCES:
            raise ValueError(
                'SCAIPoseEstimator: feature_source must be one of '
                f'{FEATURE_SOURCES}, '
                f'got {feature_source!r}')
        base_cfg = _load_model_cfg(base_model)
        if data_preprocessor is None:
            data_preprocessor = base_cfg.get('data_preprocessor')
        # The wrapped model is an MMPose model: build it (and its data
        # preprocessor, which MMEngine's BaseModel looks up through the default
        # scope) in MMPose's scope, whatever scope the caller has.
        with DefaultScope.overwrite_default_scope('mmpose'):
            if isinstance(data_preprocessor, dict):
                data_preprocessor = MODELS.build(data_preprocessor)
            super().__init__(
                data_preprocessor=data_preprocessor, init_cfg=init_cfg)
            self.base = MODELS.build(base_cfg)
        if not isinstance(self.base,
                          TopdownPoseEstimator) or not self.base.with_head:
            raise TypeError('SCAIPoseEstimator wraps a top-down heatmap model '
                            '(TopdownPoseEstimator with a '
                            f'head), got {type(self.base).__name__}')
        head = self.base.head
        num_keypoints = getattr(head, 'out_channels', None)
        if not isinstance(num_keypoints, int) or getattr(
                head, 'decoder', None) is None:
            raise TypeError(
                f'SCAIPoseEstimator: the head {type(head).__name__} must '
                'output `out_channels` '
                'heatmaps and have a decoder (e.g. HeatmapHead)')
        self.base_checkpoint = base_checkpoint
        self.base.requires_grad_(False)
        self.num_keypoints = num_keypoints

        self.chains = KinematicChains.from_config(
            chains, num_keypoints=num_keypoints)
        self.feature_source = feature_source
        if not set(features_for) <= {'phi', 'gamma'}:
            raise ValueError(
                "SCAIPoseEstimator: features_for holds 'phi' and/or "
                f"'gamma', got {features_for}")
        self.features_for = tuple(features_for)
        feat_channels = self._feature_channels()
        m = self.chains.num_chains
        self.phi_residual = phi_residual
        if phi_residual and 'zero_init_last' not in phi:
            # Φ starts as "the frozen model's H_D"
            phi = dict(phi, zero_init_last=True)
        self.phi = MODELS.build(
            dict(
                phi,
                in_channels=3 * m,
                out_channels=m,
                feat_channels=feat_channels
                if 'phi' in self.features_for else 0))
        self.gamma = MODELS.build(
            dict(
                gamma,
                in_channels=3 * m,
                out_channels=m,
                feat_channels=feat_channels
                if 'gamma' in self.features_for else 0))
        self.correction = MODELS.build(
            dict(correction, in_channels=2 * m, out_channels=m))
        self.heatmap_loss = MODELS.build(heatmap_loss)
        self.correction_loss = MODELS.build(correction_loss)

        self.train_cfg = dict(
            stage='phi_gamma', alternate=True, gamma_distal_input='phi')
        self.train_cfg.update(train_cfg or {})
        if self.train_cfg['stage'] not in STAGES:
            raise ValueError(
                f'SCAIPoseEstimator: train_cfg.stage must be one of {STAGES}, '
                f"got {self.train_cfg['stage']!r}")
        if self.train_cfg['gamma_distal_input'] not in GAMMA_DISTAL_INPUTS:
            raise ValueError(
                'SCAIPoseEstimator: train_cfg.gamma_distal_input must be '
                'one of '
                f'{GAMMA_DISTAL_INPUTS}, got '
                f"{self.train_cfg['gamma_distal_input']!r}")
        self.test_cfg = {**DEFAULT_TEST, **dict(self.base.test_cfg)}
        self.test_cfg.update(test_cfg or {})
        self.test_cfg['adapt'] = {
            **DEFAULT_ADAPT,
            **dict(self.test_cfg.get('adapt') or {})
        }
        self.base.test_cfg = self.test_cfg
        self._check_test_cfg()
        # per score of SCORES: count, mean and sum of squared deviations
        # (Welford) over the training people seen in stage 2, saved with the
        # weights; the threshold of selective adaptation
        self.register_buffer('score_stats',
                             torch.zeros(len(SCORES), 3, dtype=torch.float64))
        #: fallbacks to the frozen H_D since construction, per reason
        self.fallback_counts = dict.fromkeys(FALLBACK_REASONS, 0)
        self.metainfo = TopdownPoseEstimator._load_metainfo(metainfo)
        # stage-1 steps taken: which of Φ / Γ trains on the next alternating
        # iteration. A buffer, so that a checkpoint carries it and a run
        # resumed at an odd iteration goes on with the right network
        self.register_buffer('phi_gamma_steps',
                             torch.zeros((), dtype=torch.long))
        self._set_trainable()

    # -------------------------------------------------------------------------------------
    # set-up
    def _check_test_cfg(self) -> None:
        """Clear errors for test settings that would otherwise fail late (a
        benchmark's test variant changes them after construction, so
        :meth:`correct` calls this again)."""
        cfg, adapt = self.test_cfg, self.test_cfg['adapt']
        if cfg['keep'] not in KEEP_RULES:
            raise ValueError(
                f'SCAIPoseEstimator: test_cfg.keep must be one of '
                f"{KEEP_RULES}, got {cfg['keep']!r}")
        if not 0.0 <= float(cfg['keep_margin']) < 1.0:
            raise ValueError('SCAIPoseEstimator: test_cfg.keep_margin must be '
                             f"in [0, 1), got {cfg['keep_margin']}")
        if adapt['select'] not in SELECT_RULES:
            raise ValueError(
                'SCAIPoseEstimator: test_cfg.adapt.select must be one of '
                f"{SELECT_RULES}, got {adapt['select']!r}")
        if float(adapt['energy_temperature']) <= 0:
            raise ValueError(
                'SCAIPoseEstimator: test_cfg.adapt.energy_temperature must '
                f"be > 0, got {adapt['energy_temperature']}")

    def _feature_channels(self) -> int:
        head = self.base.head
        if self.feature_source == 'none':
            return 0
        if self.feature_source == 'head':
            if (not all(
                    hasattr(head, n)
                    for n in ('deconv_layers', 'conv_layers', 'final_layer'))
                    or not isinstance(head.final_layer, nn.Conv2d)):
                raise TypeError(
                    "SCAIPoseEstimator: feature_source='head' needs a "
                    'HeatmapHead-like head '
                    '(deconv_layers, conv_layers, final conv); '
                    f'{type(head).__name__} is not — '
                    "use feature_source='backbone'")
            return head.final_layer.in_channels
        in_channels = head.in_channels
        return in_channels[-1] if isinstance(in_channels,
                                             (list, tuple)) else in_channels

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        # checkpoints written before the step counter was saved: start it at
        # 0 (what those runs did on resuming) instead of a missing key
        state_dict.setdefault(prefix + 'phi_gamma_steps',
                              torch.zeros((), dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _set_trainable(self) -> None:
        stage = self.train_cfg['stage']
        self.phi.requires_grad_(stage == 'phi_gamma')
        self.gamma.requires_grad_(stage == 'phi_gamma')
        self.correction.requires_grad_(stage == 'correction')

    def train(self, mode: bool = True) -> 'SCAIPoseEstimator':
        """Frozen parts stay in eval mode (their BatchNorm statistics never
        move)."""
        super().train(mode)
        self.base.eval()
        frozen = [self.correction
                  ] if self.train_cfg['stage'] == 'phi_gamma' else [
                      self.phi, self.gamma
                  ]
        for module in frozen:
            module.eval()
        return self

    def init_weights(self) -> None:
        """Initialise Φ, Γ and C and load the wrapped model's checkpoint; the
        wrapped model is never re-initialised (its own init_cfg, e.g. an
        ImageNet backbone, is ignored)."""
        for module in (self.phi, self.gamma, self.correction):
            module.init_weights()
        if self.base_checkpoint:
            # strictly: another model's weights would otherwise load with a
            # warning and SCAI would learn to correct a model that is not the
            # one it will wrap
            load_checkpoint_strict(
                self.base,
                self.base_checkpoint,
                map_location='cpu',
                revise_keys=())
        else:
            print_log(
                'SCAIPoseEstimator: no base_checkpoint; the wrapped model '
                'keeps its current weights', 'current')

    # ------------------------------------------------------------------------------
    # frozen model
    def base_forward(self, inputs: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Heatmaps and image features of the frozen model (no flip).

        Returns:
            tuple: heatmaps (B, K, h, w) and features (B, F, h', w') or None.
        """
        with torch.no_grad():
            feats = self.base.extract_feat(inputs)
            head = self.base.head
            if self.feature_source == 'head':
                # (B, F, h, w), HeatmapHead.forward
                f = head.conv_layers(head.deconv_layers(feats[-1]))
                heatmaps = head.final_layer(f)  # (B, K, h, w)
            else:
                heatmaps = head.forward(feats)
                f = feats[-1] if self.feature_source == 'backbone' else None
        return heatmaps, f

    def base_heatmaps_flip(self, inputs: Tensor, data_samples: SampleList
                           ) -> Tuple[Tensor, Optional[Tensor]]:
        """As :meth:`base_forward`, fusing the flipped image's heatmaps as
        MMPose's HeatmapHead does when ``test_cfg.flip_test``; f stays that of
        the unflipped image."""
        heatmaps, f = self.base_forward(inputs)
        if self.test_cfg.get('flip_test', False):
            flip_indices = data_samples[0].metainfo['flip_indices']
            # else a bare AssertionError in MMPose's flip_heatmaps
            if len(flip_indices) != heatmaps.shape[1]:
                raise ValueError(
                    f'SCAIPoseEstimator: {len(flip_indices)} flip_indices '
                    'for the wrapped model\'s '
                    f'{heatmaps.shape[1]} keypoints: the data has another '
                    'keypoint set than the model')
            flipped, _ = self.base_forward(inputs.flip(-1))
            flipped = flip_heatmaps(
                flipped,
                flip_mode=self.test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=flip_indices,
                shift_heatmap=self.test_cfg.get('shift_heatmap', False))
            heatmaps = (heatmaps + flipped) * 0.5
        return heatmaps, f

    # ----------------------------------------------------------------------------------
    # SCAI parts
    def predict_distal(self, nodes: Tensor, f: Optional[Tensor]) -> Tensor:
        """Φ: node heatmaps (B, K+V, h, w) → Ĥ_D (B, M, h, w)."""
        d_hat = self.phi(
            self.chains.gather(nodes, 'ABC'),
            f if 'phi' in self.features_for else None)
        if self.phi_residual:
            # a change to the frozen model's H_D
            d_hat = d_hat + self.chains.gather(nodes, 'D')
        return d_hat

    def feedback(self, nodes: Tensor, distal: Tensor,
                 f: Optional[Tensor]) -> Tensor:
        """Γ: (H_B, H_C from ``nodes``, H_D = ``distal``) → Ĥ_A.

        ``distal`` and Ĥ_A are (B, M, h, w).
        """
        bc = self.chains.gather(nodes, 'BC')  # (B, 2M, h, w)
        return self.gamma(
            interleave(self.chains.num_chains, bc, distal),
            f if 'gamma' in self.features_for else None)

    def correct(self,
                nodes: Tensor,
                f: Optional[Tensor],
                adapt: bool = False) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Φ → Γ → C (→ test-time adaptation, each instance its own copy of C)
        on the frozen model's node heatmaps, then the keep rule.

        Args:
            nodes (Tensor): The frozen model's node heatmaps (B, K+V, h, w)
                (:meth:`KinematicChains.node_heatmaps`).
            f (Tensor, optional): Its image features.
            adapt (bool): Adapt C to each (selected) instance.

        Returns:
            tuple: the distal heatmaps to decode (B, M, h, w) — per chain H̃_D
            where it is kept, else the frozen model's H_D — and a dict with
            Ĥ_D (``'uncorrected'``), H̃_D (``'corrected'``), and (B, M):
            the feedback error of the output (``'error'``; NaN where none is
            finite), of H̃_D (``'error_corrected'``), of Ĥ_D
            (``'error_uncorrected'``) and of H_D (``'error_frozen'``),
            ``'kept'`` (H̃_D used), ``'fallback'`` (0: none, 1: no visible
            start joint, 2: non-finite; H_D used), ``'adapt_step'``; (B,):
            ``'adapted'`` and the selection score ``'select_z'``.
        """
        self._check_test_cfg()
        cfg = self.test_cfg
        norm = self.correction_loss.norm
        root = self.chains.gather(nodes, 'A')  # (B, M, h, w) H_A
        frozen = self.chains.gather(nodes, 'D')  # (B, M, h, w) H_D
        d_hat = self.predict_distal(nodes, f)
        fb_hat = self.feedback(nodes, d_hat, f)
        e_s = root - fb_hat  # (B, M, h, w) feedback error map
        c_in = interleave(self.chains.num_chains, d_hat, e_s)  # (B, 2M, h, w)
        # (B, M) Γ's error of the frozen model's own H_D: the bar to clear
        error_frozen = heatmap_error(
            self.feedback(nodes, frozen, f), root, norm)
        # (B, M) start node seen by the frozen model
        visible = self.root_scores(nodes) >= float(cfg['min_root_score'])
        select_z = self.selection_scores(nodes, error_frozen)  # (B,)
        num = nodes.shape[0]
        step = torch.zeros_like(error_frozen, dtype=torch.long)
        adapted = torch.zeros(num, dtype=torch.bool, device=nodes.device)
        if adapt:
            acfg = cfg['adapt']
            which = visible.any(1)
            if acfg['select'] != 'all':
                which = which & (select_z > float(acfg['select_z']))

            # instance i's Γ: (1, M, h, w) → (1, M, h, w)
            def feedback_of(d: Tensor, i: int) -> Tensor:
                return self.feedback(nodes[i:i + 1], d,
                                     None if f is None else f[i:i + 1])

            d_tilde, info = adapt_correction(
                self.correction,
                c_in,
                d_hat,
                feedback_of,
                root,
                steps=acfg['steps'],
                lr=acfg['lr'],
                decay=acfg['decay'],
                optimizer=acfg['optimizer'],
                norm=norm,
                anchor=frozen,
                anchor_weight=float(acfg['anchor_weight']),
                which=which)
            error, step, adapted = info['error'], info['step'], info['adapted']
        else:
            d_tilde = d_hat + self.correction(c_in)
            error = heatmap_error(self.feedback(nodes, d_tilde, f), root, norm)
        out, kept, fallback = self.keep(frozen, d_tilde, error, error_frozen,
                                        visible)
        # NaN where neither error is finite
        out_error = torch.where(kept, error, error_frozen)
        return out, dict(
            uncorrected=d_hat,
            corrected=d_tilde,
            error=out_error,
            error_corrected=error,
            error_uncorrected=heatmap_error(fb_hat, root, norm),
            error_frozen=error_frozen,
            kept=kept,
            fallback=fallback,
            adapt_step=step,
            adapted=adapted,
            select_z=select_z)

    def keep(self, frozen: Tensor, corrected: Tensor, error: Tensor,
             error_frozen: Tensor,
             visible: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The keep rule: per instance and chain, H̃_D or the frozen H_D.

        Args:
            frozen (Tensor): H_D (B, M, h, w).
            corrected (Tensor): H̃_D (B, M, h, w).
            error (Tensor): Feedback error of H̃_D (B, M).
            error_frozen (Tensor): Feedback error of H_D (B, M).
            visible (Tensor): (B, M) bool, the chain's start node is seen.

        Returns:
            tuple: the heatmaps to decode (B, M, h, w), ``kept`` (B, M) bool
            (H̃_D used) and ``fallback`` (B, M) uint8: 1 where the start node
            is not seen, 2 where H̃_D or an error is non-finite, else 0.
        """
        self._check_test_cfg()
        finite = (
            torch.isfinite(error) & torch.isfinite(error_frozen)
            & torch.isfinite(corrected).flatten(2).all(-1))
        kept = finite & visible
        if self.test_cfg['keep'] == 'feedback':
            margin = 1.0 - float(self.test_cfg['keep_margin'])
            kept = kept & (error < error_frozen * margin)
        fallback = torch.where(
            ~visible, torch.ones_like(kept, dtype=torch.uint8),
            torch.where(~finite, torch.full_like(kept, 2, dtype=torch.uint8),
                        torch.zeros_like(kept, dtype=torch.uint8)))
        # torch.where takes nothing from the branch not chosen: a non-finite
        # H̃_D never reaches the output
        out = torch.where(kept[..., None, None], corrected.to(frozen.dtype),
                          frozen)
        return out, kept, fallback

    def root_scores(self, nodes: Tensor) -> Tensor:
        """(B, M) the frozen model's score of each chain's start node A: its
        heatmap maximum (a virtual node: the lowest of its members')."""
        peaks = nodes[:, :self.num_keypoints].flatten(2).amax(-1)  # (B, K)
        return self.chains.gather(self.chains.node_weights(peaks), 'A')

    def raw_scores(self, nodes: Tensor, error_frozen: Tensor) -> Tensor:
        """(B, len(SCORES)) per instance: the log of the mean feedback error
        of the frozen H_D over the chains, and the mean over the K maps of the
        free energy ``−T·logsumexp(H/T)`` (T = ``energy_temperature``)."""
        temp = float(self.test_cfg['adapt']['energy_temperature'])
        maps = nodes[:, :self.num_keypoints].float().flatten(2)  # (B, K, hw)
        energy = (-temp * torch.logsumexp(maps / temp, -1)).mean(1)  # (B,)
        feedback = error_frozen.float().mean(1).clamp_min(1e-12).log()
        return torch.stack([feedback, energy], 1)

    def selection_scores(self, nodes: Tensor, error_frozen: Tensor) -> Tensor:
        """(B,) the selection score of ``test_cfg.adapt.select`` as a z-score
        against the training people (``score_stats``); 0 for ``'all'``, and.

        +inf (adapt everyone) when no training statistics were recorded, with a
        warning.
        """
        select = self.test_cfg['adapt']['select']
        num = nodes.shape[0]
        if select == 'all':
            return nodes.new_zeros(num, dtype=torch.float32)
        row = SCORES.index(select)
        count, mean, m2 = self.score_stats[row].tolist()
        if count < 2:
            print_log(
                'SCAIPoseEstimator: selective adaptation needs the training '
                'people\'s scores, which stage 2 (train_cfg.stage='
                '\'correction\') records; these weights have none, so every '
                'person is adapted', 'current', logging.WARNING)
            return nodes.new_full((num, ), float('inf'), dtype=torch.float32)
        std = max((m2 / (count - 1))**0.5, 1e-12)
        raw = self.raw_scores(nodes, error_frozen)[:, row].double()
        return ((raw - mean) / std).float()

    @torch.no_grad()
    def record_scores(self, nodes: Tensor, f: Optional[Tensor]) -> None:
        """Add a batch of training people's selection scores to ``score_stats``
        (Welford's merge of count, mean and squared deviations)."""
        norm = self.correction_loss.norm
        error_frozen = heatmap_error(
            self.feedback(nodes, self.chains.gather(nodes, 'D'), f),
            self.chains.gather(nodes, 'A'), norm)
        raw = self.raw_scores(nodes, error_frozen).double()  # (B, S)
        raw = raw[torch.isfinite(raw).all(1)]
        n = raw.shape[0]
        if n == 0:
            return
        stats = self.score_stats  # (S, 3) count, mean, M2
        count = stats[:, 0]
        batch_mean = raw.mean(0)
        batch_m2 = ((raw - batch_mean)**2).sum(0)
        total = count + n
        delta = batch_mean - stats[:, 1]
        stats[:, 1] += delta * n / total
        stats[:, 2] += batch_m2 + delta**2 * count * n / total
        stats[:, 0] = total

    def replace_distal(self, heatmaps: Tensor, distal: Tensor) -> Tensor:
        """The K heatmaps with each chain's distal keypoint replaced: (B, K, h,
        w)."""
        # channel k of the result: H̃_D of chain m where k is that chain's D,
        # else the frozen model's map k (a gather rather than an in-place
        # index_put, so that the exported graph keeps a dynamic batch)
        source = list(range(self.num_keypoints))
        for m, k in enumerate(self.chains.distal):
            source[k] = self.num_keypoints + m
        index = torch.tensor(source, device=heatmaps.device)
        # (B, K, h, w)
        return torch.cat([heatmaps, distal.to(heatmaps.dtype)],
                         dim=1).index_select(1, index)

    # -------------------------------------------------------------------------------
    # MMEngine API
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        if isinstance(inputs, list):
            inputs = torch.stack(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            if self.metainfo is not None:
                for data_sample in data_samples:
                    data_sample.set_metainfo(self.metainfo)
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs)
        raise RuntimeError(
            f'Invalid mode "{mode}". Only supports loss, predict and tensor '
            'mode.')

    def _forward(self, inputs: Tensor) -> Tensor:
        """Corrected heatmaps (B, K, h, w), no flip, no adaptation (the
        exportable path)."""
        heatmaps, f = self.base_forward(inputs)
        distal, _ = self.correct(self.chains.node_heatmaps(heatmaps), f)
        return self.replace_distal(heatmaps, distal)

    def _targets(self, data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        if not data_samples:
            raise ValueError('SCAIPoseEstimator.loss: empty batch')
        # (B, K, h, w)
        gt = torch.stack([d.gt_fields.heatmaps for d in data_samples])
        # (B, K)
        weights = torch.cat(
            [d.gt_instance_labels.keypoint_weights for d in data_samples])
        if gt.shape[1] != self.num_keypoints or weights.shape[
                1] != self.num_keypoints:
            raise ValueError(
                f'SCAIPoseEstimator: targets have {gt.shape[1]} keypoints, '
                'the model '
                f'{self.num_keypoints}')
        return gt, weights

    def loss(self, inputs: Tensor,
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of the current stage (``train_cfg.stage``)."""
        heatmaps, f = self.base_forward(inputs)
        gt, weights = self._targets(data_samples)
        if gt.shape[-2:] != heatmaps.shape[-2:]:
            raise ValueError(
                f'SCAIPoseEstimator: target heatmaps {tuple(gt.shape[-2:])} '
                'differ from the '
                f'model\'s {tuple(heatmaps.shape[-2:])}')
        # inputs first: a NaN image must not reach Φ / Γ / C, whose
        # training-mode BatchNorm would take it into its running statistics
        # before the loss check below could stop the step
        check_finite(
            dict(
                frozen_model_heatmaps=heatmaps,
                frozen_model_features=f,
                target_heatmaps=gt),
            type(self).__name__,
            what='input',
            hint=INPUT_HINT)
        nodes = self.chains.node_heatmaps(heatmaps)  # (B, K+V, h, w)
        gt_nodes = self.chains.node_heatmaps(gt)
        w_nodes = self.chains.node_weights(weights)  # (B, K+V)
        gt_root, gt_distal = self.chains.gather(gt_nodes,
                                                'A'), self.chains.gather(
                                                    gt_nodes, 'D')
        w_root, w_distal = self.chains.gather(w_nodes,
                                              'A'), self.chains.gather(
                                                  w_nodes, 'D')
        if self.train_cfg['stage'] == 'phi_gamma':
            losses = self._loss_phi_gamma(nodes, f, gt_root, gt_distal, w_root,
                                          w_distal)
        else:
            losses = self._loss_correction(nodes, f, gt_root, gt_distal,
                                           w_root, w_distal)
        check_finite(losses, type(self).__name__, hint=LOSS_HINT)
        if self.train_cfg['stage'] == 'correction' and self.training:
            # the training people's selection scores, on heatmaps made as at
            # test time (flip test as configured)
            if self.test_cfg.get('flip_test', False):
                heatmaps, f = self.base_heatmaps_flip(inputs, data_samples)
                nodes = self.chains.node_heatmaps(heatmaps)
            self.record_scores(nodes, f)
        return losses

    def _loss_phi_gamma(self, nodes, f, gt_root, gt_distal, w_root,
                        w_distal) -> Dict[str, Tensor]:
        alternate = self.train_cfg['alternate']
        step = int(self.phi_gamma_steps)
        train_phi = not alternate or step % 2 == 0
        train_gamma = not alternate or step % 2 == 1
        self.phi_gamma_steps += 1
        losses = dict()
        source = self.train_cfg['gamma_distal_input']
        d_hat = None
        if train_phi:
            d_hat = self.predict_distal(nodes, f)
            losses['loss_phi'] = self.heatmap_loss(d_hat, gt_distal, w_distal)
        if train_gamma:
            if source == 'phi':
                if d_hat is None:
                    with torch.no_grad():
                        d_hat = self.predict_distal(nodes, f)
                distal = d_hat.detach()
            elif source == 'gt':
                distal = gt_distal
            else:
                distal = self.chains.gather(nodes, 'D')
            losses['loss_gamma'] = self.heatmap_loss(
                self.feedback(nodes, distal, f), gt_root, w_root)
        return losses

    def _loss_correction(self, nodes, f, gt_root, gt_distal, w_root,
                         w_distal) -> Dict[str, Tensor]:
        root = self.chains.gather(nodes, 'A')
        with torch.no_grad():
            d_hat = self.predict_distal(nodes, f)
            fb_hat = self.feedback(nodes, d_hat, f)
        d_tilde = d_hat + self.correction(
            interleave(self.chains.num_chains, d_hat, root - fb_hat))
        # gradient reaches C through frozen Γ
        fb_tilde = self.feedback(nodes, d_tilde, f)
        return self.correction_loss(d_tilde, gt_distal, fb_tilde, fb_hat,
                                    gt_root, w_distal, w_root)

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Corrected keypoints in MMPose's data samples
        (``pred_instances.keypoints`` …, image space).

        Besides MMPose's fields, ``pred_instances`` holds per chain (1, M) the
        feedback error of the decoded distal heatmap (``scai_error``; NaN
        where none is finite), of the frozen model's H_D
        (``scai_error_frozen``) and of Φ's uncorrected output
        (``scai_error_uncorrected``), whether H̃_D was kept (``scai_kept``)
        and the fallback code (``scai_fallback``: 0 none, 1 no visible start
        joint, 2 non-finite); per person whether C was adapted
        (``scai_adapted``, (1,)) and its selection z-score
        (``scai_select_z``); and the frozen model's own keypoints
        (``scai_frozen_keypoints``, (1, K, 2), image space).

        With test-time adaptation on, the instances go through the frozen
        model, Φ, Γ and C one at a time (a test batch of one each): the
        adaptation amplifies rounding differences to visible ones (see
        :mod:`.adaptation`), and a convolution over one instance rounds
        differently from the same instance in a batch, so this is what keeps an
        instance's keypoints independent of its batch-mates, whether it is
        selected for adaptation included. It costs B forward passes of the
        frozen model instead of one, little next to the adaptation's steps.
        """
        keys = ('error', 'error_uncorrected', 'error_frozen', 'kept',
                'fallback', 'adapted', 'select_z')
        if self.test_cfg['adapt']['enable']:
            parts = [
                self._corrected_heatmaps(
                    inputs[i:i + 1], data_samples[i:i + 1], adapt=True)
                for i in range(inputs.shape[0])
            ]
            frozen, heatmaps = (
                torch.cat([p[k] for p in parts]) for k in range(2))
            info = {k: torch.cat([p[2][k] for p in parts]) for k in keys}
        else:
            frozen, heatmaps, info = self._corrected_heatmaps(
                inputs, data_samples, adapt=False)
        self._count_fallbacks(info['fallback'])
        preds = self.base.head.decode(heatmaps)
        check_finite(
            dict(
                keypoints=torch.from_numpy(
                    np.stack([p.keypoints for p in preds])),
                keypoint_scores=torch.from_numpy(
                    np.stack([p.keypoint_scores for p in preds])),
                frozen_model_heatmaps=frozen),
            type(self).__name__,
            what='prediction',
            hint=PREDICTION_HINT)
        frozen_preds = self.base.head.decode(frozen)
        for i, (pred, sample) in enumerate(zip(preds, data_samples)):
            for key in keys:
                value = info[key][i:i + 1].cpu()
                if value.is_floating_point():
                    value = value.float()
                setattr(pred, f'scai_{key}', value.numpy())
            # in image space, as add_pred_to_datasample converts `keypoints`
            meta = sample.metainfo
            pred.scai_frozen_keypoints = (
                frozen_preds[i].keypoints / meta['input_size'] *
                meta['input_scale'] + meta['input_center'] -
                0.5 * meta['input_scale'])
        fields = None
        if self.test_cfg.get('output_heatmaps', False):
            fields = [PixelData(heatmaps=hm) for hm in heatmaps.detach()]
        return self.base.add_pred_to_datasample(preds, fields, data_samples)

    def _count_fallbacks(self, fallback: Tensor) -> None:
        """Add a batch's fallbacks (B, M) to ``fallback_counts`` and say so in
        the log (a non-finite error as a warning)."""
        counts = [int((fallback == code).sum()) for code in (1, 2)]
        if not any(counts):
            return
        for reason, n in zip(FALLBACK_REASONS, counts):
            self.fallback_counts[reason] += n
        print_log(
            f'SCAIPoseEstimator: {sum(counts)} of {fallback.numel()} distal '
            'heatmaps fell back to the frozen model\'s (' +
            ', '.join(f'{reason}: {n}'
                      for reason, n in zip(FALLBACK_REASONS, counts)) +
            '); since construction: ' +
            ', '.join(f'{r}: {n}' for r, n in self.fallback_counts.items()),
            'current', logging.WARNING if counts[1] else logging.INFO)

    def _corrected_heatmaps(self, inputs: Tensor, data_samples: SampleList,
                            adapt: bool
                            ) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """Frozen-model and corrected heatmaps, and :meth:`correct`'s dict.

        The frozen model's heatmaps use flip test as configured; both are (B,
        K, h, w), float32 (MMPose decodes with numpy, which has no bfloat16).
        """
        heatmaps, f = self.base_heatmaps_flip(inputs, data_samples)
        with torch.no_grad():
            distal, info = self.correct(
                self.chains.node_heatmaps(heatmaps), f, adapt=adapt)
        heatmaps = heatmaps.float()
        return heatmaps, self.replace_distal(heatmaps, distal.float()), info
