"""EMSDA against mmcv's MultiScaleDeformableAttention (CPU: its pure-PyTorch
path), its two samplers against each other, float64 gradchecks over odd channel
counts, and its float32 sampling under autocast."""
import pytest
import torch
from mmcv.ops import MultiScaleDeformableAttention

from mmpose_ext.models.common.emsda import (EMSDA, emsda_sample_bag,
                                            emsda_sample_grid)

# tiny, non-square levels (h, w)
SHAPES = torch.tensor([[6, 5], [3, 4], [2, 1]])
STARTS = torch.tensor([0, 30, 42])
S = int((SHAPES[:, 0] * SHAPES[:, 1]).sum())


def _pair(embed_dims=32, num_heads=4, num_points=3, bias=False):
    """mmcv's MSDA with random weights, and an EMSDA holding its state dict."""
    msda = MultiScaleDeformableAttention(
        embed_dims,
        num_heads,
        len(SHAPES),
        num_points,
        dropout=0.0,
        batch_first=True)
    with torch.no_grad():
        for p in msda.parameters():
            p.normal_(0, 0.3)
        if not bias:
            msda.value_proj.bias.zero_()
    emsda = EMSDA(embed_dims, num_heads, len(SHAPES), num_points)
    emsda.load_state_dict(msda.state_dict())  # same names, same shapes
    return msda, emsda


def _inputs(B=2, Nq=5, C=32, spread=1.0):
    query = torch.randn(B, Nq, C)
    value = torch.randn(B, S, C)
    # spread > 1 puts references (and samples) outside the maps, where zero
    # padding applies
    ref = (torch.rand(B, Nq, len(SHAPES), 2) - 0.5) * spread + 0.5
    return query, value, ref


def _msda(msda, query, value, ref, mask=None):
    return msda(
        query,
        value=value,
        identity=torch.zeros_like(query),
        reference_points=ref,
        spatial_shapes=SHAPES,
        level_start_index=STARTS,
        key_padding_mask=mask)


@pytest.mark.parametrize('sampler', ['bag', 'grid'])
@pytest.mark.parametrize('spread', [1.0, 1.6])
def test_equals_mmcv_with_zero_value_bias(sampler, spread):
    msda, emsda = _pair()
    emsda.sampler = sampler
    query, value, ref = _inputs(spread=spread)
    mask = torch.zeros(2, S, dtype=torch.bool)
    mask[1, -7:] = True  # padding on the second sample's smallest levels
    expected = _msda(msda, query, value, ref, mask)
    out = emsda(query, value, ref, SHAPES, STARTS, key_padding_mask=mask)
    assert out.shape == (2, 5, 32)
    assert torch.allclose(
        out, expected, atol=1e-5), f'{(out - expected).abs().max()}'


def test_gradients_equal_mmcv():
    msda, emsda = _pair()
    query, value, ref = _inputs(spread=1.4)
    grads = []
    for run in (lambda q, v, r: _msda(msda, q, v, r),
                lambda q, v, r: emsda(q, v, r, SHAPES, STARTS)):
        q, v, r = (t.clone().requires_grad_(True) for t in (query, value, ref))
        (run(q, v, r) * torch.linspace(-1, 1, 32)).sum().backward()
        grads.append((q.grad, v.grad, r.grad))
    for g_msda, g_emsda in zip(*grads):
        assert torch.allclose(
            g_msda, g_emsda, atol=1e-4), f'{(g_msda - g_emsda).abs().max()}'


def test_value_bias_only_differs_where_samples_leave_the_map():
    msda, emsda = _pair(bias=True)
    query, value, _ = _inputs()
    # references in the centre of every level and offsets switched off: every
    # sample is inside
    with torch.no_grad():
        for m in (msda, emsda):
            m.sampling_offsets.weight.zero_()
            m.sampling_offsets.bias.zero_()
    ref = torch.full((2, 5, len(SHAPES), 2), 0.5)
    assert torch.allclose(
        emsda(query, value, ref, SHAPES),
        _msda(msda, query, value, ref),
        atol=1e-5)
    # outside the map MSDA loses the bias of the zero-padded samples, EMSDA
    # keeps it
    ref_out = torch.full((2, 5, len(SHAPES), 2), 3.0)
    diff = (emsda(query, value, ref_out, SHAPES) -
            _msda(msda, query, value, ref_out)).abs().max()
    assert diff > 1e-3


@pytest.mark.parametrize('channels', [3, 7, 31])
def test_samplers_gradcheck_float64_odd_channels(channels):
    B, Nq, H, L, P = 2, 3, 2, len(SHAPES), 2
    value = torch.randn(
        B, S, channels, dtype=torch.float64, requires_grad=True)
    loc = (torch.rand(B, Nq, H, L, P, 2, dtype=torch.float64) * 1.2 -
           0.1).requires_grad_(True)
    weights = torch.rand(
        B, Nq, H, L, P, dtype=torch.float64, requires_grad=True)
    for fn in (emsda_sample_bag, emsda_sample_grid):
        assert torch.autograd.gradcheck(
            lambda v, x, a: fn(v, SHAPES, x, a), (value, loc, weights),
            eps=1e-6,
            atol=1e-5,
            fast_mode=channels > 3)
    assert torch.allclose(
        emsda_sample_bag(value, SHAPES, loc, weights),
        emsda_sample_grid(value, SHAPES, loc, weights),
        atol=1e-12)


# odd per-head widths 5 and 3
@pytest.mark.parametrize('embed_dims,num_heads', [(15, 3), (21, 7)])
def test_module_gradcheck_float64(embed_dims, num_heads):
    emsda = EMSDA(embed_dims, num_heads, len(SHAPES), num_points=2).double()
    with torch.no_grad():
        for p in emsda.parameters():
            p.normal_(0, 0.2)
    query = torch.randn(
        1, 3, embed_dims, dtype=torch.float64, requires_grad=True)
    value = torch.randn(
        1, S, embed_dims, dtype=torch.float64, requires_grad=True)
    ref = torch.rand(
        1, 3, len(SHAPES), 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda q, v, r: emsda(q, v, r, SHAPES, STARTS), (query, value, ref),
        eps=1e-6,
        atol=1e-5,
        fast_mode=True)


def test_bad_inputs_raise():
    emsda = EMSDA(32, 4, len(SHAPES), 3)
    query, value, ref = _inputs()
    with pytest.raises(ValueError, match='reference_points'):
        emsda(query, value, ref[:, :, :2], SHAPES)
    with pytest.raises(ValueError, match='spatial_shapes'):
        emsda(query, value[:, :-1], ref, SHAPES)
    with pytest.raises(ValueError, match='level_start_index'):
        emsda(query, value, ref, SHAPES, torch.tensor([0, 31, 42]))
    with pytest.raises(ValueError, match='divisible'):
        EMSDA(30, 4)


def test_init_matches_mmcv():
    torch.manual_seed(0)
    msda = MultiScaleDeformableAttention(32, 4, 3, 3, batch_first=True)
    emsda = EMSDA(32, 4, 3, 3)
    for name in ('sampling_offsets.weight', 'sampling_offsets.bias',
                 'attention_weights.weight', 'attention_weights.bias',
                 'value_proj.bias', 'output_proj.bias'):
        assert torch.equal(msda.state_dict()[name],
                           emsda.state_dict()[name]), name


@pytest.mark.parametrize('sampler', ['bag', 'grid'])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_sampling_is_a_float32_island_under_autocast(sampler, dtype):
    """EMSDA.sample inside autocast, on half-precision inputs, returns exactly
    the float32 samples of the same inputs (autocast off inside, inputs cast
    up)."""
    torch.manual_seed(0)
    emsda = EMSDA(32, 4, len(SHAPES), 3, sampler=sampler)
    value = torch.randn(2, S, 32).to(dtype)
    locations = (torch.rand(2, 5, 4, len(SHAPES), 3, 2) * 1.2 - 0.1).to(dtype)
    weights = torch.rand(2, 5, 4, len(SHAPES), 3).softmax(-1).to(dtype)
    with torch.autocast('cpu', dtype=dtype):
        got = emsda.sample(value, SHAPES, locations, weights)
    assert got.dtype == torch.float32
    assert torch.equal(
        got,
        emsda.sample(value.float(), SHAPES, locations.float(),
                     weights.float()))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_forward_under_autocast_is_close_to_float32(dtype):
    """The whole module under autocast: its linear layers (offsets, attention
    logits, value and output projections) run in half precision, each rounding
    to eps/2 relative and summing C = 32 products of O(1) terms, so the output
    may move by a few eps of its largest value: allow 4·eps (measured: ≤
    2.3·eps over 5 seeds, bf16 and fp16)."""
    torch.manual_seed(0)
    _, emsda = _pair(bias=True)
    query, value, ref = _inputs()
    expected = emsda(query, value, ref, SHAPES)
    with torch.autocast('cpu', dtype=dtype):
        got = emsda(query, value, ref, SHAPES)
    err = float((got.float() - expected).abs().max() / expected.abs().max())
    assert torch.isfinite(got).all() and err <= 4 * torch.finfo(dtype).eps, err
