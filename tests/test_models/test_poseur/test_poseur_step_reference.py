"""Issue 16: the faster Poseur head computes the same numbers as the code
before it.

``step_reference.pt`` holds one training step (losses, every parameter's and
feature level's gradient, the training-mode outputs with the same noisy groups)
and one inference forward of a small float64 head, written by
``make_step_reference.py`` at commit acfbf40, before the speed-ups. The head
built here from the same seeds must match it to 1e-5.
"""
import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
RTOL, ATOL = 1e-5, 1e-8


def _maker():
    spec = importlib.util.spec_from_file_location(
        'make_step_reference', HERE / 'make_step_reference.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(new, ref, what):
    new = new.detach().double()
    ref = ref.double()
    assert new.shape == ref.shape, what
    err = (new - ref).abs().max().item() if new.numel() else 0.0
    assert torch.allclose(new, ref, rtol=RTOL, atol=ATOL), f'{what}: {err}'


def _compare(new, ref):
    assert list(new['losses']) == list(ref['losses'])
    for k, v in ref['losses'].items():
        _close(new['losses'][k], v, k)
    assert sorted(new['grads']) == sorted(ref['grads'])
    for k, v in ref['grads'].items():
        _close(new['grads'][k], v, f'gradient of {k}')
    for i, v in enumerate(ref['feat_grads']):
        _close(new['feat_grads'][i], v, f'gradient of level {i}')
    for key in ('train_outputs', 'outputs'):
        for i, v in enumerate(ref[key]):
            _close(new[key][i], v, f'{key}[{i}]')


@pytest.fixture(scope='module')
def reference():
    return torch.load(HERE / 'step_reference.pt')


def test_training_step_and_inference_equal_the_reference(reference):
    maker = _maker()
    new = maker.run_step(*maker.build_inputs())
    # the stored numbers are a real step: 1 coarse + 3 decoder losses
    assert list(reference['losses']) == [
        'loss_coarse', 'loss_dec0', 'loss_dec1', 'loss_dec2', 'acc_pose'
    ]
    _compare(new, reference)


def test_the_comparison_sees_a_small_change(reference):
    """A 1e-3 nudge of one σ-branch weight of the last layer (it changes only
    that layer's σ, its loss and the gradients feeding it) fails the
    comparison: the test can fail."""
    maker = _maker()
    head, feats, samples = maker.build_inputs()
    with torch.no_grad():
        head.query_decoder.sigma_branches[-1][0].weight[0, 0] += 1e-3
    new = maker.run_step(head, feats, samples)
    with pytest.raises(AssertionError):
        _compare(new, reference)
