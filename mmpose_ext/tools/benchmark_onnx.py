"""CPU latency of each exportable head: ONNX Runtime against PyTorch eager,
same network, same inputs.

    python -m mmpose_ext.tools.benchmark_onnx [--configs CONFIG ...] \
        [--batches 1 32] [--threads 1 2] [--repeats 20] [--warmup 3] \
        [--opset 17] [--out DIR]

For each config (default: every method's synthetic config, 128x96 on
EfficientNet-Lite0, and RTMO-t with our one-stage head at 416x416) the model
is built as MMEngine's runner initialises it (the ImageNet Lite0 from its
wheel; no download), exported with :func:`mmpose_ext.deploy.export_onnx` (the
raw network graph: backbone → neck → ``head.forward``, dynamic batch) and
checked with :func:`mmpose_ext.deploy.check_onnx` (max |ONNX − PyTorch| on a
batch of two). Then, per thread count T and batch B, on one random batch:

- eager: ``model(inputs, None, mode='tensor')`` under ``torch.no_grad()``
  (MMPose's tensor mode: what is exported), ``torch.set_num_threads(T)``;
- ORT: an ``InferenceSession`` on the CPU provider with
  ``intra_op_num_threads = T``, ``inter_op_num_threads = 1``, all graph
  optimisations;

``--warmup`` untimed runs of each, then ``--repeats`` timed runs alternating
eager and ORT (so that a load change on a shared machine hits both), and the
medians. The table's ratio is ORT / eager (below 1: ONNX Runtime is faster).
Decoding (codecs, flip test, NMS) is outside both timings. Prints a markdown
table; with ``--out`` also writes ``benchmark_onnx.{json,md}`` there.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from mmpose_ext.resources import config_path, configs_dir

SYN = configs_dir() / 'synthetic'
# : the methods' synthetic configs (not the training-only ablations) and RTMO-t
# with our one-stage head
DEFAULT_CONFIGS = [
    SYN / 'poseur_effnet-lite0_synthetic-128x96.py',
    SYN / 'tokenpose_effnet-lite0_synthetic-128x96.py',
    SYN / 'sinecc_effnet-lite0_synthetic-128x96.py',
    SYN / 'td-reg_rle-flow-laplace_effnet-lite0_synthetic-128x96.py',
    SYN / 'scai_td-hm-effnet-lite0_synthetic-128x96.py',
    SYN / 'td-hm_effnet-lite0_synthetic-128x96.py',
    SYN / 'simcc_effnet-lite0_synthetic-128x96.py',
    configs_dir() / 'coord_cls' /
    'rtmo-t-sinecc_cspdarknet_8xb32-600e_body7-416x416.py',
]
GOAL = 0.8  # ORT / eager


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--configs', nargs='+', default=[str(p) for p in DEFAULT_CONFIGS])
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 32])
    parser.add_argument('--threads', nargs='+', type=int, default=[1, 2])
    parser.add_argument(
        '--repeats', type=int, default=20, help='timed runs of each (median)')
    parser.add_argument(
        '--warmup', type=int, default=3, help='untimed runs of each first')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--out', default=None, help='also write benchmark_onnx.{json,md} here')
    return parser.parse_args(argv)


def build_model(config: str):
    """(model in eval mode, (H, W) input size, head type name) as MMEngine's
    runner initialises it."""
    import torch
    from mmengine.config import Config
    from mmpose.apis import init_model

    cfg = Config.fromfile(str(config_path(config)))
    backbone = cfg.model.get('backbone') or {}
    init_cfg = backbone.get('init_cfg') or {}
    if 'checkpoint' in init_cfg and '://' in str(init_cfg['checkpoint']) and \
            not str(init_cfg['checkpoint']).startswith('efficientnet-lite://'):
        # a download (RTMO's YOLOX weights): random init instead
        cfg.model.backbone.init_cfg = None
    if 'base_checkpoint' in cfg.model:
        # SCAI: the wrapped model as initialised, no trained file needed
        cfg.model.base_checkpoint = None
    # {}: keeps init_cfg, reads no model.backbone
    model = init_model(cfg, None, device='cpu', cfg_options={})
    with torch.no_grad():
        model.init_weights()
    model.eval()
    if cfg.model.get('type') == 'BottomupPoseEstimator':
        w, h = cfg.model.test_cfg.input_size
    else:
        w, h = cfg.codec.input_size
    head = getattr(model, 'head', None) or getattr(
        getattr(model, 'base', None), 'head', None)
    name = type(model).__name__ if type(
        model).__name__ == 'SCAIPoseEstimator' else type(head).__name__
    return model, (h, w), name


def _session(path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return ort.InferenceSession(
        str(path), options, providers=['CPUExecutionProvider'])


def time_pair(model, session, inputs, repeats: int, warmup: int):
    """Median seconds of eager ``model(inputs, None, mode='tensor')`` and of
    the ORT session on the same inputs, timed alternately."""
    import torch

    feed = {'input': inputs.numpy()}

    def eager():
        with torch.no_grad():
            model(inputs, None, mode='tensor')

    def onnx():
        session.run(None, feed)

    for _ in range(warmup):
        eager()
        onnx()
    times = {'eager': [], 'ort': []}
    for _ in range(max(1, repeats)):
        for key, fn in (('eager', eager), ('ort', onnx)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return statistics.median(times['eager']), statistics.median(times['ort'])


def benchmark(configs: List[str],
              batches=(1, 32),
              threads=(1, 2),
              repeats: int = 20,
              warmup: int = 3,
              opset: int = 17,
              work_dir: Optional[str] = None) -> List[dict]:
    """One row per (config, threads, batch): eager / ORT median ms, ratio,
    export check."""
    import torch

    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.deploy import check_onnx, export_onnx

    rows = []
    previous = torch.get_num_threads()
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        try:
            for config in configs:
                torch.set_num_threads(max(threads))
                model, (h, w), head = build_model(config)
                path = export_onnx(
                    model,
                    Path(tmp) / f'{Path(config).stem}.onnx',
                    input_shape=(1, 3, h, w),
                    opset=opset,
                    dynamic_batch=True)
                gen = torch.Generator().manual_seed(0)
                max_diff = check_onnx(model, path,
                                      torch.randn(2, 3, h, w, generator=gen))
                for n_threads in threads:
                    torch.set_num_threads(n_threads)
                    session = _session(path, n_threads)
                    for batch in batches:
                        inputs = torch.randn(batch, 3, h, w, generator=gen)
                        eager, ort_s = time_pair(model, session, inputs,
                                                 repeats, warmup)
                        rows.append(
                            dict(
                                config=Path(config).stem,
                                head=head,
                                input=f'{h}x{w}',
                                threads=n_threads,
                                batch=batch,
                                eager_ms=1e3 * eager,
                                ort_ms=1e3 * ort_s,
                                ratio=ort_s / eager,
                                max_abs_diff=max_diff))
                        print(_line(rows[-1]), file=sys.stderr, flush=True)
        finally:
            torch.set_num_threads(previous)
    return rows


def _line(row: dict) -> str:
    return (
        f"| {row['config']} | {row['head']} | {row['input']} | "
        f"{row['threads']} | {row['batch']} | "
        f"{row['eager_ms']:.1f} | {row['ort_ms']:.1f} | {row['ratio']:.2f}x "
        f"| {row['max_abs_diff']:.1e} |")


def markdown(rows: List[dict]) -> str:
    lines = [
        '| config | head | input (HxW) | threads | batch | PyTorch eager '
        '(ms) | ONNX Runtime (ms) | ORT / eager '
        '| max abs diff |', '|---|---|---|---|---|---|---|---|---|'
    ]
    lines += [_line(r) for r in rows]
    if rows:
        met = sum(r['ratio'] <= GOAL for r in rows)
        lines.append('')
        lines.append(
            f'{met} of {len(rows)} rows at or below the goal ORT / eager <= '
            f'{GOAL}x.')
    return '\n'.join(lines)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    import onnxruntime
    import torch

    rows = benchmark(args.configs, args.batches, args.threads, args.repeats,
                     args.warmup, args.opset)
    header = (
        f'torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, '
        f'CPU; median of {args.repeats} '
        f'alternating runs after {args.warmup} warm-up runs each')
    table = markdown(rows)
    print(header + '\n\n' + table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / 'benchmark_onnx.json').write_text(
            json.dumps(dict(settings=vars(args), rows=rows), indent=1))
        (out / 'benchmark_onnx.md').write_text(header + '\n\n' + table + '\n')
    return rows


if __name__ == '__main__':
    main()
