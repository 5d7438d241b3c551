"""Top-down coordinate-classification head whose bin codes are sine encodings
(SimCC/RTMCC family).

SimCC (Li et al., ECCV 2022) and RTMPose's RTMCC head classify each keypoint's
x and y against ``W·s`` and ``H·s`` bins with a free Linear classifier; its
weight rows act as learned position codes of the bins. Here the codes are
explicit: the ``DynamicCoordinateClassifier`` of RTMO (Lu et al., CVPR 2024) in
static mode, i.e. the sine encoding of each bin's coordinate followed by a
learned Linear per axis. The keypoint coordinates are the softmax expectations
over the bins, and a per-keypoint σ (RTMO's Laplace scale, in units of the
instance size) gives Laplace-integral keypoint scores (Poseur's score,
``LaplaceIntegralScorer``).

Pipeline: last feature map → conv to K channels (RTMCC's ``final_layer``) →
each keypoint's own map flattened to an h·w vector → DCC with
``input_mode='keypoint'``: a ScaleNorm + Linear shared by the keypoints
(RTMCC's ``mlp``) gives the K keypoint features, whose dot products with
the sine-coded static bins, scaled by 1/√C, are the logits; σ from a shared
Linear.

Why this start (measured, ``docs/coord_cls.md``): RTMO's layout (all K maps in
one pose vector → Linear + BatchNorm → MMPose's GAU) with a raw dot product
puts 0.7 of the probability on one bin before the first step (logit range
~200). The MLE loss is linear in the bin probabilities, so its gradient
vanishes on a saturated softmax, and that head never left the mean pose. Here
the softmax starts near uniform (logit range ~1, like SimCC's) and the
keypoints learn as fast as SimCC's. The RTMO layout, the raw product and a GAU
stay available (``input_mode='pose'``, ``logit_scale=1.0``, ``gau_cfg``).

Targets: with ``CoordMLELoss`` the head reads ``keypoint_labels`` in [0, 1] of
``input_size`` (MMPose's ``RegressionLabel`` codec) and normalises errors by
the input area; with MMPose's ``KLDiscretLoss`` it reads SimCC labels: the
``SimCCLabel`` codec with ``simcc_split_ratio`` equal to this head's, since the
static bins sit at SimCC's ``i / split_ratio``. σ is trained only by
``CoordMLELoss``.

Under autocast (AMP) the conv and the DCC's keypoint-feature layers run in the
autocast dtype; logits, keypoints, σ, the loss and the scores are float32 (see
``dcc.py``). A non-finite output, loss term or prediction raises
:class:`~mmpose_ext.models.common.NonFiniteError` naming this head (before the
optimizer update in training). Any batch size works, one included.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.evaluation.functional import (keypoint_pck_accuracy,
                                          simcc_pck_accuracy)
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, InstanceList, OptConfigType,
                                 OptSampleList)
from torch import Tensor, nn

from ..common.finite import check_head
from ..common.keypoint_count import resolve_num_keypoints
from .dcc import resolve_logit_scale
from .mle_loss import CoordMLELoss


@MODELS.register_module()
class SineCoordClsHead(BaseHead):
    """Top-down head classifying coordinates against sine-encoded static bins,
    with σ-based scores.

    Note:
        - batch (instances): B
        - keypoints: K
        - feature map: C × h × w
        - bins: Bx = W·s, By = H·s for input size (W, H) and split ratio s

    Args:
        in_channels (int): C.
        num_keypoints (int, optional): K; read from ``metainfo`` when None
            (checked against the data in ``loss``).
        input_size (tuple[int, int]): (W, H) of the input image.
        in_featuremap_size (tuple[int, int]): (w, h) of the last feature map.
        simcc_split_ratio (float): s, bins per pixel. Defaults to 2.0.
        final_layer_kernel_size (int): Kernel of the conv to K channels
            (RTMPose: 7). Defaults to 1.
        feat_channels (int): Keypoint feature channels of the DCC. Defaults to
            128.
        spe_channels (int): Sine-encoding dims of a bin coordinate. Defaults to
            128.
        spe_temperature (float): Sine-encoding temperature. Defaults to 300.
        input_mode (str): ``'keypoint'`` (default): each keypoint's own
            flattened map (h·w) becomes its feature through a shared
            ScaleNorm + Linear, RTMCC's layout. ``'pose'``: the K maps
            flattened into one pose vector → Linear(K·h·w → K·C) +
            BatchNorm, RTMO's DCC layout (the head's earlier default).
        gau_cfg (dict, optional): MMPose ``GAUEncoder`` config refining the
            keypoint features. Defaults to None (measured: no gain at CPU
            budgets, twice the head's time).
        gau_init (str): The GAU's start, ``'near_identity'`` (default) or
            ``'mmpose'`` (see ``DynamicCoordinateClassifier``).
        logit_scale (float | str): Factor on the logits; ``'rsqrt'``
            (default) = 1/√``feat_channels``, 1.0 = MMPose's raw dot
            product.
        learn_logit_scale (bool): Learn the factor as a temperature started
            at ``logit_scale``. Defaults to False.
        loss (dict): ``CoordMLELoss`` or MMPose's ``KLDiscretLoss``.
        scorer (dict): Keypoint score from the Laplace scale (in units of
            √(W·H)).
        metainfo (dict, optional): The dataset metainfo giving K, e.g.
            ``dict(from_file='configs/_base_/datasets/coco.py')``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: Optional[int] = None,
                 input_size: Optional[Sequence[int]] = None,
                 in_featuremap_size: Optional[Sequence[int]] = None,
                 simcc_split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 1,
                 feat_channels: int = 128,
                 spe_channels: int = 128,
                 spe_temperature: float = 300.0,
                 input_mode: str = 'keypoint',
                 gau_cfg: Optional[dict] = None,
                 gau_init: str = 'near_identity',
                 logit_scale: Union[float, str] = 'rsqrt',
                 learn_logit_scale: bool = False,
                 loss: ConfigType = dict(type='CoordMLELoss'),
                 scorer: ConfigType = dict(
                     type='LaplaceIntegralScorer', radius=0.1),
                 metainfo: Optional[dict] = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        num_keypoints = resolve_num_keypoints(num_keypoints, metainfo,
                                              type(self).__name__)
        # a bad scale is an error naming this head, not the inner module
        resolve_logit_scale(logit_scale, feat_channels, type(self).__name__)
        if input_size is None or in_featuremap_size is None:
            raise ValueError(
                f'{type(self).__name__}: give input_size=(W, H) and '
                'in_featuremap_size=(w, h)')
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.input_size = tuple(int(s) for s in input_size)
        self.in_featuremap_size = tuple(int(s) for s in in_featuremap_size)
        self.simcc_split_ratio = float(simcc_split_ratio)
        w, h = self.input_size
        num_bins = (int(w * simcc_split_ratio), int(h * simcc_split_ratio))

        self.final_layer = nn.Conv2d(
            in_channels,
            num_keypoints,
            final_layer_kernel_size,
            padding=final_layer_kernel_size // 2)
        map_dims = self.in_featuremap_size[0] * self.in_featuremap_size[1]
        self.input_mode = input_mode
        self.dcc = MODELS.build(
            dict(
                type='DynamicCoordinateClassifier',
                # one h·w vector per keypoint, or all K of them in one
                in_channels=map_dims *
                (num_keypoints if input_mode == 'pose' else 1),
                num_keypoints=num_keypoints,
                feat_channels=feat_channels,
                num_bins=num_bins,
                spe_channels=spe_channels,
                spe_temperature=spe_temperature,
                input_mode=input_mode,
                gau_cfg=gau_cfg,
                gau_init=gau_init,
                logit_scale=logit_scale,
                learn_logit_scale=learn_logit_scale,
                static_size=self.input_size))
        self.loss_module = MODELS.build(loss)
        self.scorer = MODELS.build(scorer)
        # instance size for the MLE error normalisation and the σ units
        self.area = float(w * h)

    def forward(self,
                feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the head on the last feature level.

        Args:
            feats (tuple[Tensor]): multi-level features; the last, (B, C, h,
                w), is used.

        Returns:
            tuple: x logits (B, K, Bx), y logits (B, K, By), keypoints (B, K,
            2) normalised to [0, 1] of ``input_size`` (MMPose's regression-head
            convention, O(1) values for export checks), σ (B, K).
        """
        x = feats[-1]
        if tuple(x.shape[-2:]) != self.in_featuremap_size[::-1]:
            raise ValueError(
                f'{type(self).__name__}: feature map is '
                f'{tuple(x.shape[-2:])} (h, w), configured '
                f'in_featuremap_size (w, h) = {self.in_featuremap_size}')
        x = self.final_layer(x)  # (B, K, h, w)
        if self.input_mode == 'pose':
            pose = x.flatten(1)  # (B, K*h*w): one pose vector per instance
        else:
            pose = x.flatten(2)  # (B, K, h*w): one vector per keypoint
        # kpts in input-image pixels
        x_logits, y_logits, kpts, sigma = self.dcc(pose)
        return x_logits, y_logits, kpts / kpts.new_tensor(
            self.input_size), sigma

    def _scores(self, sigma: Tensor) -> Tensor:
        """σ (B, K) → scores (B, K).

        The MLE kernel exp(−|d|/(√area·σ)/2) is a Laplace of scale 2σ.
        """
        # (B, K, 2), same scale on both axes
        scale = (2 * sigma).unsqueeze(-1).expand(*sigma.shape, 2)
        return self.scorer(scale)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: OptConfigType = {}) -> InstanceList:
        """Flip-TTA (average of the keypoints, the flipped ones mirrored x → W.

        − 1 − x and re-indexed, and of σ), then Laplace-integral scores.

        Keypoints are in input-image pixels, as MMPose's top-down estimator
        expects.
        """
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            # else a shape error deep in the fusion below
            if len(flip_indices) != self.num_keypoints:
                raise ValueError(
                    f'{type(self).__name__}.predict: {len(flip_indices)} '
                    'flip_indices for '
                    f'{self.num_keypoints} keypoints: the data has another '
                    'keypoint set than the '
                    'head (num_keypoints / metainfo)')
            _, _, kpts, sigma = self.forward(feats[0])
            _, _, kpts_flip, sigma_flip = self.forward(feats[1])
            # (B, K, 2), keypoints swapped left/right
            kpts_flip = kpts_flip[:, flip_indices]
            # mirror in pixels, x → W − 1 − x, written in normalised units
            kpts_flip = torch.stack(
                (1 - (kpts_flip[..., 0] * self.input_size[0] + 1) /
                 self.input_size[0], kpts_flip[..., 1]),
                dim=-1)
            kpts = (kpts + kpts_flip) * 0.5
            sigma = (sigma + sigma_flip[:, flip_indices]) * 0.5
        else:
            _, _, kpts, sigma = self.forward(feats)
        scores = self._scores(sigma)
        # (B, K, 2) input-image pixels
        kpts = kpts * kpts.new_tensor(self.input_size)
        check_head(
            dict(keypoints=kpts, keypoint_scores=scores),
            type(self).__name__, 'prediction', feats)
        kpts, scores = to_numpy(kpts), to_numpy(scores)
        return [
            InstanceData(
                keypoints=kpts[i:i + 1], keypoint_scores=scores[i:i + 1])
            for i in range(kpts.shape[0])
        ]

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Loss (``CoordMLELoss`` on coordinates or ``KLDiscretLoss`` on SimCC
        labels) and PCK accuracy."""
        owner = type(self).__name__
        x_logits, y_logits, kpts, sigma = self.forward(feats)
        check_head(
            dict(
                x_logits=x_logits,
                y_logits=y_logits,
                keypoints=kpts,
                sigma=sigma),
            owner,
            'output',
            feats,
            hint='The step is stopped before the loss and the optimizer '
            'update.')
        # (B, K, 2) input-image pixels
        kpts = kpts * kpts.new_tensor(self.input_size)
        labels = [d.gt_instance_labels for d in batch_data_samples]
        # (B, K)
        weights = torch.cat([lab.keypoint_weights for lab in labels]).to(kpts)
        if weights.shape != kpts.shape[:2]:
            raise ValueError(
                f'{type(self).__name__}: data has keypoint weights '
                f'{tuple(weights.shape)}, head '
                f'predicts (B, K) = {tuple(kpts.shape[:2])}: num_keypoints '
                'must match the '
                'dataset metainfo')
        mask = to_numpy(weights) > 0
        if isinstance(self.loss_module, CoordMLELoss):
            if 'keypoint_labels' not in labels[0]:
                raise KeyError(
                    f'{type(self).__name__} with CoordMLELoss needs '
                    'keypoint_labels in [0, 1] of '
                    'input_size (MMPose\'s RegressionLabel codec)')
            size = kpts.new_tensor(self.input_size)
            # (B, K, 2) pixels
            targets = torch.cat([lab.keypoint_labels
                                 for lab in labels]).to(kpts) * size
            x_bins, y_bins = self.dcc.bin_coords()
            areas = kpts.new_full((kpts.size(0), ), self.area)
            loss = self.loss_module(x_logits, y_logits, x_bins, y_bins, sigma,
                                    targets, weights, areas)
            _, acc, _ = keypoint_pck_accuracy(
                to_numpy(kpts),
                to_numpy(targets),
                mask,
                thr=0.05,
                norm_factor=np.tile(
                    np.array(self.input_size, dtype=np.float32),
                    (kpts.size(0), 1)))
        else:
            # (B, K, Bx)
            gt_x = torch.cat([lab.keypoint_x_labels for lab in labels])
            # (B, K, By)
            gt_y = torch.cat([lab.keypoint_y_labels for lab in labels])
            loss = self.loss_module((x_logits, y_logits), (gt_x, gt_y),
                                    weights)
            _, acc, _ = simcc_pck_accuracy(
                (to_numpy(x_logits), to_numpy(y_logits)),
                (to_numpy(gt_x), to_numpy(gt_y)), self.simcc_split_ratio, mask)
        losses = dict(
            loss_kpt=loss, acc_pose=torch.tensor(acc, device=kpts.device))
        check_head(losses, owner, 'loss', feats)
        return losses
