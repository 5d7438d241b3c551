"""LinearChain (Poseur's σ branch) computes what the layer-by-layer
``nn.Sequential`` computes: values and every gradient, float64 to 1e-12; the
same state dict; under bf16 autocast a half-precision result close to it."""
import pytest
import torch
from torch import nn

from mmpose_ext.models.poseur.linear_chain import LinearChain


def _layers(bias=True, dtype=torch.float64):
    torch.manual_seed(0)
    return [
        nn.Linear(16, 16, bias=bias).to(dtype),
        nn.Linear(16, 16, bias=True).to(dtype),
        nn.Linear(16, 2, bias=bias).to(dtype)
    ]


@pytest.mark.parametrize('bias', [True, False])
def test_chain_equals_sequential_in_values_and_gradients(bias):
    layers = _layers(bias)
    chain, seq = LinearChain(*layers), nn.Sequential(*layers)
    assert list(chain.state_dict()) == list(seq.state_dict())
    x = torch.randn(3, 5, 16, dtype=torch.float64, requires_grad=True)
    outs, grads = [], []
    for module in (chain, seq):
        module.zero_grad()
        x.grad = None
        y = module(x)
        (y * torch.arange(1., 3., dtype=y.dtype)).sum().backward()
        outs.append(y.detach())
        grads.append([x.grad.clone()] +
                     [p.grad.clone() for p in module.parameters()])
    assert outs[0].shape == (3, 5, 2)
    assert torch.allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_chain_under_bf16_autocast():
    layers = _layers(dtype=torch.float32)
    chain = LinearChain(*layers)
    x = torch.randn(4, 16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = chain(x)
    assert y.dtype == torch.bfloat16
    expected = nn.Sequential(*layers)(x)
    assert torch.allclose(y.float(), expected, rtol=2e-2, atol=2e-2)


def test_chain_takes_linear_layers_only():
    with pytest.raises(TypeError, match='nn.Linear'):
        LinearChain(nn.Linear(4, 4), nn.ReLU())
