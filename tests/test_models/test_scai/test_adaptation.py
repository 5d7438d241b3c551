"""Test-time adaptation: C is reset for every batch (its module never changes),
the same batch gives the same output, the step with the lowest self-referential
error is kept, on a problem whose optimum is known the error does fall, the
anchor keeps the output near the frozen model's map, only the selected
instances adapt, and a diverging adaptation keeps its last finite step."""
import copy

import numpy as np
import pytest
import torch
from mmpose.registry import MODELS
from scai_testing import tiny_scai

from mmpose_ext.models.scai import adapt_correction
from mmpose_ext.models.scai.losses import heatmap_error


@pytest.fixture(scope='module')
def adapting_model():
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_scai(
            test_cfg=dict(flip_test=False, adapt=dict(enable=True, steps=4))))
    model.init_weights()
    # a C that does something (its zero-initialised last conv would make step 0
    # trivial)
    torch.nn.init.normal_(model.correction.final.weight, std=0.05)
    return model.eval()


def _predict(model, data):
    out = model.predict(data['inputs'], copy.deepcopy(data['data_samples']))
    return (np.stack([s.pred_instances.keypoints for s in out]),
            np.stack([s.pred_instances.scai_error for s in out]))


def test_reset_per_batch_and_identical_output_on_the_same_batch(
        adapting_model, coco_batch):
    model = adapting_model
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    first, second = {
        k: v[:6]
        for k, v in data.items()
    }, {
        k: v[6:]
        for k, v in data.items()
    }
    c_state = copy.deepcopy(model.correction.state_dict())
    kpts_a, err_a = _predict(model, first)
    _predict(model, second)  # another batch in between: nothing may carry over
    kpts_b, err_b = _predict(model, first)
    assert np.array_equal(kpts_a, kpts_b) and np.array_equal(err_a, err_b)
    for name, value in model.correction.state_dict().items():
        assert torch.equal(value, c_state[name]), name


def test_kept_error_never_above_the_trained_one_and_switch(
        adapting_model, coco_batch):
    model = adapting_model
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    heatmaps, f = model.base_heatmaps_flip(data['inputs'],
                                           data['data_samples'])
    nodes = model.chains.node_heatmaps(heatmaps)
    with torch.no_grad():
        _, info_plain = model.correct(nodes, f, adapt=False)
        _, info = model.correct(nodes, f, adapt=True)
    # per chain the lowest error among C's trained output and every step
    assert (info['error_corrected'] <= info_plain['error_corrected']).all()
    assert info['adapted'].all() and not info_plain['adapted'].any()
    # (B, M): where no adapted step was better, C's output is kept
    kept_trained = info['adapt_step'] == 0
    # (adaptation runs C on one instance at a time: equal to C on the whole
    # batch up to rounding)
    torch.testing.assert_close(
        info['corrected'][kept_trained],
        info_plain['corrected'][kept_trained],
        rtol=1e-5,
        atol=1e-6)
    assert (info['adapt_step']
            > 0).any(), 'no adapted step lowered the error anywhere'
    # steps=0 is no adaptation at all
    model.test_cfg['adapt']['steps'] = 0
    try:
        with torch.no_grad():
            _, zero = model.correct(nodes, f, adapt=True)
    finally:
        model.test_cfg['adapt']['steps'] = 4
    torch.testing.assert_close(
        zero['corrected'], info_plain['corrected'], rtol=1e-5, atol=1e-6)
    assert not zero['adapted'].any()


def test_adaptation_lowers_the_error_on_a_known_problem():
    """Feedback = identity and root = a target map: adapting C must move H̃
    towards the target."""
    torch.manual_seed(0)
    corr = MODELS.build(
        dict(
            type='SCAICorrectionNet',
            in_channels=2,
            out_channels=1,
            width=8,
            num_layers=3,
            norm_cfg=None))
    corr.init_weights()
    uncorrected = torch.rand(2, 1, 6, 5)
    target = torch.rand(2, 1, 6, 5)
    # (Ĥ_D, e_s) interleaved, M = 1
    c_in = torch.cat([uncorrected, target - uncorrected], 1)
    corr.eval()
    out, info = adapt_correction(
        corr,
        c_in,
        uncorrected,
        lambda d, i: d,
        target,
        steps=20,
        lr=0.013,
        decay=0.96)
    torch.testing.assert_close(info['error_trained'],
                               heatmap_error(uncorrected, target))
    assert (info['error'] < 0.9 * info['error_trained']).all(), info
    torch.testing.assert_close(heatmap_error(out, target), info['error'])
    with pytest.raises(ValueError, match='optimizer'):
        adapt_correction(
            corr, c_in, uncorrected, lambda d, i: d, target, optimizer='lbfgs')


def test_an_instance_adapts_the_same_alone_and_with_batch_mates(
        adapting_model, coco_batch):
    """Each instance adapts its own copy of C (and goes through the model
    alone), so its keypoints do not depend on who shares its test batch: bit
    for bit, alone, in a batch of 4 and in the reversed batch."""
    model = adapting_model
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    batch = {k: v[:4] for k, v in data.items()}
    kpts, errs = _predict(model, batch)
    rev_kpts, rev_errs = _predict(model, {
        k:
        v[::-1] if isinstance(v, list) else v.flip(0)
        for k, v in batch.items()
    })
    for i in range(4):
        alone_kpts, alone_errs = _predict(model, {
            k: v[i:i + 1]
            for k, v in batch.items()
        })
        np.testing.assert_array_equal(kpts[i], alone_kpts[0])
        np.testing.assert_array_equal(errs[i], alone_errs[0])
        np.testing.assert_array_equal(rev_kpts[3 - i], alone_kpts[0])
        np.testing.assert_array_equal(rev_errs[3 - i], alone_errs[0])


def _small_correction():
    """C for M = 1 chain (input: Ĥ_D and e_s), 3 layers of 8, no norm, in
    eval mode."""
    return MODELS.build(
        dict(
            type='SCAICorrectionNet',
            in_channels=2,
            out_channels=1,
            width=8,
            num_layers=3,
            norm_cfg=None)).eval()


def test_adapt_correction_gives_each_instance_its_own_copy():
    """On a known problem with two instances whose targets differ, each
    instance's result equals the one it gets alone (a shared copy would follow
    the mean of the two errors)."""
    torch.manual_seed(0)
    corr = _small_correction()
    uncorrected = torch.rand(2, 1, 6, 5)
    # opposite pulls
    target = torch.stack([torch.rand(1, 6, 5), -torch.rand(1, 6, 5)])
    c_in = torch.cat([uncorrected, target - uncorrected], 1)
    args = dict(steps=10, lr=0.013, decay=0.96)
    both, info = adapt_correction(corr, c_in, uncorrected, lambda d, i: d,
                                  target, **args)
    for i in range(2):
        alone, info_i = adapt_correction(corr, c_in[i:i + 1],
                                         uncorrected[i:i + 1], lambda d, _: d,
                                         target[i:i + 1], **args)
        torch.testing.assert_close(both[i:i + 1], alone, rtol=0, atol=1e-6)
        torch.testing.assert_close(
            info['error'][i:i + 1], info_i['error'], rtol=0, atol=1e-7)
    with pytest.raises(RuntimeError, match='eval mode'):
        adapt_correction(corr.train(), c_in, uncorrected, lambda d, i: d,
                         target, **args)


def _known_problem(seed=0):
    """C on M = 1 maps of 6x5, feedback = identity, root = a target map."""
    torch.manual_seed(seed)
    corr = _small_correction()
    uncorrected = torch.rand(3, 1, 6, 5)
    target = torch.rand(3, 1, 6, 5)
    c_in = torch.cat([uncorrected, target - uncorrected], 1)
    return corr, c_in, uncorrected, target


def test_anchor_keeps_the_output_near_the_frozen_map():
    """With μ > 0 the adapted map stays closer to the anchor (the frozen H_D)
    than without; μ = 0 is the paper's objective."""
    corr, c_in, uncorrected, target = _known_problem()
    anchor = uncorrected.clone()
    args = dict(steps=20, lr=0.013, decay=0.96)
    free, _ = adapt_correction(corr, c_in, uncorrected, lambda d, i: d, target,
                               **args)
    held, info = adapt_correction(
        corr,
        c_in,
        uncorrected,
        lambda d, i: d,
        target,
        anchor=anchor,
        anchor_weight=10.0,
        **args)
    assert (heatmap_error(held, anchor) < heatmap_error(free, anchor)).all()
    # the error still picks the step: never above the trained output's
    assert (info['error'] <= info['error_trained']).all()
    with pytest.raises(ValueError, match='anchor'):
        adapt_correction(
            corr, c_in, uncorrected, lambda d, i: d, target, anchor_weight=1.)
    with pytest.raises(ValueError, match='anchor_weight'):
        adapt_correction(
            corr,
            c_in,
            uncorrected,
            lambda d, i: d,
            target,
            anchor=anchor,
            anchor_weight=-1.)


def test_only_the_selected_instances_adapt():
    corr, c_in, uncorrected, target = _known_problem()
    which = torch.tensor([True, False, True])
    out, info = adapt_correction(
        corr, c_in, uncorrected, lambda d, i: d, target, steps=10, which=which)
    assert info['adapted'].tolist() == [True, False, True]
    trained = uncorrected + corr(c_in)
    # the unselected instance: C's trained output, error unchanged
    torch.testing.assert_close(out[1], trained[1].detach())
    assert info['step'][1].item() == 0
    assert (info['error'][which] < info['error_trained'][which]).all()
    with pytest.raises(ValueError, match='which'):
        adapt_correction(
            corr,
            c_in,
            uncorrected,
            lambda d, i: d,
            target,
            which=torch.ones(2, dtype=torch.bool))


def test_a_diverging_adaptation_keeps_its_last_finite_step():
    """A feedback that turns non-finite after the first step: the instance
    stops, keeps its best finite output and says so; one that is non-finite
    from the start returns C's output with a non-finite error (the estimator
    then falls back to the frozen map)."""
    corr, c_in, uncorrected, target = _known_problem()
    calls = {'n': 0}

    def feedback(d, i):
        calls['n'] += 1
        return d * float('nan') if calls['n'] > 2 else d

    out, info = adapt_correction(
        corr, c_in[:1], uncorrected[:1], feedback, target[:1], steps=10)
    assert calls['n'] == 3  # step 0, step 1, then NaN at step 2: stopped
    assert info['nonfinite'].tolist() == [True]
    assert torch.isfinite(out).all() and torch.isfinite(info['error']).all()
    out, info = adapt_correction(
        corr,
        c_in[:1],
        uncorrected[:1],
        lambda d, i: d * float('nan'),
        target[:1],
        steps=10)
    assert info['nonfinite'].tolist() == [True]
    assert not torch.isfinite(info['error']).any()
