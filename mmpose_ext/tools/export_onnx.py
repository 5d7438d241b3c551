"""Export a top-down model's inference path (backbone → neck → head.forward) to ONNX and check it
against onnxruntime.

    python -m mmpose_ext.tools.export_onnx CONFIG [--checkpoint CKPT] [--out model.onnx] [--opset 17]

Works for any of our top-down configs (Poseur needs opset >= 16 for ``GridSample``). The checkpoint is
loaded strictly (``mmpose_ext.checkpoint.CheckpointError`` lists the keys that do not match). Prints the
outputs' shapes and the max |ONNX − PyTorch| on a random batch of two; exits non-zero above ``--tol``.
"""
import argparse
import sys

import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None, help='weights (random init when omitted)')
    parser.add_argument('--out', default='model.onnx')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--tol', type=float, default=1e-4)
    return parser.parse_args(argv)


def main(argv=None) -> float:
    args = parse_args(argv)
    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmengine.config import Config

    from mmpose_ext.checkpoint import init_model_strict
    from mmpose_ext.deploy import check_onnx, export_onnx

    cfg = Config.fromfile(args.config)
    if args.checkpoint is None and cfg.model.backbone.get('init_cfg'):
        cfg.model.backbone.init_cfg = None  # no download for a random-weights export
    model = init_model_strict(cfg, args.checkpoint, device='cpu')  # a mismatched checkpoint is an error
    w, h = cfg.codec.input_size
    path = export_onnx(model, args.out, input_shape=(1, 3, h, w), opset=args.opset)
    max_diff = check_onnx(model, path, torch.randn(2, 3, h, w))
    print(f'exported {path} (opset {args.opset}); max |onnxruntime - torch| = {max_diff:.3e}')
    if max_diff > args.tol:
        print(f'FAILED: above the tolerance {args.tol}', file=sys.stderr)
        sys.exit(1)
    return max_diff


if __name__ == '__main__':
    main()
