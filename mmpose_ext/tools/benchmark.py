"""Train and compare pose models under the same budget on generated data; write a table and plots.

    python -m mmpose_ext.tools.benchmark --configs configs/synthetic/*.py --budget-iters 300 --seed 0 \
        --out outputs/benchmark [--num-train 2000 --num-val 200] [--layout coco|crowdpose]

Generates (once) a synthetic dataset, trains each config for the same number of iterations (or minutes) with
MMEngine's Runner (GPU when there is one), tests it with MMPose's CocoMetric on the held-out generated split
and on the real images in data/fixtures, measures parameters, FLOPs and CPU latency (batch 1 and 32), and
writes OUT/results.json, OUT/results.md, OUT/ap_vs_latency.png and OUT/ap_vs_train_time.png.
"""
import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', nargs='+', required=True, help='model configs to compare')
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument('--budget-iters', type=int, help='training iterations per config')
    budget.add_argument('--budget-minutes', type=float, help='training wall-clock minutes per config')
    parser.add_argument('--seed', type=int, default=0, help='seeds the data and the training')
    parser.add_argument('--out', default=str(REPO / 'outputs/benchmark'))
    parser.add_argument('--layout', choices=['coco', 'crowdpose'], default='coco')
    parser.add_argument('--data-root', default=None, help='generated dataset folder (default: under --out)')
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--real-data', default=None,
                        help='folder with test_<layout>.json and images (default: data/fixtures/<layout>)')
    parser.add_argument('--no-real', action='store_true', help='skip the real-image evaluation')
    parser.add_argument('--workers', type=int, default=2, help='data loader / generator processes')
    parser.add_argument('--batch-size', type=int, default=None, help='override every config\'s batch size')
    parser.add_argument('--latency-repeats', type=int, default=5, help='timed CPU forward passes per batch size')
    parser.add_argument('--latency-batches', type=int, nargs='+', default=[1, 32],
                        help='batch sizes whose CPU latency is measured (the table shows 1 and 32)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.benchmark import run_benchmark

    real = None if args.no_real else (args.real_data or str(REPO / 'data/fixtures' / args.layout))
    command = 'python -m mmpose_ext.tools.benchmark ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    out = run_benchmark(args.configs, args.out, args.seed, args.budget_iters, args.budget_minutes, args.layout,
                        args.data_root, args.num_train, args.num_val, real, args.workers, args.batch_size,
                        args.latency_repeats, args.latency_batches, command)
    print((Path(out['files']['md'])).read_text())
    for key, path in out['files'].items():
        print(f'{key:14s} {path}')
    return out


if __name__ == '__main__':
    main()
