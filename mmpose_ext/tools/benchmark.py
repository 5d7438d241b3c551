"""Train and compare pose models under the same budget on generated data; write
tables and plots.

    python -m mmpose_ext.tools.benchmark \
        --configs configs/synthetic/*_synthetic-128x96.py \
        --budget-minutes 20 --seeds 0 1 --evals 8 --out outputs/benchmark \
        [--num-train 4000 --num-val 200 --num-val-shifted 100] \
        [--layout coco|crowdpose]

Generates (once) a synthetic dataset, trains each config for the same number
of iterations or minutes of training time with MMEngine's Runner (GPU when
there is one), validating ``--evals`` times on the way for a learning curve,
tests it with MMPose's CocoMetric and our BoxNormalizedPoseMetric on the
held-out generated split, the real images in data/fixtures and (with
``--num-val-shifted``) the shifted split, measures parameters, FLOPs and CPU
latency (batch 1 and 32), adds the no-skill row (the training mean pose in
every box) and writes OUT/results.json, OUT/results.md,
OUT/learning_curves.png and OUT/pck_vs_latency.png.
"""
import argparse
import shlex
import sys
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--configs', nargs='+', required=True, help='model configs to compare')
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument(
        '--budget-iters', type=int, help='training iterations per config')
    budget.add_argument(
        '--budget-minutes',
        type=float,
        help='training wall-clock minutes per config')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0],
        help='training seeds (one run each)')
    parser.add_argument(
        '--data-seed', type=int, default=0, help='seeds the generated data')
    parser.add_argument(
        '--evals',
        type=int,
        default=0,
        help='validations on the held-out split during training (the learning '
        'curve)')
    parser.add_argument('--out', default='outputs/benchmark')
    parser.add_argument(
        '--layout', choices=['coco', 'crowdpose'], default='coco')
    parser.add_argument(
        '--data-root',
        default=None,
        help='generated dataset folder (default: under --out)')
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument(
        '--num-val-shifted',
        type=int,
        default=0,
        help=
        'held-out images under the shifted appearance (0: no shifted split)')
    parser.add_argument(
        '--real-data',
        default=None,
        help='folder with test_<layout>.json and images (default: '
        'data/fixtures/<layout>)')
    parser.add_argument(
        '--no-real',
        action='store_true',
        help='skip the real-image evaluation')
    parser.add_argument(
        '--workers',
        type=int,
        default=2,
        help='data loader / generator processes')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=None,
        help='override every config\'s batch size')
    parser.add_argument(
        '--latency-repeats',
        type=int,
        default=5,
        help='timed CPU forward passes per batch size')
    parser.add_argument(
        '--latency-batches',
        type=int,
        nargs='+',
        default=[1, 32],
        help=
        'batch sizes whose CPU latency is measured (the table shows 1 and 32)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.benchmark import run_benchmark
    from mmpose_ext.resources import fixtures_dir

    real = None if args.no_real else (args.real_data
                                      or str(fixtures_dir(args.layout)))
    command = 'python -m mmpose_ext.tools.benchmark ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    out = run_benchmark(args.configs, args.out, args.seeds, args.budget_iters,
                        args.budget_minutes, args.layout, args.data_root,
                        args.num_train, args.num_val, args.num_val_shifted,
                        args.data_seed, real, args.workers, args.batch_size,
                        args.latency_repeats, args.latency_batches, args.evals,
                        command)
    print((Path(out['files']['md'])).read_text())
    for key, path in out['files'].items():
        print(f'{key:14s} {path}')
    return out


if __name__ == '__main__':
    main()
