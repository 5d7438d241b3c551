"""SCAI on the bundled COCO images: base model → Φ/Γ → C → AP without/with
test-time adaptation.

    python -m mmpose_ext.tools.scai_evidence [--base-epochs 300] \
        [--pg-epochs 100] [--c-epochs 60] \
        [--work-dir outputs/scai_evidence]

1. trains the frozen model
   (configs/scai/td-hm_res18-s16_1xb8-300e_fixtures-64x48.py, MMPose's
   heatmap recipe with a ResNet-18 from scratch) with MMEngine's runner;
2. trains SCAI's Φ and Γ (scai-pg_…) and then C (scai-c_…) on it, through
   the runner;
3. evaluates with MMPose's CocoMetric: the frozen model, SCAI without and
   with test-time adaptation;
4. measures the distal keypoints' true errors and their correlation with the
   self-referential error.

Training and evaluation use the same 4 images (14 people, 12 with keypoints):
these numbers say whether the pieces work together, not how SCAI
generalises. Prints a JSON summary and writes it to the work dir.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from mmpose_ext.resources import configs_dir

CONFIGS = configs_dir() / 'scai'
BASE = CONFIGS / 'td-hm_res18-s16_1xb8-300e_fixtures-64x48.py'
STAGE1 = CONFIGS / 'scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48.py'
STAGE2 = CONFIGS / 'scai-c_td-hm-res18-s16_1xb8-60e_fixtures-64x48.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--base-epochs', type=int, default=300)
    parser.add_argument('--pg-epochs', type=int, default=100)
    parser.add_argument('--c-epochs', type=int, default=60)
    parser.add_argument('--adapt-steps', type=int, default=20)
    parser.add_argument('--work-dir', default='outputs/scai_evidence')
    parser.add_argument(
        '--base-checkpoint',
        default=None,
        help='skip step 1 and wrap this checkpoint')
    parser.add_argument(
        '--features-for',
        nargs='*',
        default=['phi', 'gamma'],
        help="which of Φ ('phi') and Γ ('gamma') see the image features")
    parser.add_argument(
        '--phi-residual',
        action='store_true',
        help=
        "Φ refines the frozen model's own distal heatmap (not in the paper)")
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch intra-op threads (1 is much faster on a busy shared CPU)')
    return parser.parse_args(argv)


def load_cfg(path: Path, work_dir: Path, epochs: int):
    """A config with its schedule shortened/lengthened to ``epochs`` and its
    own work dir."""
    from mmengine.config import Config

    from mmpose_ext.schedule import set_epochs

    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(work_dir)
    set_epochs(cfg, epochs)
    return cfg


def train(cfg) -> str:
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg)
    runner.train()
    return str(Path(cfg.work_dir) / f'epoch_{cfg.train_cfg.max_epochs}.pth')


def test(cfg, checkpoint: str) -> dict:
    from mmengine.runner import Runner

    cfg = cfg.copy()
    cfg.load_from = checkpoint
    return Runner.from_cfg(cfg).test()


def correlation_report(cfg, checkpoint: str) -> dict:
    """True distal errors of base / SCAI and their correlation with the self-
    referential error."""
    from mmengine.runner import Runner

    from mmpose_ext.models.scai.evaluation import (collect_distal_errors,
                                                   pearson, spearman)

    cfg = cfg.copy()
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    errs = collect_distal_errors(runner.model, runner.test_dataloader)
    vis = errs['visible']
    report = dict(
        distal_keypoints=int(vis.sum()),
        base_mean_error=float(errs['base'][vis].mean()),
        scai_mean_error=float(errs['scai'][vis].mean()),
        pearson_selferror_vs_true_error=pearson(errs['self_error'][vis],
                                                errs['scai'][vis]),
        spearman_selferror_vs_true_error=spearman(errs['self_error'][vis],
                                                  errs['scai'][vis]),
        pearson_uncorrected_selferror_vs_base_error=pearson(
            errs['self_error_uncorrected'][vis], errs['base'][vis]),
        improved=int((errs['scai'][vis] < errs['base'][vis] - 1e-9).sum()),
        worsened=int((errs['scai'][vis] > errs['base'][vis] + 1e-9).sum()))
    return report


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    import mmpose_ext  # noqa: F401  (registers our modules)
    if args.threads:
        torch.set_num_threads(args.threads)

    root = Path(args.work_dir)
    t0 = time.time()
    base_cfg = load_cfg(BASE, root / 'base', args.base_epochs)
    base_ckpt = args.base_checkpoint or train(base_cfg)
    t_base = time.time() - t0

    pg_cfg = load_cfg(STAGE1, root / 'phi_gamma', args.pg_epochs)
    pg_cfg.model.base_checkpoint = base_ckpt
    pg_cfg.model.features_for = tuple(args.features_for)
    pg_cfg.model.phi_residual = args.phi_residual
    pg_ckpt = train(pg_cfg)
    t_pg = time.time() - t0 - t_base

    c_cfg = load_cfg(STAGE2, root / 'correction', args.c_epochs)
    # the stage-1 checkpoint holds the frozen model too
    c_cfg.model.base_checkpoint = None
    c_cfg.model.features_for = tuple(args.features_for)
    c_cfg.model.phi_residual = args.phi_residual
    c_cfg.load_from = pg_ckpt
    c_ckpt = train(c_cfg)
    t_c = time.time() - t0 - t_base - t_pg

    results = dict(base=test(base_cfg, base_ckpt))
    c_cfg.model.test_cfg.adapt.enable = False
    results['scai_no_adapt'] = test(c_cfg, c_ckpt)
    corr_no_adapt = correlation_report(c_cfg, c_ckpt)
    c_cfg.model.test_cfg.adapt.enable = True
    c_cfg.model.test_cfg.adapt.steps = args.adapt_steps
    t1 = time.time()
    results['scai_adapt'] = test(c_cfg, c_ckpt)  # the config's optimiser: Adam
    t_adapt_test = time.time() - t1
    corr_adapt = correlation_report(c_cfg, c_ckpt)
    c_cfg.model.test_cfg.adapt.optimizer = 'sgd'
    results['scai_adapt_sgd'] = test(c_cfg, c_ckpt)
    corr_adapt_sgd = correlation_report(c_cfg, c_ckpt)

    summary = dict(
        AP={
            k: v.get('coco/AP')
            for k, v in results.items()
        },
        AP50={
            k: v.get('coco/AP .5')
            for k, v in results.items()
        },
        distal_no_adapt=corr_no_adapt,
        distal_adapt=corr_adapt,
        distal_adapt_sgd=corr_adapt_sgd,
        features_for=list(args.features_for),
        phi_residual=args.phi_residual,
        seconds=dict(
            base_train=round(t_base, 1),
            phi_gamma_train=round(t_pg, 1),
            correction_train=round(t_c, 1),
            adapt_test=round(t_adapt_test, 1)),
        checkpoints=dict(base=base_ckpt, phi_gamma=pg_ckpt, correction=c_ckpt),
        epochs=dict(
            base=args.base_epochs,
            phi_gamma=args.pg_epochs,
            correction=args.c_epochs),
    )
    (root /
     'summary.json').write_text(json.dumps(summary, indent=2, default=float))
    print('\n==> SCAI evidence (bundled COCO images; train = test, 12 people)')
    print(json.dumps(summary, indent=2, default=float))
    return summary


if __name__ == '__main__':
    np.set_printoptions(precision=4)
    main()
