"""Export a pose model's inference path (backbone → neck → head.forward, or
with ``--decode`` the head's decoding too) to a self-describing ONNX file and
check it against onnxruntime.

    python -m mmpose_ext.tools.export_onnx CONFIG [--checkpoint CKPT] \
        [--out model.onnx] [--opset 17] [--decode]

Works for any of our top-down configs (Poseur needs opset >= 16 for
``GridSample``) and the one-stage RTMO-style configs. The file's
``metadata_props`` describe the input, crop, codec, score rule and skeleton
(``mmpose_ext.deploy``), so ``python -m mmpose_ext_runtime model.onnx
IMAGES`` runs it with numpy, OpenCV and onnxruntime alone. With ``--decode``
the graph outputs keypoints in crop pixels and scores (one-stage: the
instances kept by the score threshold and NMS); DARK/UDP codecs stay raw (a
warning says so). The checkpoint is loaded strictly
(``mmpose_ext.checkpoint.CheckpointError`` lists the keys that do not match).
Prints the max |ONNX − PyTorch| on a random batch of two; exits non-zero
above ``--tol``.
"""
import argparse
import sys

import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--checkpoint',
        default=None,
        help='weights (random init when omitted)')
    parser.add_argument('--out', default='model.onnx')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--tol',
        type=float,
        default=None,
        help='max |onnxruntime - torch| (default 1e-4; with --decode 1e-4 x '
        'the '
        'input size, '
        'as keypoints are then in pixels)')
    parser.add_argument(
        '--decode',
        action='store_true',
        help='decode in the graph: keypoints (crop pixels) + scores; '
        'one-stage: '
        'threshold + NMS')
    return parser.parse_args(argv)


def main(argv=None) -> float:
    args = parse_args(argv)
    from mmengine.config import Config

    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.checkpoint import init_model_strict
    from mmpose_ext.deploy import check_onnx, export_onnx
    from mmpose_ext.resources import config_path

    cfg = Config.fromfile(str(config_path(args.config)))
    if args.checkpoint is None and cfg.model.backbone.get('init_cfg'):
        # no download for a random-weights export
        cfg.model.backbone.init_cfg = None
    # a mismatched checkpoint is an error
    model = init_model_strict(cfg, args.checkpoint, device='cpu')
    w, h = (
        cfg.codec.input_size
        if 'codec' in cfg else cfg.model.test_cfg.input_size)
    path = export_onnx(
        model,
        args.out,
        input_shape=(1, 3, h, w),
        opset=args.opset,
        decode=args.decode,
        cfg=cfg)
    inputs = torch.randn(2, 3, h,
                         w) if 'codec' in cfg else torch.rand(2, 3, h, w) * 255
    max_diff = check_onnx(model, path, inputs)
    print(f'exported {path} (opset '
          f'{args.opset}{", decoded" if args.decode else ""}); '
          f'max |onnxruntime - torch| = {max_diff:.3e}')
    tol = args.tol if args.tol is not None else 1e-4 * (
        max(w, h) if args.decode else 1)
    if max_diff > tol:
        print(f'FAILED: above the tolerance {tol}', file=sys.stderr)
        sys.exit(1)
    return max_diff


if __name__ == '__main__':
    main()
