"""Export a pose model's inference path (backbone → neck → head.forward, or
with ``--decode`` the head's decoding too) to a self-describing ONNX file and
check it against onnxruntime.

    python -m mmpose_ext.tools.export_onnx CONFIG CHECKPOINT \
        [--out DIR_OR_FILE.onnx] [--opset 17] [--decode]
    python -m mmpose_ext.tools.export_onnx CONFIG --random-weights ...

``CONFIG`` is a file or a packaged name (``mmpose_ext::demo/NAME.py``),
``CHECKPOINT`` the trained weights, as in every tool
(:mod:`mmpose_ext.tools.cli`). Without a checkpoint nothing is exported
unless ``--random-weights`` asks for untrained weights (the model as built
from the config, no pretrained weights loaded: a graph to test a deployment
with, not a model; the tool says so when it finishes).
``--out`` is the output folder (``model.onnx`` in it, ``model_decoded.onnx``
with ``--decode``) or a file name ending in ``.onnx``.

Works for any of our top-down configs (Poseur needs opset >= 16 for
``GridSample``) and the one-stage RTMO-style configs. The file's
``metadata_props`` describe the input, crop, codec, score rule and skeleton
(``mmpose_ext.deploy``), so ``python -m mmpose_ext_runtime model.onnx
IMAGES`` runs it with numpy, OpenCV and onnxruntime alone. With ``--decode``
the graph outputs keypoints in crop pixels and scores (one-stage: the
instances kept by the score threshold and NMS); DARK/UDP codecs stay raw (a
warning says so). The checkpoint is loaded strictly
(``mmpose_ext.checkpoint.CheckpointError`` lists the keys that do not match).
Prints the max |ONNX − PyTorch| on a random batch of two; exits with status 1
above ``--tol``, and with status 2 and one line on bad input (a missing
config or checkpoint, neither or both of ``CHECKPOINT`` and
``--random-weights``, another model's checkpoint).
"""
import argparse
import sys
from pathlib import Path

import torch

from .cli import InputError, resolve_checkpoint, resolve_config, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'config',
        help='model config: a file or a packaged name '
        '(mmpose_ext::demo/NAME.py)')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='trained weights (an MMEngine checkpoint); required unless '
        '--random-weights')
    parser.add_argument(
        '--random-weights',
        action='store_true',
        help='export untrained weights (no checkpoint): a graph for testing '
        'a deployment, not a trained model')
    parser.add_argument(
        '--out',
        default='outputs/onnx',
        help='output folder (model.onnx, or model_decoded.onnx with '
        '--decode), or a file name ending in .onnx')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--tol',
        type=float,
        default=None,
        help='max |onnxruntime - torch| (default 1e-4; with --decode 1e-4 x '
        'the input size, as keypoints are then in pixels)')
    parser.add_argument(
        '--decode',
        action='store_true',
        help='decode in the graph: keypoints (crop pixels) + scores; '
        'one-stage: threshold + NMS')
    return parser.parse_args(argv)


def output_file(out: str, decode: bool) -> Path:
    """``--out`` as the ONNX file to write."""
    path = Path(out)
    if path.suffix == '.onnx':
        return path
    return path / ('model_decoded.onnx' if decode else 'model.onnx')


def main(argv=None) -> float:
    """Export and check; returns the max |ONNX − PyTorch|.

    Raises ``InputError`` / ``CheckpointError`` on bad input and
    ``SystemExit(1)`` above the tolerance.
    """
    args = parse_args(argv)
    if args.checkpoint is None and not args.random_weights:
        raise InputError(
            'no checkpoint: give the trained weights (CONFIG CHECKPOINT), or '
            '--random-weights to export untrained weights')
    if args.checkpoint is not None and args.random_weights:
        raise InputError('a checkpoint and --random-weights: give one')
    if args.checkpoint is not None:
        resolve_checkpoint(args.checkpoint)
    config = resolve_config(args.config)
    from mmengine.config import Config

    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.checkpoint import init_model_strict
    from mmpose_ext.deploy import check_onnx, export_onnx

    cfg = Config.fromfile(str(config))
    if args.random_weights and cfg.model.get('backbone', {}).get('init_cfg'):
        # no download for a random-weights export
        cfg.model.backbone.init_cfg = None
    # a mismatched checkpoint is an error
    model = init_model_strict(cfg, args.checkpoint, device='cpu')
    w, h = (
        cfg.codec.input_size
        if 'codec' in cfg else cfg.model.test_cfg.input_size)
    out = output_file(args.out, args.decode)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = export_onnx(
        model,
        out,
        input_shape=(1, 3, h, w),
        opset=args.opset,
        decode=args.decode,
        cfg=cfg)
    inputs = torch.randn(2, 3, h,
                         w) if 'codec' in cfg else torch.rand(2, 3, h, w) * 255
    max_diff = check_onnx(model, path, inputs)
    weights = ('RANDOM (untrained) weights, not a trained model'
               if args.random_weights else f'weights {args.checkpoint}')
    print(f'exported {path} (opset '
          f'{args.opset}{", decoded" if args.decode else ""}; {weights}); '
          f'max |onnxruntime - torch| = {max_diff:.3e}')
    tol = args.tol if args.tol is not None else 1e-4 * (
        max(w, h) if args.decode else 1)
    if max_diff > tol:
        print(f'FAILED: above the tolerance {tol}', file=sys.stderr)
        sys.exit(1)
    return max_diff


def cli(argv=None) -> int:
    """:func:`main` with bad input reported in one line and exit status 2."""
    return run_cli('export_onnx', main, argv)


if __name__ == '__main__':
    sys.exit(cli())
