"""Efficient multi-scale deformable attention (EMSDA), in pure PyTorch.

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022), Sec. 3.4.

Deformable DETR's multi-scale deformable attention (MSDA; mmcv's
``MultiScaleDeformableAttention``) projects *every* memory token with
``value_proj`` (all H·W tokens of all levels, C×C each) and then samples the
projected value per head at a few points. A pose decoder has only K queries, so
most of that projection is wasted. EMSDA samples the *un-projected* value and
applies each head's slice of ``value_proj`` only to the sampled,
attention-weighted result of that head:

    MSDA_h(q)  = Σ_{l,p} a_{hlp} · bilinear(W_h V_l, x_{hlp}) (+ b_h)
    EMSDA_h(q) = W_h · Σ_{l,p} a_{hlp} · bilinear(V_l, x_{hlp}) + b_h

A linear map commutes with bilinear interpolation and with the weighted sum, so
the two are equal when ``value_proj.bias`` is zero; with a bias they differ
only where a sample falls outside the map (zero padding) and the softmax
weights of the in-map samples no longer sum to one.

The official code runs EMSDA as a CUDA kernel on the value repeated once per
head. Here one ``grid_sample`` per level samples all C channels of the shared
value for every (query, head, point), so the value is never copied per head,
the module runs on CPU and GPU alike and exports to ONNX (``GridSample``, opset
>= 16).

Parameter names and shapes equal mmcv's ``MultiScaleDeformableAttention``
(``sampling_offsets``, ``attention_weights``, ``value_proj``, ``output_proj``),
so its state dict loads into EMSDA.

Precision: the sampling locations, the attention softmax and the sampling
    itself (bilinear reads and the
attention-weighted sum, :meth:`EMSDA.sample`) run in float32 with autocast off,
as the official code's float32 kernel path. In half precision a location in [0,
1] is off by up to 2^-9 (bf16) of the map, the size of a pixel of a 64-pixel
level, and a sum over L·P·4 weighted corners loses digits. The linear layers
around it (offsets, attention logits, the per-head value projection, output
projection) follow autocast.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .precision import at_least_fp32, fp32_region


def _level_sizes(spatial_shapes: Union[Tensor, Sequence]) -> list:
    """[(h, w), ...] as Python ints (shapes must be static for slicing and for
    ONNX tracing)."""
    if isinstance(spatial_shapes, Tensor):
        spatial_shapes = spatial_shapes.tolist()
    return [(int(h), int(w)) for h, w in spatial_shapes]


def emsda_sample_grid(value: Tensor, spatial_shapes: Union[Tensor, Sequence],
                      sampling_locations: Tensor,
                      attention_weights: Tensor) -> Tensor:
    """Attention-weighted bilinear samples of the shared (un-projected) value,
    per head, with one ``grid_sample`` per level (the readable path; also the
    one that exports to ONNX).

    Note:
        - batch: B
        - queries: Nq
        - memory tokens (all levels): S
        - channels: C (all of them: the value is shared by the heads)
        - heads: H
        - levels: L
        - points per head and level: P

    Args:
        value (Tensor): (B, S, C), the levels flattened row-major and
            concatenated.
        spatial_shapes (Tensor | list): (L, 2) as (h, w) per level.
        sampling_locations (Tensor): (B, Nq, H, L, P, 2) as (x, y) in [0, 1],
            top-left (0, 0). Samples outside the map read zeros
            (``grid_sample``, ``align_corners=False``), as mmcv.
        attention_weights (Tensor): (B, Nq, H, L, P).

    Returns:
        Tensor: (B, Nq, H, C): for every head, Σ_{l,p} a · bilinear(V_l, x)
            over all C channels.
    """
    B, S, C = value.shape
    _, Nq, H, L, P, _ = sampling_locations.shape
    sizes = _check_sizes(spatial_shapes, S, L)
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1] convention
    out = value.new_zeros(B, C, Nq * H)
    start = 0
    for lvl, (h, w) in enumerate(sizes):
        # (B, C, h, w)
        value_l = value[:,
                        start:start + h * w].transpose(1,
                                                       2).reshape(B, C, h, w)
        start += h * w
        # (B, Nq*H, P, 2)
        grid_l = grids[:, :, :, lvl].reshape(B, Nq * H, P, 2)
        sampled = F.grid_sample(
            value_l,
            grid_l,
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False)  # (B, C, Nq*H, P)
        # (B, 1, Nq*H, P)
        weights_l = attention_weights[:, :, :, lvl].reshape(B, 1, Nq * H, P)
        out = out + (sampled * weights_l).sum(-1)  # (B, C, Nq*H)
    return out.view(B, C, Nq, H).permute(0, 2, 3, 1)  # (B, Nq, H, C)


def bilinear_bags(spatial_shapes: Union[Tensor, Sequence],
                  sampling_locations: Tensor,
                  attention_weights: Tensor,
                  num_tokens: int,
                  heads_first: bool = False) -> Tuple[Tensor, Tensor]:
    """Every (query, head) as a bag of L·P·4 weighted memory rows: the corner
    indices and the products of attention and bilinear weights that
    :func:`emsda_sample_bag` sums.

    Corners outside the map get weight 0 and a clamped (valid) index (zero
    padding, ``align_corners=False``). The bilinear weights are separable: for
    each sample ``(1 − fx, fx)`` along x (times "the column is inside") and
    ``(1 − fy, fy)`` along y, so the 4 corners are an outer product and the
    index of corner (i, j) is ``row_i + col_j``.

    Every quantity is computed as a contiguous (bags, L·P) plane per axis or
    corner (elementwise work with the long dimension innermost; broadcasting
    size-2 corner dimensions costs several times more), and the 4 corners are
    interleaved once at the end.

    Args:
        spatial_shapes (Tensor | list): (L, 2) as (h, w).
        sampling_locations (Tensor): (B, Nq, H, L, P, 2) as (x, y) in [0, 1].
        attention_weights (Tensor): (B, Nq, H, L, P).
        num_tokens (int): S, memory tokens per sample (all levels).
        heads_first (bool): Order the bags (H, B, Nq) instead of (B, Nq, H).

    Returns:
        tuple: indices (B·Nq·H, L·P·4) into the (B·S) flattened value rows
        (int32 when they fit, else int64) and weights (B·Nq·H, L·P·4),
        differentiable in the locations and attention weights. Each bag's
        entries are ordered (level, point, corner), the corners y-major.
    """
    B, Nq, H, L, P, _ = sampling_locations.shape
    M, N = B * Nq * H, L * P
    if heads_first:
        # (H, B, Nq, L, P, 2): the small per-sample inputs are permuted (and
        # copied by the reshapes below), not the (…, 4) corner tensors
        sampling_locations = sampling_locations.permute(2, 0, 1, 3, 4, 5)
        attention_weights = attention_weights.permute(2, 0, 1, 3, 4)
    sizes = _level_sizes(spatial_shapes)
    device, dtype = sampling_locations.device, sampling_locations.dtype
    itype = torch.int32 if B * num_tokens < 2**31 - 1 else torch.int64
    hw = torch.tensor(sizes, device=device, dtype=itype)  # (L, 2) as (h, w)
    # per (level, point) constants, (L*P,): they broadcast along the bags
    h_lp = hw[:, 0].repeat_interleave(P)
    w_lp = hw[:, 1].repeat_interleave(P)
    area = hw[:, 0] * hw[:, 1]
    start_lp = (torch.cumsum(area, 0, dtype=itype) - area).repeat_interleave(P)
    loc = sampling_locations.reshape(M, N, 2)  # (M, L*P, 2)
    # pixel coordinates, align_corners=False: pixel centres at (i + 0.5) / size
    x = loc[..., 0] * w_lp.to(dtype) - 0.5  # (M, L*P)
    y = loc[..., 1] * h_lp.to(dtype) - 0.5
    x0, y0 = x.detach().floor(), y.detach().floor()
    # fractional parts (carry the gradient to the locations)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.to(itype), y0.to(itype)  # index arithmetic in itype throughout

    def axis(c0: Tensor, f: Tensor, size: Tensor) -> tuple:
        """Clamped coordinates and weights (times "inside") of the two
        neighbours along one axis, (M, L*P) each."""
        c1 = c0 + 1
        last = size - 1
        in0 = ((c0 >= 0) & (c0 < size)).to(dtype)
        in1 = ((c1 >= 0) & (c1 < size)).to(dtype)
        return (c0.clamp(min=0).minimum(last), c1.clamp(min=0).minimum(last),
                (1 - f) * in0, f * in1)

    cx0, cx1, wx0, wx1 = axis(x0, fx, w_lp)
    cy0, cy1, wy0, wy1 = axis(y0, fy, h_lp)
    batch = torch.arange(B, device=device, dtype=itype).view(B, 1) * num_tokens

    def row(cy: Tensor) -> Tensor:
        """Flat value row of column 0 of each sample's pixel row, (M, L*P)."""
        r = cy * w_lp + start_lp
        # the batch is dim 0 of (B, Nq*H*L*P) or dim 1 of (H, B, Nq*L*P)
        r.view(-1, B, r.numel() // (B * (H if heads_first else 1))).add_(batch)
        return r

    r0, r1 = row(cy0), row(cy1)
    # (M, L*P, 4), corners y-major
    index = torch.stack([r0 + cx0, r0 + cx1, r1 + cx0, r1 + cx1], -1)
    a = attention_weights.reshape(M, N)
    ay0, ay1 = a * wy0, a * wy1
    # (M, L*P, 4)
    weights = torch.stack([ay0 * wx0, ay0 * wx1, ay1 * wx0, ay1 * wx1], -1)
    return index.view(M, N * 4), weights.view(M, N * 4)


class GatherSum(torch.autograd.Function):
    """Gather-sum ``out[m] = Σ_e weights[m, e] · value[index[m, e]]``.

    Its backward does not go through ``embedding_bag``'s (which builds the
    value gradient entry by entry after a sort of its own).

    Backward: the value gradient is the transposed gather-sum,
    ``grad_value[r] = Σ_{(m, e): index = r} weights[m, e] · grad_out[m]``, run
    as one more ``embedding_bag`` over ``grad_out``: the entries sorted by row
    (one sort of the int32 indices), each value row a bag of the bags that
    read it. The weight gradient is ``<grad_out[m], value[index[m, e]]>``
    (ATen's per-sample-weights kernel, no (M·E, C) gather materialised), taken
    in entry order: each bag's ``grad_out`` row is read once, and the value
    rows a bag reads stay in cache when the bags are ordered batch-major (one
    sample's rows, S·C floats, instead of the whole value). Not twice
    differentiable.

    Args (of ``apply``):
        value (Tensor): (R, C).
        index (Tensor): (M, E) int32/int64 rows of ``value``.
        weights (Tensor): (M, E), ``value``'s dtype.

    Returns:
        Tensor: (M, C).
    """

    @staticmethod
    def forward(ctx, value: Tensor, index: Tensor, weights: Tensor) -> Tensor:
        ctx.save_for_backward(value, index, weights)
        return F.embedding_bag(
            index, value, per_sample_weights=weights, mode='sum')

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        value, index, weights = ctx.saved_tensors
        M, E = index.shape
        grad_out = grad_out.contiguous()
        flat = index.reshape(-1)
        grad_value = grad_weights = None
        if ctx.needs_input_grad[0]:
            # entries grouped by the value row they read
            order = flat.sort()[1]
            counts = torch.bincount(flat, minlength=value.shape[0])
            # (R,): every row's first entry
            offsets = (counts.cumsum(0) - counts).to(flat.dtype)
            # the bag (row of grad_out) of every entry: E is L·P·4, usually a
            # power of two
            bags = order >> (E.bit_length() - 1) if E & (E - 1) == 0 else \
                torch.div(order, E, rounding_mode='floor')
            grad_value = F.embedding_bag(
                bags.to(flat.dtype),
                grad_out,
                offsets,
                mode='sum',
                # empty bags: 0
                per_sample_weights=weights.reshape(-1).index_select(0, order))
        if ctx.needs_input_grad[2]:
            # <grad[bag], table[idx]>, bag by bag
            offsets = torch.arange(
                0, M * E, E, device=flat.device, dtype=flat.dtype)
            offset2bag = torch.arange(
                M, device=flat.device,
                dtype=flat.dtype).view(M, 1).expand(M, E).reshape(-1)
            psw_backward = (
                torch.ops.aten._embedding_bag_per_sample_weights_backward)
            grad_weights = psw_backward(grad_out, value, flat, offsets,
                                        offset2bag, 0, -1).view(M, E)
        return grad_value, None, grad_weights


def emsda_sample_bag(value: Tensor, spatial_shapes: Union[Tensor, Sequence],
                     sampling_locations: Tensor,
                     attention_weights: Tensor) -> Tensor:
    """The same numbers as :func:`emsda_sample_grid`, computed as one weighted
    gather-sum.

    Bilinear interpolation reads 4 corners; folding the bilinear and attention
    weights together turns every (query, head) into a bag of L·P·4 weighted
    memory rows (:func:`bilinear_bags`), which :class:`GatherSum`
    (``embedding_bag(mode='sum')`` forward) sums without materialising the (B,
    C, Nq·H, P) samples that ``grid_sample`` writes per level, and whose
    backward scatters into the value with one more gather-sum. Same arguments
    and result as :func:`emsda_sample_grid`; differentiable (once) in
    ``value``, ``sampling_locations`` and ``attention_weights``.

    The result is contiguous (B, Nq, H, C): the bags are ordered batch-major,
    so the rows one sample's bags read (S·C floats) stay in cache while they
    are summed; (H, B·Nq, C), the layout of the per-head value projection, is
    a strided view of it.
    """
    B, S, C = value.shape
    _, Nq, H, L, P, _ = sampling_locations.shape
    _check_sizes(spatial_shapes, S, L)
    index, weights = bilinear_bags(spatial_shapes, sampling_locations,
                                   attention_weights, S)
    # (B*Nq*H, C)
    out = GatherSum.apply(
        value.reshape(B * S, C), index, weights.to(value.dtype))
    return out.view(B, Nq, H, C)


def _check_sizes(spatial_shapes, S: int, L: int) -> list:
    sizes = _level_sizes(spatial_shapes)
    if len(sizes) != L or sum(h * w for h, w in sizes) != S:
        raise ValueError(
            f'EMSDA: spatial_shapes {sizes} do not match value with S={S} '
            'tokens and '
            f'sampling_locations with L={L} levels')
    return sizes


@MODELS.register_module()
class EMSDA(BaseModule):
    """Efficient multi-scale deformable attention (Poseur), no residual inside.

    Note:
        - batch: B
        - queries: Nq
        - memory tokens (all levels): S
        - channels: C = ``embed_dims``
        - levels: L = ``num_levels``

    Args:
        embed_dims (int): C. Must be divisible by ``num_heads``.
        num_heads (int): Attention heads H.
        num_levels (int): Feature levels L.
        num_points (int): Sampling points P per head and level.
        value_proj_ratio (float): Width of ``value_proj`` relative to C, as
            mmcv (its output must still split into H heads).
        sampler (str): ``'auto'`` (default): the gather-sum path
            (:func:`emsda_sample_bag`) in eager mode and the ``grid_sample``
            path (:func:`emsda_sample_grid`) while tracing or exporting to
            ONNX; ``'bag'`` or ``'grid'`` force one. Both give the same
            numbers.
        init_cfg (dict, optional): MMEngine init config; by default Deformable
            DETR's initialisation (as mmcv: offsets on a ring per head, uniform
            attention, Xavier projections, zero biases).
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 num_levels: int = 4,
                 num_points: int = 4,
                 value_proj_ratio: float = 1.0,
                 sampler: str = 'auto',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if sampler not in ('auto', 'bag', 'grid'):
            raise ValueError(
                "EMSDA: sampler must be 'auto', 'bag' or 'grid', got "
                f'{sampler!r}')
        self.sampler = sampler
        value_dims = int(embed_dims * value_proj_ratio)
        if embed_dims % num_heads or value_dims % num_heads:
            raise ValueError(
                f'EMSDA: embed_dims ({embed_dims}) and the value width '
                f'({value_dims}) '
                f'must be divisible by num_heads ({num_heads})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.sampling_offsets = nn.Linear(
            embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims,
                                           num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, value_dims)
        self.output_proj = nn.Linear(value_dims, embed_dims)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Deformable DETR's initialisation (the same scheme as mmcv's
        module)."""
        H, L, P = self.num_heads, self.num_levels, self.num_points
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(H, dtype=torch.float32) * (2.0 * math.pi / H)
        # (H, 2), one direction per head
        ring = torch.stack([thetas.cos(), thetas.sin()], -1)
        ring = ring / ring.abs().max(-1, keepdim=True)[0]
        ring = ring.view(H, 1, 1, 2).repeat(1, L, P, 1)  # (H, L, P, 2)
        ring = ring * torch.arange(
            1, P + 1, dtype=torch.float32).view(1, 1, P, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(ring.view(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    @torch.no_grad()
    def init_official(self) -> None:
        """Initialise as Poseur's official code leaves its EMSDA.

        The official module (``MultiScaleDeformableAttention_post_value``)
        runs Deformable DETR's initialisation in its constructor (the offset
        ring, zero attention and output-projection biases: what
        :meth:`_reset_parameters` does here), then the official
        ``PoseurTransformer.init_weights`` draws every parameter with ≥ 2
        dimensions Xavier-uniform on the module's own shapes. It re-runs DETR's
        initialisation only on mmcv's ``MultiScaleDeformableAttention`` class,
        which this module is not, so its offsets and attention weights stay
        Xavier. The official module stores the per-head value projection as
        two embeddings, ``Embedding(8C, C/8)`` for the weight and
        ``Embedding(8, C/8)`` for the bias: an (H·C, V/H) and an (H, V/H)
        matrix (H = 8 hard-coded there), both ≥ 2-D, so both are Xavier on
        those shapes:

            value_proj.weight  U(±√(6 / (H·C + V/H)))   std 0.0310 at C = V =
                               256, H = 8 (a (V, C) Xavier draw: 0.0625)
            value_proj.bias    U(±√(6 / (H + V/H)))     bound 0.387 there

        The parameters keep mmcv's (V, C) and (V,) shapes; only their
        distributions follow the official ones.
        """
        self._reset_parameters()
        for fc in (self.sampling_offsets, self.attention_weights,
                   self.output_proj):
            nn.init.xavier_uniform_(fc.weight)
        H = self.num_heads
        V, C = self.value_proj.weight.shape
        # Xavier-uniform of an (H*C, V/H) matrix; fan_in + fan_out = H*C + V/H
        bound = math.sqrt(6.0 / (H * C + V // H))
        nn.init.uniform_(self.value_proj.weight, -bound, bound)
        nn.init.xavier_uniform_(self.value_proj.bias.view(H, V // H))

    def init_weights(self) -> None:
        """Deformable DETR's initialisation (:meth:`_reset_parameters`), or the
        ``init_cfg``.

        MMEngine's ``BaseModule.init_weights`` calls the ``init_weights`` of
        direct children only, so this runs only when every module above it has
        one. Poseur's decoder layers sit in an ``nn.ModuleList``, which has
        none: there it is never called and the module keeps what its
        constructor drew.
        """
        if self.init_cfg is None:
            self._reset_parameters()
        else:
            super().init_weights()

    def sample(self, value: Tensor, spatial_shapes: Union[Tensor, Sequence],
               sampling_locations: Tensor,
               attention_weights: Tensor) -> Tensor:
        """The float32 island: attention-weighted bilinear samples of the un-
        projected value, with fp16/bf16 inputs cast to float32 and autocast off
        (the same numbers inside and outside autocast).

        Args:
            value (Tensor): (B, S, C).
            spatial_shapes (Tensor | list): (L, 2) as (h, w).
            sampling_locations (Tensor): (B, Nq, H, L, P, 2) as (x, y) in [0,
                1].
            attention_weights (Tensor): (B, Nq, H, L, P).

        Returns:
            Tensor: (B, Nq, H, C), float32 (float64 for float64 inputs).
        """
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        fn = (
            emsda_sample_grid if self.sampler == 'grid' or
            (self.sampler == 'auto' and exporting) else emsda_sample_bag)
        with fp32_region(value.device):
            return fn(
                at_least_fp32(value), spatial_shapes,
                at_least_fp32(sampling_locations),
                at_least_fp32(attention_weights))

    def forward(self,
                query: Tensor,
                value: Tensor,
                reference_points: Tensor,
                spatial_shapes: Union[Tensor, Sequence],
                level_start_index: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Attend from ``query`` to the multi-scale ``value`` around
        ``reference_points``.

        Args:
            query (Tensor): (B, Nq, C), positional embedding already added.
            value (Tensor): (B, S, C), the un-projected memory, levels
                flattened and concatenated.
            reference_points (Tensor): (B, Nq, L, 2) as (x, y) in [0, 1],
                top-left (0, 0).
            spatial_shapes (Tensor | list): (L, 2) as (h, w).
            level_start_index (Tensor, optional): (L,); implied by
                ``spatial_shapes`` and only checked against it (kept for mmcv's
                signature).
            key_padding_mask (Tensor, optional): (B, S) bool, True = padding
                (reads as zero).

        Returns:
            Tensor: (B, Nq, C), without the residual.
        """
        B, Nq, _ = query.shape
        H, L, P = self.num_heads, self.num_levels, self.num_points
        if reference_points.shape[-1] != 2 or reference_points.shape[-2] != L:
            raise ValueError(
                f'EMSDA expects reference_points of shape (B, Nq, {L}, 2), '
                'got '
                f'{tuple(reference_points.shape)}')
        sizes = _level_sizes(spatial_shapes)
        if level_start_index is not None and not torch.jit.is_tracing():
            starts = [0]
            for h, w in sizes[:-1]:
                starts.append(starts[-1] + h * w)
            if [int(s) for s in level_start_index] != starts:
                raise ValueError(
                    f'EMSDA: level_start_index {level_start_index.tolist()} '
                    'does not '
                    f'match spatial_shapes {sizes}')
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)

        # (B, Nq, H, L, P, 2)
        # (B, Nq, H, L*P*2) as (x, y) per level and point
        offsets = self.sampling_offsets(query).view(B, Nq, H, L * P * 2)
        # (B, Nq, H, L*P)
        logits = self.attention_weights(query).view(B, Nq, H, L * P)
        # float32 island: locations and weights
        with fp32_region(query.device):
            # (B, Nq, H, L, P)
            weights = at_least_fp32(logits).softmax(-1).view(B, Nq, H, L, P)
            # offsets are in pixels of each level: normalise by (w, h). The
            # constants are spelled out per (level, point, axis), (L*P*2,),
            # and the reference points per (query, level, point, axis), so
            # that the broadcasts run along rows of L*P*2 (broadcasting
            # size-P and size-2 dimensions costs several times more)
            normaliser = torch.tensor([[w, h] for h, w in sizes],
                                      dtype=torch.float32,
                                      device=query.device)
            normaliser = normaliser.repeat_interleave(P, 0).view(L * P * 2)
            # (B, Nq, 1, L*P*2)
            ref = at_least_fp32(reference_points)[:, :, None, :, None, :]
            ref = ref.expand(B, Nq, 1, L, P, 2).reshape(B, Nq, 1, L * P * 2)
            # (B, Nq, H, L, P, 2)
            locations = (ref + at_least_fp32(offsets) / normaliser).view(
                B, Nq, H, L, P, 2)
        # (B, Nq, H, C), float32
        sampled = self.sample(value, sizes, locations, weights)
        # per-head value projection of the sampled result only: head h uses
        # rows h*D:(h+1)*D. In the parameters' dtype (a no-op under autocast,
        # which keeps float32 parameters and casts the einsum)
        D = self.value_proj.out_features // H
        proj_w = self.value_proj.weight.view(H, D, -1)  # (H, D, C)
        # one bmm over heads on (H, B*Nq, C): a strided view of the gather-sum
        # path's contiguous (B, Nq, H, C) (BLAS reads rows H*C apart)
        sampled = sampled.to(proj_w.dtype).permute(2, 0, 1,
                                                   3).reshape(H, B * Nq, -1)
        heads = torch.bmm(sampled, proj_w.transpose(1, 2))  # (H, B*Nq, D)
        heads = heads.view(H, B, Nq, D).permute(
            1, 2, 0, 3) + self.value_proj.bias.view(H, D)
        return self.output_proj(heads.reshape(B, Nq, H * D))  # (B, Nq, C)
