"""PoseurHead: Poseur's coarse-to-fine regression head for MMPose 1.x
top-down models.

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022); the official code (aim-uofa/Poseur, MMPose 0.28) is followed where it
differs from the paper. Flow of one forward:

    neck levels (B, C, h_l, w_l) ──► memory = feat + sine PE + level
        embedding, flattened (B, S, C)
    lowest level ──► CoarseStage ──► coarse keypoints (B, K, 2) + σ
                                                  [RLE loss, own flow]
    coarse keypoints (detached) [+ noisy groups in training]
        ──► KeypointEncoder ──► queries
    queries + per-keypoint position embedding ──► PoseurQueryDecoder (EMSDA)
        ──► coordinates + σ per decoder layer     [RLE loss, shared flow]

Inference keeps the clean group of the last layer. As the official code and its
COCO configs, a keypoint's score is ``1 − mean(σ)``, and flip test averages the
two predictions and their scores; ``score='laplace'`` scores by the Laplace
integral of σ (:class:`~mmpose_ext.models.common.LaplaceIntegralScorer`) and
``flip_fusion='laplace'`` is the official ``type2`` fusion, weights ``p**5`` of
the Laplace scores. K comes from ``num_keypoints`` or the dataset
``metainfo``; nothing assumes 17.

Mixed precision (fp16/bf16 autocast): the official code trains in fp16 with the
decoder and the losses in float32. Here, by default (``fp32_decoder=True``), so
does this head: the keypoint encoder and the query decoder run with autocast
off. With ``fp32_decoder=False`` the transformer, the branches and every Linear
follow autocast, and float32 islands keep the numbers that need the digits:
EMSDA's sampling locations, softmax and weighted bilinear sum
(:meth:`~mmpose_ext.models.common.EMSDA.sample`); the coordinate/σ updates of
every layer (coordinates and σ leave the head in float32). Either way the
coarse stage's Linear layers follow autocast (their outputs are float32), and
the RLE flow losses (:class:`~mmpose_ext.models.common.RLEFlowLoss`), the
scores, flip fusion and decoding are float32.

Non-finite values stop the step with a
:class:`~mmpose_ext.models.common.NonFiniteError` naming the head: its outputs
in ``loss`` (before the flows, with the cause: non-finite features reaching
the head, or the head itself), the loss terms at the end of ``loss``, the
decoded keypoints and scores in ``predict``.
"""
import contextlib
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.models.layers import SinePositionalEncoding
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_coordinates
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor, nn

from ..common.finite import check_finite, check_head, check_instances
from ..common.keypoint_count import resolve_num_keypoints
from ..common.laplace_scorer import LaplaceIntegralScorer
from ..common.precision import at_least_fp32, fp32_region
from .coarse_stage import CoarseStage
from .keypoint_encoder import KeypointEncoder
from .noisy_reference import NoisyReferenceSampler
from .query_decoder import PoseurQueryDecoder

_OUTPUT_NAMES = ('coarse_coords', 'coarse_sigma', 'decoder_coords',
                 'decoder_sigma')


def _poseur_rle_loss() -> dict:
    """Poseur's RLE loss (official ``RLELoss_poseur``): σ already positive,
    prior N(0.5, I), its residual term, and the sum divided by every keypoint
    slot, B·K (coarse) or B·G·K (a decoder layer)."""
    return dict(
        type='RLEFlowLoss',
        use_target_weight=True,
        sigma_activation=None,
        prior_mean=0.5,
        q_distribution='poseur',
        normalize='keypoint')


def rle_score(sigma: Tensor) -> Tensor:
    """RLE's keypoint score ``1 − mean(σ)`` over the axes: (..., 2) → (...), in
    float32."""
    return 1.0 - at_least_fp32(sigma).mean(-1)


_INIT_SCHEMES = ('official', 'detr')
_FLIP_FUSIONS = ('laplace', 'default', 'average')
_SCORES = ('rle', 'laplace')


@MODELS.register_module()
class PoseurHead(BaseHead):
    """Poseur head.

    Note:
        - batch: B
        - keypoints: K
        - query groups: G (1 at inference; 1 + ``noise_cfg['num_groups']`` in
          training)
        - decoder layers: D = ``num_decoder_layers``
        - channels: C = ``embed_dims``
        - levels: L = ``num_levels``

    Args:
        in_channels (int): Channels of every neck level (must equal
            ``embed_dims``; the neck, e.g. MMPose's ``ChannelMapper`` with
            GroupNorm, maps the backbone to it).
        num_keypoints (int, optional): K. Taken from ``metainfo`` when None.
        metainfo (dict, optional): Dataset metainfo, e.g.
            ``dict(from_file='configs/_base_/datasets/crowdpose.py')``.
        num_levels (int): L, neck levels used (the last L of the neck's
            outputs).
        embed_dims (int): C.
        num_heads (int): Heads of self- and cross-attention.
        num_points (int): EMSDA points per head and level.
        num_decoder_layers (int): D (official: 6; 3 for small variants).
        share_decoder_layers (bool): One decoder layer's parameters for all D
            iterations.
        feedforward_channels (int): FFN width.
        dropout (float): Decoder dropout.
        num_reg_fcs (int): Hidden layers of the per-layer coordinate/σ
            branches.
        coord_bias_init (float, optional): Initial bias of the coarse
            ``fc_coord``; None follows ``init_scheme`` (``'official'``:
            PyTorch's default, ≈ 0; ``'detr'``: 0.5, the image centre).
        init_scheme (str): How the weights start (see :meth:`init_weights`).
            ``'official'``: as the official code starts (its
            ``PoseurHead.init_weights`` after the modules' constructors): every
            ≥ 2-D parameter of the decoder layers, the keypoint encoder and the
            query position embedding Xavier-uniform (EMSDA's offsets and
            attention weights too, with the DETR offset ring and zero biases of
            its constructor kept), EMSDA's value projection drawn as the
            official (H·C, C/H) and (H, C/H) matrices
            (:meth:`~mmpose_ext.models.common.EMSDA.init_official`), the
            keypoint encoder's bias PyTorch's default, the coarse
            ``fc_coord``/``fc_sigma`` Xavier with gain 1 and PyTorch's default
            bias, the per-layer branches at PyTorch's default (σ's last weight
            Xavier gain 0.01) and identical across layers
            (:meth:`~.query_decoder.PoseurQueryDecoder.init_branches_official`),
            and the RealNVP flows of the RLE losses at PyTorch's default.
            ``'detr'``: Deformable DETR's scheme as mmcv runs it (zero offset
            and attention weights, a ring of offset biases, Xavier value
            projection), N(0, 1) query embedding, PyTorch's defaults for the
            FFNs and the self-attention output, coarse layers Xavier with gain
            0.01, the branches' last layers Xavier gain 0.01 with zero bias,
            each branch drawn on its own, and MMPose's RealNVP initialisation
            (Xavier gain 0.01) of the flows.
        fp32_decoder (bool): Under mixed precision run the keypoint encoder and
            the whole query decoder in float32 with autocast off, as the
            official code does (``force_fp32``); False lets autocast run their
            matrix products in half precision (EMSDA sampling and the
            coordinate updates stay float32 islands either way). No effect
            without autocast.
        noise_cfg (dict, optional): :class:`NoisyReferenceSampler` arguments
            (default: the official 3 groups, 4 points, covariance 0.2,
            ``'official'`` mode); ``num_groups=0`` disables.
        loss_coarse (dict, optional): Loss of the coarse stage (default:
            Poseur's ``RLEFlowLoss``).
        loss_decoder (dict, optional): Loss of every decoder layer, one module
            (one flow) shared by the layers (default: Poseur's
            ``RLEFlowLoss``).
        decoder (dict, optional): Codec turning normalised coordinates into
            input-image pixels, e.g.
            ``dict(type='RegressionLabel', input_size=(192, 256))``. Scores
            come from the head.
        score_cfg (dict, optional): :class:`LaplaceIntegralScorer` arguments
            (default: radius 0.2, weight 0.7, the official code's values).
        score (str): Keypoint score without flip test: ``'rle'`` →
            ``1 − mean(σ)`` (the official code's, and MMPose's RLE);
            ``'laplace'`` → the Laplace integral of σ (the official code uses
            it only to fuse flip-test predictions).
        flip_fusion (str): How a flip-test prediction is fused with the plain
            one. ``'default'`` (the official ``post_process='default'`` of its
            COCO configs, also MMPose's RLEHead): coordinates averaged, scores
            the mean of the two ``1 − mean(σ)``; ``'laplace'`` (the official
            ``type2``): coordinates weighted by ``p**fusion_power`` with ``p``
            the Laplace scores, which are averaged; ``'average'``: coordinates
            and Laplace scores averaged.
        fusion_power (float): Exponent of the ``'laplace'`` fusion weights
            (official: 5).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 num_keypoints: Optional[int] = None,
                 metainfo: Optional[dict] = None,
                 num_levels: int = 4,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 num_points: int = 4,
                 num_decoder_layers: int = 6,
                 share_decoder_layers: bool = False,
                 feedforward_channels: int = 1024,
                 dropout: float = 0.1,
                 num_reg_fcs: int = 2,
                 coord_bias_init: Optional[float] = None,
                 init_scheme: str = 'official',
                 fp32_decoder: bool = True,
                 noise_cfg: Optional[dict] = None,
                 loss_coarse: OptConfigType = None,
                 loss_decoder: OptConfigType = None,
                 decoder: OptConfigType = None,
                 score_cfg: Optional[dict] = None,
                 score: str = 'rle',
                 flip_fusion: str = 'default',
                 fusion_power: float = 5.0,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        if in_channels != embed_dims:
            raise ValueError(
                f'PoseurHead: in_channels ({in_channels}) must equal '
                'embed_dims '
                f'({embed_dims}); map the backbone with a neck (ChannelMapper)'
            )
        for name, value, choices in (('init_scheme', init_scheme,
                                      _INIT_SCHEMES),
                                     ('flip_fusion', flip_fusion,
                                      _FLIP_FUSIONS), ('score', score,
                                                       _SCORES)):
            if value not in choices:
                raise ValueError(
                    f'PoseurHead: {name} must be one of {choices}, got '
                    f'{value!r}')
        self.in_channels = in_channels
        self.num_keypoints = resolve_num_keypoints(num_keypoints, metainfo,
                                                   'PoseurHead')
        self.num_levels = num_levels
        self.embed_dims = embed_dims
        self.flip_fusion = flip_fusion
        self.score = score
        self.fusion_power = float(fusion_power)
        self.init_scheme = init_scheme
        self.fp32_decoder = fp32_decoder
        if coord_bias_init is None and init_scheme == 'detr':
            coord_bias_init = 0.5
        self.coord_bias_init = coord_bias_init

        self.positional_encoding = SinePositionalEncoding(
            num_feats=embed_dims // 2, normalize=True, offset=-0.5)
        self.level_embeds = nn.Parameter(torch.randn(num_levels, embed_dims))
        self.coarse_stage = CoarseStage(
            embed_dims, self.num_keypoints,
            0.5 if coord_bias_init is None else coord_bias_init)
        self.noisy_references = NoisyReferenceSampler(
            **(noise_cfg if noise_cfg is not None else {}))
        self.keypoint_encoder = KeypointEncoder(embed_dims)
        self.query_pos = nn.Embedding(self.num_keypoints, embed_dims)
        self.query_decoder = PoseurQueryDecoder(
            num_layers=num_decoder_layers,
            share_layers=share_decoder_layers,
            num_reg_fcs=num_reg_fcs,
            embed_dims=embed_dims,
            num_heads=num_heads,
            num_levels=num_levels,
            num_points=num_points,
            feedforward_channels=feedforward_channels,
            dropout=dropout)
        self.coarse_loss = MODELS.build(
            loss_coarse if loss_coarse is not None else _poseur_rle_loss())
        self.decoder_loss = MODELS.build(
            loss_decoder if loss_decoder is not None else _poseur_rle_loss())
        self.scorer = LaplaceIntegralScorer(
            **(score_cfg if score_cfg is not None else dict(
                radius=0.2, weight=0.7)))
        self.decoder = KEYPOINT_CODECS.build(
            decoder) if decoder is not None else None
        self._apply_init_scheme()

    # ------------------------------------------------------------------
    # initialisation
    def init_weights(self) -> None:
        """MMEngine's ``init_weights``, then this head's ``init_scheme`` again.

        What MMEngine does here: ``BaseModule.init_weights`` calls the
        ``init_weights`` of direct children only. The head's children that have
        one are the query decoder (a ``BaseModule`` without its own) and the
        position encoding (no parameters); the decoder's layers sit in an
        ``nn.ModuleList``, which has none, so neither EMSDA's ``init_weights``
        nor the FFNs' are ever called, and the flows (inside ``nn.Module``
        losses) are not reached either. Every module therefore keeps what its
        constructor drew, and the scheme applied in ``__init__`` is drawn again
        here (same distributions, new draws). With ``'detr'`` that leaves the
        constructors' initialisation, EMSDA's DETR one included.

        What the official code does: its detector's ``init_weights`` calls its
        ``PoseurHead.init_weights``, which runs
        ``PoseurTransformer.init_weights`` (Xavier on every ≥ 2-D transformer
        parameter, level embeddings N(0, 1), a gain-0.01 pass over the coarse
        layers that never matches because they are not ``nn.Linear``) and two
        gain-0.01 loops over the branches that never match either (see
        ``init_scheme`` in the class docstring).

        With an ``init_cfg`` (e.g. ``Pretrained``) only that applies.
        """
        super().init_weights()
        if self.init_cfg is None:
            self._apply_init_scheme()

    @torch.no_grad()
    def _apply_init_scheme(self) -> None:
        """Re-initialise for ``init_scheme`` (see the class docstring);
        ``'detr'`` is what the modules do when built, so only the coarse bias
        needs setting there."""
        coarse = self.coarse_stage
        if self.init_scheme == 'official':
            for module in (self.keypoint_encoder, self.query_pos,
                           *self.query_decoder.layers):
                for p in module.parameters():
                    if p.dim() > 1:
                        nn.init.xavier_uniform_(p)
            for layer in self.query_decoder.layers:
                # DETR biases, Xavier matrices, official value projection
                layer.cross_attn.init_official()
            # the official pos_trans keeps PyTorch's default bias
            proj = self.keypoint_encoder.proj
            fan_in = proj.weight.shape[1]
            nn.init.uniform_(proj.bias, -fan_in**-0.5, fan_in**-0.5)
            for fc in (coarse.fc_coord, coarse.fc_sigma):
                nn.init.xavier_uniform_(fc.weight, gain=1.0)
                # the bias keeps PyTorch's default U(±1/√fan_in)
                fan_in = fc.weight.shape[1]
                nn.init.uniform_(fc.bias, -fan_in**-0.5, fan_in**-0.5)
            self.query_decoder.init_branches_official()
            # the official code never initialises its RealNVP flows (its
            # RealNVP._init is never called); MMPose's RealNVP draws Xavier
            # gain 0.01 in its constructor: back to PyTorch's defaults
            for loss in (self.coarse_loss, self.decoder_loss):
                flow = getattr(loss, 'flow_model', None)
                if isinstance(flow, nn.Module):
                    for m in flow.modules():
                        if isinstance(m, nn.Linear):
                            m.reset_parameters()
        if self.coord_bias_init is not None:
            nn.init.constant_(coarse.fc_coord.bias, self.coord_bias_init)

    # ------------------------------------------------------------------
    # forward
    def _position_embedding(self, h: int, w: int, device, dtype) -> Tensor:
        """The sine position embedding of an (h, w) level without padding, (1,
        C, h, w), contiguous.

        It depends on (h, w) only, so eager calls keep it per (h, w, device,
        dtype). ``SinePositionalEncoding`` returns it channels-last in memory,
        and adding that to an NCHW feature map runs a strided loop (4 ms of a
        1×256×64×48 add on one CPU thread, a tenth of the head at batch 1); the
        cached copy is NCHW-contiguous. While tracing/exporting it is computed
        in the graph, as before.
        """
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        key = (h, w, str(device), dtype)
        # not a buffer: no state-dict entry
        cache = self.__dict__.setdefault('_pos_cache', {})
        if tracing or key not in cache:
            # no padding in top-down crops
            mask = torch.zeros((1, h, w), dtype=torch.bool, device=device)
            pos = self.positional_encoding(mask).to(dtype)
            if tracing:
                return pos
            cache[key] = pos.contiguous()
        return cache[key]

    def _memory(self, feats: Sequence[Tensor]) -> Tuple[Tensor, list]:
        """Flatten the levels into (B, S, C) with sine position and level
        embeddings added (the official code's zero-layer encoder returns
        exactly this)."""
        memory, sizes = [], []
        for lvl, feat in enumerate(feats):
            B, C, h, w = feat.shape
            # (1, C, h, w): the position and level embeddings added first
            # (one pass over the small map, not two over the batch)
            pos = self._position_embedding(h, w, feat.device, feat.dtype)
            embed = pos + self.level_embeds[lvl].view(1, C, 1, 1)
            memory.append((feat + embed).flatten(2))  # (B, C, h*w)
            sizes.append((h, w))
        # (B, S, C): one contiguous concatenation and one transposing copy,
        # 2-4x cheaper on CPU than concatenating transposed views
        return torch.cat(memory, 2).transpose(1, 2).contiguous(), sizes

    def forward(self,
                feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the head (tensors only, exportable).

        Args:
            feats (tuple[Tensor]): Neck levels, each (B, C, h_l, w_l); the last
                L are used, coarsest last.

        Returns:
            tuple of float32 tensors (also under autocast):
            - coarse coordinates (B, K, 2) in normalised input-image units,
            - coarse σ (B, K, 2),
            - decoder coordinates (B, D, G·K, 2), group-major (the clean group
              first),
            - decoder σ (B, D, G·K, 2).
        """
        feats = tuple(feats)
        if len(feats) < self.num_levels:
            raise ValueError(
                f'PoseurHead expects {self.num_levels} feature levels, got '
                f'{len(feats)}')
        feats = feats[-self.num_levels:]
        memory, sizes = self._memory(feats)  # (B, S, C)
        # (B, K, 2) each
        coarse_coords, coarse_sigma = self.coarse_stage(feats[-1])
        # reference points: the coarse keypoints, no gradient
        ref = coarse_coords.detach()
        groups = 1
        if self.training and self.noisy_references.num_groups > 0:
            # (B, G*K, 2)
            ref = torch.cat([ref, self.noisy_references(ref)], 1)
            groups += self.noisy_references.num_groups
        with fp32_region(memory.device
                         ) if self.fp32_decoder else contextlib.nullcontext():
            if self.fp32_decoder:
                memory = at_least_fp32(memory)
            query = self.keypoint_encoder(ref)  # (B, G*K, C)
            B = query.shape[0]
            # (B, G*K, C)
            query_pos = self.query_pos.weight.repeat(groups, 1)[None].expand(
                B, -1, -1)
            dec_coords, dec_sigma = self.query_decoder(query, query_pos,
                                                       memory, ref, sizes,
                                                       groups)
        return coarse_coords, coarse_sigma, dec_coords, dec_sigma

    def _final(self, feats) -> Tuple[Tensor, Tensor]:
        """Clean-group prediction of the last decoder layer: coordinates and σ,
        (B, K, 2) each."""
        _, _, coords, sigma = self.forward(feats)
        return coords[:,
                      -1, :self.num_keypoints], sigma[:,
                                                      -1, :self.num_keypoints]

    # ------------------------------------------------------------------
    # inference
    def fuse_flip(self, coords: Tensor, sigma: Tensor, coords_flip: Tensor,
                  sigma_flip: Tensor) -> Tuple[Tensor, Tensor]:
        """Fuse a prediction with its flipped-back counterpart.

        Args:
            coords, coords_flip (Tensor): (B, K, 2), the second already flipped
            back. sigma, sigma_flip (Tensor): (B, K, 2).

        Returns:
            tuple: fused coordinates (B, K, 2) and scores (B, K).
        """
        if self.flip_fusion == 'default':
            return (coords + coords_flip) * 0.5, (rle_score(sigma) +
                                                  rle_score(sigma_flip)) * 0.5
        p, p_flip = self.scorer(sigma), self.scorer(sigma_flip)  # (B, K)
        if self.flip_fusion == 'average':
            return (coords + coords_flip) * 0.5, (p + p_flip) * 0.5
        w, w_flip = p**self.fusion_power, p_flip**self.fusion_power
        fused = (coords * w[..., None] + coords_flip * w_flip[..., None]) / \
            (w + w_flip + 1e-10)[..., None]
        return fused, (p + p_flip) * 0.5

    def predict(self,
                feats: Union[Tuple[Tensor], list],
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Keypoints (input-image pixels, via the codec) and scores (``score``
        without flip test, ``flip_fusion``'s with it; ``feats`` is then
        ``[feats, feats_of_flipped_images]``).

        The flipped prediction is mapped back with MMPose's
        ``flip_coordinates``: with ``shift_coords`` ``x ↦ W − 1 − x`` in input
        pixels, the exact mirror of the image flip (pixel i ↦ W − 1 − i) under
        the pixel-centre convention of MMPose's codecs. The official code
        shifts the flipped-back x by a fixed +0.5 px instead, which is off the
        mirror by half a pixel (0.26 % of a 192 px crop).
        """
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            input_size = batch_data_samples[0].metainfo['input_size']
            if len(flip_indices) != self.num_keypoints:
                raise ValueError(
                    f'PoseurHead: {len(flip_indices)} flip indices for '
                    f'{self.num_keypoints} keypoints (dataset metainfo and '
                    'head disagree)')
            coords, sigma = self._final(feats[0])
            flipped = flip_coordinates(
                torch.cat(self._final(feats[1]), -1),
                flip_indices=flip_indices,
                # (B, K, 4)
                shift_coords=test_cfg.get('shift_coords', True),
                input_size=input_size)
            coords, scores = self.fuse_flip(coords, sigma, flipped[..., :2],
                                            flipped[..., 2:])
        else:
            coords, sigma = self._final(feats)
            # (B, K)
            scores = self.scorer(
                sigma) if self.score == 'laplace' else rle_score(sigma)

        # codec: normalised → input pixels, (1, K, 2) each
        preds = self.decode(coords.unsqueeze(1))
        for pred, score in zip(preds, to_numpy(scores)):
            pred.keypoint_scores = score[None]  # (1, K)
        check_instances(preds, type(self).__name__, feats)
        return preds

    # ------------------------------------------------------------------
    # training
    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """RLE losses of the coarse stage and of every decoder layer (all
        groups), plus PCK@0.05 of the final clean prediction."""
        outputs = self.forward(feats)  # float32 (see forward)
        # before the flows: a non-finite output is the head's (or its
        # features'), not the loss's
        check_head(
            dict(zip(_OUTPUT_NAMES, outputs)),
            type(self).__name__, 'output', feats)
        coarse_coords, coarse_sigma, dec_coords, dec_sigma = outputs
        labels = torch.cat(
            [d.gt_instance_labels.keypoint_labels for d in batch_data_samples])
        weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        K = self.num_keypoints
        if labels.shape[-2] != K:
            raise ValueError(
                f'PoseurHead has {K} keypoints but the targets have '
                f'{labels.shape[-2]}: '
                'set num_keypoints / metainfo to the dataset\'s keypoint set')
        # (B, K, 2), normalised by the input size
        labels = at_least_fp32(labels)
        weights = at_least_fp32(weights)  # (B, K)

        groups = dec_coords.shape[2] // K
        # (B, G*K, 2): every group regresses the same target
        labels_g = labels.repeat(1, groups, 1)
        weights_g = weights.repeat(1, groups).unsqueeze(-1)  # (B, G*K, 1)
        # the losses in float32 with autocast off (the official force_fp32):
        # RLEFlowLoss is such an island itself; this also holds for a
        # configured loss that is not (e.g. MMPose's RLELoss)
        with torch.autocast(labels.device.type, enabled=False):
            losses = dict(
                loss_coarse=self.coarse_loss(coarse_coords, coarse_sigma,
                                             labels, weights.unsqueeze(-1)))
            # all layers through the flow at once
            if hasattr(self.decoder_loss, 'forward_stacked'):
                dec_losses = self.decoder_loss.forward_stacked(
                    dec_coords, dec_sigma, labels_g, weights_g)
            # a configured loss without it (e.g. MMPose's RLELoss): one call
            # per layer
            else:
                dec_losses = [
                    self.decoder_loss(dec_coords[:, lid], dec_sigma[:, lid],
                                      labels_g, weights_g)
                    for lid in range(dec_coords.shape[1])
                ]
            for lid in range(dec_coords.shape[1]):
                losses[f'loss_dec{lid}'] = dec_losses[lid]

        final = dec_coords[:, -1, :K]
        if final.shape[0] > 0:
            _, acc, _ = keypoint_pck_accuracy(
                pred=to_numpy(final),
                gt=to_numpy(labels),
                mask=to_numpy(weights) > 0,
                thr=0.05,
                norm_factor=np.ones((final.shape[0], 2), dtype=np.float32))
        else:
            acc = 0.0
        losses['acc_pose'] = torch.tensor(acc, device=labels.device)
        check_finite(losses, type(self).__name__)
        return losses
