"""SCAI on the bundled COCO images: base model → Φ/Γ → C → AP and the distal
keypoints without/with test-time adaptation.

    python -m mmpose_ext.tools.scai_evidence [--base-epochs 300] \
        [--pg-epochs 100] [--c-epochs 60] [--seed 0] [--threads 1] \
        [--features-for phi] [--phi-residual | --no-phi-residual] \
        [--work-dir outputs/scai_evidence]

1. trains the frozen model
   (configs/scai/td-hm_res18-s16_1xb8-300e_fixtures-64x48.py, MMPose's
   heatmap recipe with a ResNet-18 from scratch) with MMEngine's runner;
2. trains SCAI's Φ and Γ (scai-pg_…) and then C (scai-c_…) on it, through
   the runner;
3. tests with MMPose's CocoMetric and our SCAIFeedbackMetric: the frozen
   model, then SCAI as configured (the keep rule) without adaptation,
   replacing the distal maps unconditionally (``keep='always'``, the paper's
   text), with adaptation of everyone, with selective adaptation, and with
   the paper's adaptation (Adam, lr 0.013, ×0.96, 20 steps, no anchor,
   unconditional replacement).

Training and evaluation use the same 4 images (14 people, 12 with keypoints):
these numbers say whether the pieces work together, not how SCAI
generalises. Each SCAI variant (``--features-for``, ``--phi-residual``) trains
in its own folder under the work dir (the frozen model is shared by the
variants of the same seed and epochs), so variants never overwrite each
other's checkpoints. The summary (printed, and ``summary.json`` in the
variant's folder) records the commit, the torch threads, the seed and the
epochs.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mmpose_ext.resources import configs_dir

CONFIGS = configs_dir() / 'scai'
BASE = CONFIGS / 'td-hm_res18-s16_1xb8-300e_fixtures-64x48.py'
STAGE1 = CONFIGS / 'scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48.py'
STAGE2 = CONFIGS / 'scai-c_td-hm-res18-s16_1xb8-60e_fixtures-64x48.py'

#: test variants: name → test_cfg update of the stage-2 config (applied to
#: its own test_cfg, one at a time)
TESTS = {
    'scai':
    dict(adapt=dict(enable=False)),
    'scai_always':
    dict(keep='always', adapt=dict(enable=False)),
    'scai_adapt':
    dict(adapt=dict(enable=True, select='all')),
    'scai_adapt_selective':
    dict(adapt=dict(enable=True, select='free_energy')),
    'scai_adapt_paper':
    dict(
        keep='always',
        adapt=dict(
            enable=True,
            select='all',
            steps=20,
            lr=0.013,
            decay=0.96,
            optimizer='adam',
            anchor_weight=0.0)),
}

#: summary.json's names for the test metrics reported
SUMMARY = {
    'AP': 'coco/AP',
    'AP50': 'coco/AP .5',
    'distal_PCK01': 'scai/distal PCK@0.1',
    'frozen_distal_PCK01': 'scai/frozen distal PCK@0.1',
    'distal_err': 'scai/distal err/box',
    'frozen_distal_err': 'scai/frozen distal err/box',
    'r_feedback_vs_true_error': 'scai/r(feedback, error)',
    'rho_feedback_vs_true_error': 'scai/rho(feedback, error)',
    'kept': 'scai/kept',
    'adapted': 'scai/adapted',
    'better': 'scai/better',
    'worse': 'scai/worse',
    'fallback': 'scai/fallback',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--base-epochs', type=int, default=300)
    parser.add_argument('--pg-epochs', type=int, default=100)
    parser.add_argument('--c-epochs', type=int, default=60)
    parser.add_argument(
        '--adapt-steps',
        type=int,
        default=None,
        help='test-time adaptation steps (default: the config\'s)')
    parser.add_argument('--work-dir', default='outputs/scai_evidence')
    parser.add_argument(
        '--base-checkpoint',
        default=None,
        help='skip step 1 and wrap this checkpoint')
    parser.add_argument(
        '--features-for',
        nargs='*',
        default=None,
        help="which of Φ ('phi') and Γ ('gamma') see the image features "
        "(default: the config's)")
    residual = parser.add_mutually_exclusive_group()
    residual.add_argument(
        '--phi-residual',
        dest='phi_residual',
        action='store_true',
        default=None,
        help="Φ refines the frozen model's own distal heatmap (not in the "
        'paper)')
    residual.add_argument(
        '--no-phi-residual',
        dest='phi_residual',
        action='store_false',
        help='Φ predicts the distal heatmap without seeing the frozen '
        "model's (the paper)")
    parser.add_argument(
        '--seed', type=int, default=0, help='seeds every training stage')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch intra-op threads (1: repeatable, and much faster on a '
        'busy shared CPU)')
    return parser.parse_args(argv)


def load_cfg(path: Path, work_dir: Path, epochs: int, seed: int):
    """A config with its schedule shortened/lengthened to ``epochs``, its own
    work dir and the seed."""
    from mmengine.config import Config

    from mmpose_ext.schedule import set_epochs

    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    set_epochs(cfg, epochs)
    return cfg


def train(cfg) -> str:
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg)
    runner.train()
    return str(Path(cfg.work_dir) / f'epoch_{cfg.train_cfg.max_epochs}.pth')


def test(cfg, checkpoint: str, work_dir: Path, scai: bool) -> dict:
    """MMPose's test of ``checkpoint`` with the config's evaluator (+
    SCAIFeedbackMetric for SCAI), logs in ``work_dir``."""
    from mmengine.runner import Runner

    cfg = cfg.copy()
    cfg.load_from = checkpoint
    cfg.work_dir = str(work_dir)
    if scai:
        evaluator = cfg.test_evaluator
        cfg.test_evaluator = (
            list(evaluator) if isinstance(evaluator, (list, tuple)) else
            [evaluator]) + [dict(type='SCAIFeedbackMetric', prefix='scai')]
    return Runner.from_cfg(cfg).test()


def variant_name(features_for, phi_residual) -> str:
    return ('features-' + ('+'.join(features_for) or 'none') +
            ('_phi-residual' if phi_residual else '_phi-paper'))


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.benchmark.provenance import provenance
    torch.set_num_threads(args.threads)

    root = Path(args.work_dir)
    t0 = time.time()
    base_dir = root / f'base_e{args.base_epochs}_seed{args.seed}'
    base_cfg = load_cfg(BASE, base_dir, args.base_epochs, args.seed)
    base_ckpt = args.base_checkpoint or train(base_cfg)
    t_base = time.time() - t0

    pg_cfg = load_cfg(STAGE1, root, args.pg_epochs, args.seed)
    features_for = tuple(
        pg_cfg.model.get('features_for', (
            'phi',
            'gamma')) if args.features_for is None else args.features_for)
    phi_residual = bool(
        pg_cfg.model.get('phi_residual', False) if args.phi_residual is
        None else args.phi_residual)
    variant = root / (
        variant_name(features_for, phi_residual) +
        f'_e{args.pg_epochs}-{args.c_epochs}_seed{args.seed}')
    pg_cfg.work_dir = str(variant / 'phi_gamma')
    pg_cfg.model.base_checkpoint = base_ckpt
    pg_cfg.model.features_for = features_for
    pg_cfg.model.phi_residual = phi_residual
    pg_ckpt = train(pg_cfg)
    t_pg = time.time() - t0 - t_base

    c_cfg = load_cfg(STAGE2, variant / 'correction', args.c_epochs, args.seed)
    # the stage-1 checkpoint holds the frozen model too
    c_cfg.model.base_checkpoint = None
    c_cfg.model.features_for = features_for
    c_cfg.model.phi_residual = phi_residual
    c_cfg.load_from = pg_ckpt
    c_ckpt = train(c_cfg)
    t_c = time.time() - t0 - t_base - t_pg

    results, seconds = {}, {}
    t1 = time.time()
    results['frozen'] = test(base_cfg, base_ckpt, variant / 'test_frozen',
                             False)
    seconds['frozen'] = round(time.time() - t1, 1)
    for name, update in TESTS.items():
        cfg = c_cfg.copy()
        test_cfg = cfg.model.test_cfg
        test_cfg.update({k: v for k, v in update.items() if k != 'adapt'})
        test_cfg.adapt.update(update['adapt'])
        if args.adapt_steps is not None and name != 'scai_adapt_paper':
            test_cfg.adapt.steps = args.adapt_steps
        t1 = time.time()
        results[name] = test(cfg, c_ckpt, variant / f'test_{name}', True)
        seconds[name] = round(time.time() - t1, 1)

    summary = dict(
        # summary name: {test: value of that metric key}
        **{
            name: {
                k: v[key]
                for k, v in results.items() if key in v
            }
            for name, key in SUMMARY.items()
        },
        features_for=list(features_for),
        phi_residual=phi_residual,
        test_cfg={
            k: v
            for k, v in c_cfg.model.test_cfg.items() if k != 'adapt'
        },
        adapt=dict(c_cfg.model.test_cfg.adapt),
        tests=TESTS,
        seconds=dict(
            base_train=round(t_base, 1),
            phi_gamma_train=round(t_pg, 1),
            correction_train=round(t_c, 1),
            test=seconds),
        checkpoints=dict(base=base_ckpt, phi_gamma=pg_ckpt, correction=c_ckpt),
        epochs=dict(
            base=args.base_epochs,
            phi_gamma=args.pg_epochs,
            correction=args.c_epochs),
        seed=args.seed,
        command='python -m mmpose_ext.tools.scai_evidence ' +
        ' '.join(sys.argv[1:] if argv is None else argv),
        **provenance())
    variant.mkdir(parents=True, exist_ok=True)
    (variant /
     'summary.json').write_text(json.dumps(summary, indent=2, default=float))
    print('\n==> SCAI evidence (bundled COCO images; train = test, 12 people)')
    print(json.dumps(summary, indent=2, default=float))
    return summary


if __name__ == '__main__':
    np.set_printoptions(precision=4)
    main()
