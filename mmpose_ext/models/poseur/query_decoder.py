"""Poseur's query decoder: grouped self-attention, EMSDA cross-attention, FFN,
iterative refinement.

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022), Sec. 3.2–3.4. Post-norm layers: self-attention among the K queries of
each group (8 heads, dropout 0.1) → norm → EMSDA to the multi-scale memory
around the current reference points → norm → FFN (1024) → norm. After layer l
(the official code's branches; the reference update is not detached):

    ref_{l+1}    = sigmoid(coord_l(out) + logit(ref_l))
    coords_l     = ref_{l+1} + coord_out_l(out)
    σ_l          = sigmoid(sigma_l(out))

``coord_l`` is an MLP (``num_reg_fcs`` hidden Linear+ReLU, then Linear → 2),
``coord_out_l`` the same shape, ``sigma_l`` ``num_reg_fcs`` Linear layers
without activation then Linear → 2 (as the code), run as the one affine map it
is (:class:`~.linear_chain.LinearChain`). Each branch is built on its own with
a small last layer (Xavier gain 0.01, zero bias: the head's ``'detr'`` scheme);
:meth:`PoseurQueryDecoder.init_branches_official` starts them as the official
code does instead.

Under autocast the branches run in half precision but their outputs are cast to
float32 before the update, so reference points, coordinates and σ stay float32
from layer to layer: a coordinate in [0, 1] stored in bf16 is off by up to
2^-9, half a pixel at 256 px, and would drift over the iterations.
"""
from typing import List, Sequence, Tuple

import torch
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..common.emsda import EMSDA
from ..common.precision import at_least_fp32
from .linear_chain import LinearChain


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """logit(x) with x clamped to [0, 1] and both sides kept ≥ eps (as DETR-
    family code)."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def _mlp(embed_dims: int, num_hidden: int, activation: bool) -> nn.Sequential:
    layers: List[nn.Module] = []
    for _ in range(num_hidden):
        layers.append(nn.Linear(embed_dims, embed_dims))
        if activation:
            layers.append(nn.ReLU())
    last = nn.Linear(embed_dims, 2)
    # small last layer ('detr' scheme): at init the refinement starts from the
    # reference and σ from 0.5. The head's 'official' scheme re-draws the
    # branches (PoseurQueryDecoder.init_branches_official)
    nn.init.xavier_uniform_(last.weight, gain=0.01)
    nn.init.zeros_(last.bias)
    # without activations the branch is one affine map: run it as one
    return nn.Sequential(*layers, last) if activation else LinearChain(
        *layers, last)


class PoseurDecoderLayer(BaseModule):
    """One post-norm decoder layer.

    Note:
        - batch: B
        - queries: Q = G·K (G groups of K keypoint queries)
        - memory tokens: S
        - channels: C
        - levels: L

    Args:
        embed_dims (int): C.
        num_heads (int): Heads of both attentions.
        num_levels (int): L.
        num_points (int): EMSDA sampling points per head and level.
        feedforward_channels (int): FFN hidden width.
        dropout (float): Dropout of the attentions and the FFN.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 num_levels: int = 4,
                 num_points: int = 4,
                 feedforward_channels: int = 1024,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(
            embed_dims,
            num_heads,
            attn_drop=dropout,
            proj_drop=0.,
            dropout_layer=dict(type='Dropout', drop_prob=dropout),
            batch_first=True)
        self.cross_attn = EMSDA(embed_dims, num_heads, num_levels, num_points)
        self.cross_drop = nn.Dropout(dropout)
        self.ffn = FFN(
            embed_dims,
            feedforward_channels,
            num_fcs=2,
            ffn_drop=dropout,
            act_cfg=dict(type='ReLU', inplace=True),
            add_identity=True)
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))
        self.num_levels = num_levels

    def forward(self, query: Tensor, query_pos: Tensor, memory: Tensor,
                reference_points: Tensor, spatial_shapes: Sequence,
                num_groups: int) -> Tensor:
        """
        Args:
            query (Tensor): (B, Q, C) content queries.
            query_pos (Tensor): (B, Q, C) per-keypoint position embeddings.
            memory (Tensor): (B, S, C) flattened multi-scale features.
            reference_points (Tensor): (B, Q, 2) in [0, 1] (may leave it for
                noisy groups).
            spatial_shapes (list): L × (h, w).
            num_groups (int): G; queries attend only within their group.

        Returns:
            Tensor: (B, Q, C).
        """
        B, Q, C = query.shape
        K = Q // num_groups
        # (B*G, K, C): one attention batch per group
        grouped = query.reshape(B * num_groups, K, C)
        grouped_pos = query_pos.reshape(B * num_groups, K, C)
        # + residual
        query = self.self_attn(
            grouped, query_pos=grouped_pos, key_pos=grouped_pos)
        query = self.norms[0](query.reshape(B, Q, C))  # (B, Q, C)
        # (B, Q, L, 2)
        ref = reference_points[:, :, None].expand(-1, -1, self.num_levels, -1)
        # (B, Q, C)
        attended = self.cross_attn(query + query_pos, memory, ref,
                                   spatial_shapes)
        query = self.norms[1](query + self.cross_drop(attended))
        return self.norms[2](self.ffn(query))  # FFN adds its residual


class PoseurQueryDecoder(BaseModule):
    """Decoder layers plus per-layer coordinate, refinement and σ branches.

    Args:
        num_layers (int): Decoder iterations (official: 6; 3 for the small
            variants).
        share_layers (bool): Use one layer's parameters for every iteration
            (paper ablation: saves parameters at a small AP cost). The
            per-iteration branches stay separate.
        num_reg_fcs (int): Hidden Linear layers in each branch (official: 2).
        layer_cfg (dict): Keyword arguments of :class:`PoseurDecoderLayer`.
    """

    def __init__(self,
                 num_layers: int = 6,
                 share_layers: bool = False,
                 num_reg_fcs: int = 2,
                 **layer_cfg) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(
                'PoseurQueryDecoder: num_layers must be >= 1, got '
                f'{num_layers}')
        self.num_layers = num_layers
        self.share_layers = share_layers
        self.layers = nn.ModuleList(
            PoseurDecoderLayer(**layer_cfg)
            for _ in range(1 if share_layers else num_layers))
        C = self.layers[0].norms[0].normalized_shape[0]
        self.coord_branches = nn.ModuleList(
            _mlp(C, num_reg_fcs, True) for _ in range(num_layers))
        self.coord_out_branches = nn.ModuleList(
            _mlp(C, num_reg_fcs, True) for _ in range(num_layers))
        self.sigma_branches = nn.ModuleList(
            _mlp(C, num_reg_fcs, False) for _ in range(num_layers))

    @torch.no_grad()
    def init_branches_official(self) -> None:
        """Start the branches as the official code does.

        The official head builds one coordinate branch and one σ branch and
        deep-copies them: its per-layer coordinate branches AND its per-layer
        coordinate-out branches are all copies of the same coordinate branch,
        the σ branches copies of the σ branch. Its ``init_weights`` then loops
        over the branch lists with ``isinstance(m, nn.Linear)``, but the items
        are ``nn.Sequential`` objects, so the gain-0.01 re-initialisation it
        means never runs, and no transformer initialisation reaches the
        branches (they belong to the head). So at the start:

        - every Linear of the coordinate branch has PyTorch's default
          (weight kaiming-uniform a = √5 and bias U(±1/√fan_in): both bound
          1/√fan_in, 1/16 at C = 256);
        - the σ branch's hidden Linear layers have PyTorch's default; its
          last layer (the official ``Linear_with_norm(C, 2, norm=False)``)
          draws its weight Xavier-uniform with gain 0.01 in its constructor
          (bound 0.01·√(6/(C + 2)), 0.00153 at C = 256) and keeps PyTorch's
          default bias;
        - all D coordinate and D coordinate-out branches are identical, and
          so are the D σ branches.

        Here branch 0 of each kind is re-drawn that way and copied into the
        others (the coordinate branch into every coordinate-out branch too).
        """
        coord = self.coord_branches[0]
        for m in coord.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        sigma = self.sigma_branches[0]
        for m in sigma.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        nn.init.xavier_uniform_(sigma[-1].weight, gain=0.01)
        for first, copies in ((coord, (*self.coord_branches[1:],
                                       *self.coord_out_branches)),
                              (sigma, self.sigma_branches[1:])):
            for branch in copies:
                for p, src in zip(branch.parameters(), first.parameters()):
                    p.copy_(src)

    def forward(self, query: Tensor, query_pos: Tensor, memory: Tensor,
                reference_points: Tensor, spatial_shapes: Sequence,
                num_groups: int) -> Tuple[Tensor, Tensor]:
        """Run all iterations.

        Args: as :meth:`PoseurDecoderLayer.forward`.

        Returns:
            tuple: coordinates (B, num_layers, Q, 2) and σ (B, num_layers, Q,
                2), σ in (0, 1), both
            float32.
        """
        coords, sigmas = [], []
        ref = reference_points
        for lid in range(self.num_layers):
            layer = self.layers[0 if self.share_layers else lid]
            query = layer(query, query_pos, memory, ref, spatial_shapes,
                          num_groups)
            # float32 from here (a no-op without autocast; float64 stays
            # float64): the branch outputs are small offsets/logits
            delta = at_least_fp32(self.coord_branches[lid](query))  # (B, Q, 2)
            # (B, Q, 2)
            new_ref = (delta + inverse_sigmoid(at_least_fp32(ref))).sigmoid()
            coords.append(new_ref +
                          at_least_fp32(self.coord_out_branches[lid](query)))
            sigmas.append(
                at_least_fp32(self.sigma_branches[lid](query)).sigmoid())
            ref = new_ref
        # (B, num_layers, Q, 2) each
        return torch.stack(coords, 1), torch.stack(sigmas, 1)
