"""Save a PNG grid of TokenPose's keypoint-token attention over one person crop
at chosen layers.

    python -m mmpose_ext.tools.tokenpose_attention CONFIG IMAGE \
        --checkpoint CKPT [--bbox X1 Y1 X2 Y2] [--layers 0 5 11] \
        [--out attention.png]

Rows are layers, columns keypoints (names from the dataset metainfo); each
cell is the crop with that keypoint token's head-averaged attention over the
image patches blended in (MMPose's heatmap overlay).
"""
import argparse
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('image')
    parser.add_argument(
        '--checkpoint',
        default=None,
        help='weights (random weights if omitted)')
    parser.add_argument(
        '--bbox',
        type=float,
        nargs=4,
        default=None,
        help='person box x1 y1 x2 y2 '
        '(default: the whole image)')
    parser.add_argument(
        '--layers',
        type=int,
        nargs='+',
        default=None,
        help='layer indices (default all)')
    parser.add_argument('--out', default='tokenpose_attention.png')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None) -> Path:
    args = parse_args(argv)
    import mmcv
    from mmpose.apis import init_model

    import mmpose_ext  # noqa: F401  (registers TokenPose)
    from mmpose_ext.visualization import tokenpose_attention_grid

    model = init_model(args.config, args.checkpoint, device=args.device)
    grid = tokenpose_attention_grid(model,
                                    model.cfg.test_dataloader.dataset.pipeline,
                                    args.image, args.bbox, args.layers)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mmcv.imwrite(grid[:, :, ::-1], str(out))  # RGB → BGR for cv2
    print(f'attention grid {grid.shape[1]}x{grid.shape[0]} written to {out}')
    return out


if __name__ == '__main__':
    main()
