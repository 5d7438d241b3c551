"""EMSDA's gather-sum sampler with its own backward (:class:`GatherSum`): the
same values and gradients as the readable ``grid_sample`` path (float64,
1e-10), float64 gradchecks of the Function and of the sampler in value,
sampling locations and attention weights, and the ``'auto'`` sampler's choice
of the grid path while tracing (what ONNX export records)."""
import pytest
import torch

from mmpose_ext.models.common.emsda import (EMSDA, GatherSum, bilinear_bags,
                                            emsda_sample_bag,
                                            emsda_sample_grid)

SHAPES = [(6, 5), (3, 4), (2, 1)]  # tiny, non-square levels (h, w)
S = sum(h * w for h, w in SHAPES)


def _inputs(B=2, Nq=3, H=2, P=2, C=5, spread=1.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    L = len(SHAPES)
    value = torch.randn(B, S, C, dtype=torch.float64, generator=g)
    # spread > 1: some samples (and corners) outside the maps, where zero
    # padding applies
    loc = (torch.rand(B, Nq, H, L, P, 2, dtype=torch.float64, generator=g) -
           0.5) * spread + 0.5
    weights = torch.rand(B, Nq, H, L, P, dtype=torch.float64, generator=g)
    return value, loc, weights


# L·P·4 = 24 (division) and 36; 4 points → 48
@pytest.mark.parametrize('P', [2, 3])
@pytest.mark.parametrize('spread', [1.0, 1.4])
def test_bag_equals_grid_values_and_gradients_float64(P, spread):
    value, loc, weights = _inputs(P=P, spread=spread)
    outs, grads = [], []
    for fn in (emsda_sample_bag, emsda_sample_grid):
        args = [t.clone().requires_grad_(True) for t in (value, loc, weights)]
        out = fn(args[0], SHAPES, args[1], args[2])
        out.backward(
            torch.cos(torch.arange(out.numel(),
                                   dtype=torch.float64)).view_as(out))
        outs.append(out.detach())
        grads.append([a.grad for a in args])
    assert torch.allclose(outs[0], outs[1], rtol=0, atol=1e-10)
    for g_bag, g_grid in zip(*grads):
        assert torch.allclose(g_bag, g_grid, rtol=0, atol=1e-10)


def test_power_of_two_bags_equal_grid():
    """L·P·4 a power of two (the shift path of the backward): 2 levels × 4
    points × 4 corners = 32."""
    shapes = [(4, 3), (2, 2)]
    value = torch.randn(2, 16, 6, dtype=torch.float64, requires_grad=True)
    loc = (torch.rand(2, 3, 2, 2, 4, 2, dtype=torch.float64) * 1.3 -
           0.15).requires_grad_(True)
    weights = torch.rand(
        2, 3, 2, 2, 4, dtype=torch.float64, requires_grad=True)
    a = emsda_sample_bag(value, shapes, loc, weights)
    ga = torch.autograd.grad(a.square().sum(), (value, loc, weights))
    b = emsda_sample_grid(value, shapes, loc, weights)
    gb = torch.autograd.grad(b.square().sum(), (value, loc, weights))
    assert torch.allclose(a, b, rtol=0, atol=1e-10)
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, rtol=0, atol=1e-10)


def test_gather_sum_gradcheck_float64():
    value, loc, weights = _inputs()
    index, bag_weights = bilinear_bags(SHAPES, loc, weights, S)
    assert index.dtype == torch.int32  # small enough for 32-bit indices
    table = value.reshape(-1, value.shape[-1]).requires_grad_(True)
    bag_weights = bag_weights.detach().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v, w: GatherSum.apply(v, index, w), (table, bag_weights),
        eps=1e-6,
        atol=1e-7)
    # the weight gradient alone (value without gradient) takes the unsorted
    # path: the same numbers
    bag_weights.grad = None
    GatherSum.apply(table, index, bag_weights).square().sum().backward()
    alone = torch.autograd.grad(
        GatherSum.apply(table.detach(), index, bag_weights).square().sum(),
        bag_weights)[0]
    assert torch.allclose(alone, bag_weights.grad, rtol=0, atol=1e-12)
    # int64 indices give the same result
    assert torch.equal(
        GatherSum.apply(table, index.long(), bag_weights),
        GatherSum.apply(table, index, bag_weights))


def test_bags_heads_first_are_the_batch_major_bags_reordered():
    """``heads_first`` orders the bags (H, B, Nq) instead of (B, Nq, H) (the
    sampler uses batch-major bags); each bag is the same."""
    value, loc, weights = _inputs(B=3, Nq=4, H=2, P=3)
    B, Nq, H = 3, 4, 2
    index, bag_weights = bilinear_bags(SHAPES, loc, weights, S)
    index_h, bag_weights_h = bilinear_bags(SHAPES, loc, weights, S, True)
    E = index.shape[1]

    def heads_first(t):
        # (B*Nq*H, E) -> (H*B*Nq, E)
        return t.view(B, Nq, H, E).permute(2, 0, 1, 3).reshape(-1, E)

    assert torch.equal(index_h, heads_first(index))
    assert torch.equal(bag_weights_h, heads_first(bag_weights))
    # every index is a valid row of the (B*S, C) value
    assert index.min() >= 0 and index.max() < B * S


def test_sampler_gradcheck_float64_value_locations_weights():
    value, loc, weights = _inputs(C=3)
    args = tuple(t.requires_grad_(True) for t in (value, loc, weights))
    assert torch.autograd.gradcheck(
        lambda v, x, a: emsda_sample_bag(v, SHAPES, x, a),
        args,
        eps=1e-6,
        atol=1e-6)


class _Fixed(torch.nn.Module):

    def __init__(self, emsda):
        super().__init__()
        self.emsda = emsda

    def forward(self, query, value, ref):
        return self.emsda(query, value, ref, SHAPES)


def test_auto_sampler_uses_grid_while_tracing(monkeypatch):
    import mmpose_ext.models.common.emsda as emsda_module
    used = []
    for name in ('emsda_sample_bag', 'emsda_sample_grid'):
        fn = getattr(emsda_module, name)
        monkeypatch.setattr(
            emsda_module,
            name,
            lambda *a, _fn=fn, _name=name: used.append(_name) or _fn(*a))
    emsda = EMSDA(8, 2, len(SHAPES), 2).eval()
    query, value = torch.randn(1, 3, 8), torch.randn(1, S, 8)
    ref = torch.rand(1, 3, len(SHAPES), 2)
    with torch.no_grad():
        eager = emsda(query, value, ref, SHAPES)
        assert used == ['emsda_sample_bag']
        traced = torch.jit.trace(
            _Fixed(emsda), (query, value, ref), check_trace=False)
    assert used == ['emsda_sample_bag', 'emsda_sample_grid']
    with torch.no_grad():
        assert torch.allclose(traced(query, value, ref), eager, atol=1e-5)
