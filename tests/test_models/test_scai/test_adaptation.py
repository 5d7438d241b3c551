"""Test-time adaptation: C is reset for every batch (its module never changes), the same batch gives the same
output, a correction is kept only where the self-referential error fell, and on a problem whose optimum
is known the error does fall."""
import copy

import numpy as np
import pytest
import torch
from scai_testing import tiny_scai

from mmpose.registry import MODELS
from mmpose_ext.models.scai import adapt_correction
from mmpose_ext.models.scai.losses import heatmap_error


@pytest.fixture(scope='module')
def adapting_model():
    torch.manual_seed(0)
    model = MODELS.build(tiny_scai(test_cfg=dict(flip_test=False, adapt=dict(enable=True, steps=4))))
    model.init_weights()
    # a C that does something (its zero-initialised last conv would make step 0 trivial)
    torch.nn.init.normal_(model.correction.final.weight, std=0.05)
    return model.eval()


def _predict(model, data):
    out = model.predict(data['inputs'], copy.deepcopy(data['data_samples']))
    return (np.stack([s.pred_instances.keypoints for s in out]),
            np.stack([s.pred_instances.scai_error for s in out]))


def test_reset_per_batch_and_identical_output_on_the_same_batch(adapting_model, coco_batch):
    model = adapting_model
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    first, second = {k: v[:6] for k, v in data.items()}, {k: v[6:] for k, v in data.items()}
    c_state = copy.deepcopy(model.correction.state_dict())
    kpts_a, err_a = _predict(model, first)
    _predict(model, second)  # another batch in between: nothing may carry over
    kpts_b, err_b = _predict(model, first)
    assert np.array_equal(kpts_a, kpts_b) and np.array_equal(err_a, err_b)
    for name, value in model.correction.state_dict().items():
        assert torch.equal(value, c_state[name]), name


def test_kept_error_never_above_the_trained_one_and_switch(adapting_model, coco_batch):
    model = adapting_model
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    heatmaps, f = model.base_heatmaps_flip(data['inputs'], data['data_samples'])
    nodes = model.chains.node_heatmaps(heatmaps)
    with torch.no_grad():
        plain, info_plain = model.correct(nodes, f, adapt=False)
        adapted, info = model.correct(nodes, f, adapt=True)
    assert (info['error'] <= info['error_trained']).all()
    torch.testing.assert_close(info['error_trained'], info_plain['error'])
    kept_trained = info['adapt_step'] == 0  # (B, M): where no adapted step was better, C's output is kept
    assert torch.equal(adapted[kept_trained], plain[kept_trained])
    assert (info['adapt_step'] > 0).any(), 'no adapted step lowered the error anywhere'
    # steps=0 is no adaptation at all
    model.test_cfg['adapt']['steps'] = 0
    try:
        with torch.no_grad():
            zero, _ = model.correct(nodes, f, adapt=True)
    finally:
        model.test_cfg['adapt']['steps'] = 4
    assert torch.equal(zero, plain)


def test_adaptation_lowers_the_error_on_a_known_problem():
    """Feedback = identity and root = a target map: adapting C must move H̃ towards the target."""
    torch.manual_seed(0)
    corr = MODELS.build(dict(type='SCAICorrectionNet', in_channels=2, out_channels=1, width=8, num_layers=3,
                             norm_cfg=None))
    corr.init_weights()
    uncorrected = torch.rand(2, 1, 6, 5)
    target = torch.rand(2, 1, 6, 5)
    c_in = torch.cat([uncorrected, target - uncorrected], 1)  # (Ĥ_D, e_s) interleaved, M = 1
    out, info = adapt_correction(corr, c_in, uncorrected, lambda d: d, target, steps=20, lr=0.013, decay=0.96)
    torch.testing.assert_close(info['error_trained'], heatmap_error(uncorrected, target))
    assert (info['error'] < 0.9 * info['error_trained']).all(), info
    torch.testing.assert_close(heatmap_error(out, target), info['error'])
    with pytest.raises(ValueError, match='optimizer'):
        adapt_correction(corr, c_in, uncorrected, lambda d: d, target, optimizer='lbfgs')
