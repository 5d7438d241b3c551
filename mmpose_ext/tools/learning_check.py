"""Check that heads learn: train each config briefly on frozen ImageNet
features of generated people and compare its held-out keypoints with the mean
pose (``mmpose_ext.benchmark.learning_check``).

    python -m mmpose_ext.tools.learning_check CONFIG [CONFIG ...] \
        [--iters 300] [--seeds 0 1] [--cfg-options KEY=VALUE ...] \
        [--train-images 240] [--val-images 40] [--input-size 96 128] \
        [--batch-size 16] [--train-backbone] [--out outputs/learning_check]

Prints one row per config and seed: held-out error / box size (mean and
median), PCK@0.1/0.2 beside the mean pose's, PCK@0.1 on the training people,
the loss at the start and the end and, for coordinate classifiers, the logit
range across bins and the top-bin probability at step 0 and at the end; the
same as JSON in ``--out``/results.json.
"""
import argparse
import json
from dataclasses import asdict
from pathlib import Path


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+', help='top-down configs')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config (as MMPose\'s tools)')
    parser.add_argument('--train-images', type=int, default=240)
    parser.add_argument('--val-images', type=int, default=40)
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        default=(96, 128),
        metavar=('W', 'H'),
        help='crop size; configs of another size are resized to it')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument(
        '--train-backbone',
        action='store_true',
        help='train the backbone as configured instead of freezing it')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--out', default='outputs/learning_check')
    return parser.parse_args(argv)


def main(argv=None) -> list:
    args = parse_args(argv)
    import torch

    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.benchmark.learning_check import check_head, make_probe_data
    from mmpose_ext.resources import config_path

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = make_probe_data(
        out / f'data-{args.train_images}-{args.val_images}',
        num_train_images=args.train_images,
        num_val_images=args.val_images,
        input_size=tuple(args.input_size),
        workers=args.workers)
    print(f'{len(data.train.results)} training and {len(data.val.results)} '
          f'held-out people, {data.input_size[0]}x{data.input_size[1]}, '
          f'{torch.get_num_threads()} threads')
    rows = []
    for config in args.configs:
        for seed in args.seeds:
            result = check_head(
                str(config_path(config)),
                data,
                iters=args.iters,
                batch_size=args.batch_size,
                seed=seed,
                overrides=args.cfg_options,
                name=f'{Path(config).stem} seed {seed}',
                train_backbone=args.train_backbone)
            print(result.row(), flush=True)
            rows.append(dict(asdict(result), config=str(config), seed=seed))
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(
        json.dumps(dict(args=vars(args), results=rows), indent=1))
    return rows


if __name__ == '__main__':
    main()
