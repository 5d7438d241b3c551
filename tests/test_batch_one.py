"""Every head trains and tests at batch size 1 (a dataset whose size leaves a
last batch of one hits it at the end of every epoch), through MMEngine's Runner
on generated data."""
import pytest
import torch
from mmengine.runner import Runner
from zoo import HEADS, runner_cfg


@pytest.mark.parametrize('name', list(HEADS))
def test_batch_size_one_trains_and_tests(name, tiny_synthetic, tmp_path):
    cfg = runner_cfg(name, tiny_synthetic, tmp_path, iters=2, batch_size=1)
    # the box metric suffices
    cfg.test_evaluator = [
        m for m in cfg.test_evaluator if m['type'] != 'CocoMetric'
    ]
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert runner.test_dataloader.batch_size == 1
    assert 0.0 <= metrics['synthetic/PCK@0.1'] <= 1.0
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
