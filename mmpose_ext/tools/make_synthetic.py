"""Generate the synthetic human-keypoint dataset (COCO format, K=17; or
CrowdPose's K=14).

    python -m mmpose_ext.tools.make_synthetic --out data/synthetic \
        --num-train 3000 --num-val 300 \
        [--seed 0] [--layout coco|crowdpose] [--workers 2]

Writes ``OUT/{train,val}/*.jpg``,
``OUT/annotations/person_keypoints_{train,val}.json``, the simulated
detections ``OUT/annotations/person_detections_{train,val}.json`` and
``OUT/meta.json`` (parameters and images per second); ``--preview
docs/x.png`` also draws the first train images with their skeletons (MMPose's
visualizer). The same seed gives the same files.
"""
import argparse
import json

from mmpose_ext.datasets.synthetic import generate_dataset
from mmpose_ext.datasets.synthetic.preview import draw_samples


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--num-train', type=int, default=3000)
    parser.add_argument('--num-val', type=int, default=300)
    parser.add_argument(
        '--num-val-shifted',
        type=int,
        default=0,
        help='also a val_shifted split: held-out people under the shifted '
        'appearance')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--layout',
        choices=['coco', 'crowdpose'],
        default='coco',
        help=
        'coco: 17 keypoints; crowdpose: 14 keypoints (+ crowdIndex per image)')
    parser.add_argument(
        '--workers',
        type=int,
        default=0,
        help='worker processes (0: this process)')
    parser.add_argument(
        '--min-size', type=int, default=192, help='smallest image side')
    parser.add_argument(
        '--max-size', type=int, default=320, help='largest image side')
    parser.add_argument('--max-people', type=int, default=6)
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument(
        '--preview',
        default=None,
        help='also save a PNG grid of train images with skeletons')
    parser.add_argument('--preview-num', type=int, default=6)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    summary = generate_dataset(
        args.out,
        args.num_train,
        args.num_val,
        args.seed,
        args.layout,
        args.workers, (args.min_size, args.max_size),
        args.max_people,
        progress=not args.no_progress,
        num_val_shifted=args.num_val_shifted)
    print(
        json.dumps({
            k: v
            for k, v in summary.items() if k != 'params'
        },
                   indent=2))
    if args.preview:
        print(
            'preview:',
            draw_samples(
                args.out,
                args.preview,
                num=args.preview_num,
                layout=args.layout))
    return summary


if __name__ == '__main__':
    main()
