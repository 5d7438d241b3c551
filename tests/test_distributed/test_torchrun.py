"""Every head of ours trains data-parallel in 2 CPU processes as a user would
launch it:

    python -m torch.distributed.run --standalone --nproc_per_node 2
        -m mmpose_ext.tools.train CONFIG --launcher pytorch

(MMPose's tools/train.py, which on a machine without an accelerator creates the
gloo process group and gives MMDistributedDataParallel ``device_ids=None``, and
the config's ``find_unused_parameters``: SCAI's stage 1 needs it, as Φ and Γ
train on alternating iterations). Each head: 2 iterations at 2 instances per
process, a checkpoint from rank 0 that loads under ``weights_only=True``, and
one validation whose results are collected from both processes (every held-out
instance counted once).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from zoo import OURS, runner_cfg

REPO = Path(__file__).resolve().parents[2]
ITERS = 2


def ddp_config(name: str, data_root, tmp_path: Path) -> Path:
    """The zoo config of ``name`` with a checkpoint and a validation (fast
    metrics) at iteration ITERS."""
    cfg = runner_cfg(
        name, data_root, tmp_path / 'work', iters=ITERS, batch_size=2)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=ITERS, by_epoch=False)
    cfg.val_dataloader = cfg.test_dataloader
    cfg.val_evaluator = [
        m for m in cfg.test_evaluator if m['type'] != 'CocoMetric'
    ]
    cfg.val_cfg = dict(type='ValLoop')
    cfg.train_cfg.val_interval = ITERS
    path = tmp_path / f'{name}.py'
    cfg.dump(str(path))
    return path


def torchrun(config: Path,
             nproc: int = 2,
             *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--standalone',
        '--nproc_per_node',
        str(nproc), '-m', 'mmpose_ext.tools.train',
        str(config), '--launcher', 'pytorch', *extra
    ]
    # CUDA_VISIBLE_DEVICES='': the CPU path even where a GPU is present (2
    # processes on one GPU would not run)
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS='1',
        PYTHONWARNINGS='ignore',
        CUDA_VISIBLE_DEVICES='')
    return subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('name', OURS)
def test_two_process_training(name, tiny_synthetic, tmp_path):
    proc = torchrun(ddp_config(name, tiny_synthetic, tmp_path))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'gloo process group (rank 0 of 2)' in log, log[-4000:]
    assert re.search(r'Distributed training: True\s+GPU number: 2',
                     log), log[-4000:]
    assert re.search(rf'Iter\(train\) \[{ITERS}/{ITERS}\]', log), log[-4000:]

    # validation: both processes' results gathered, every held-out instance
    # once
    val_ann = json.loads((tiny_synthetic / 'annotations' /
                          'person_keypoints_val.json').read_text())
    counted = re.search(r'synthetic/num_instances: (\d+)', log)
    assert counted and int(counted.group(1)) == len(
        val_ann['annotations']), log[-4000:]

    ckpt = torch.load(
        tmp_path / 'work' / f'iter_{ITERS}.pth', weights_only=True)
    assert ckpt['meta']['iter'] == ITERS
    # saved unwrapped
    assert all(not k.startswith('module.') for k in ckpt['state_dict'])
