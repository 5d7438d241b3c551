"""Benchmark the coordinate-classification modules against their MMPose counterparts, in the same run.

    python -m mmpose_ext.tools.benchmark_coord_cls [--instances 32 128] [--repeats 30] [--threads 1]

1. ``DynamicCoordinateClassifier`` vs MMPose's ``DCC`` (``rtmo_head.py``) at RTMO-s shapes (pose vector
   256, K 17, 128 channels, 192×256 bins, sine dims 128, GAU s 128), same weights: inference forward
   (no grad) and training forward + backward. Ratio = ours / MMPose (< 1: ours faster).
2. ``SineCoordClsHead`` vs MMPose's ``SimCCHead`` on the same ResNet-50 at 256×192: head-only forward and
   backbone + head forward latency.

Timings are medians of interleaved repeats (A, B, A, B, ...) after warm-up, so that load changes on a
shared machine hit both sides alike.
"""
import argparse
import statistics
import time
from typing import Callable, Dict

import torch

GAU = dict(s=128, expansion_factor=2, dropout_rate=0.0, drop_path=0.0, act_fn='SiLU', pos_enc='add')


def _interleaved(fns: Dict[str, Callable], repeats: int, warmup: int = 3) -> Dict[str, float]:
    """Median wall time (ms) of each callable, calls interleaved."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_dcc(num_instances: int, repeats: int) -> Dict[str, float]:
    from mmpose.models.heads.hybrid_heads.rtmo_head import DCC
    from mmpose.structures.bbox import bbox_xyxy2cs

    from mmpose_ext.models.coord_cls import DynamicCoordinateClassifier

    kw = dict(in_channels=256, num_keypoints=17, feat_channels=128, num_bins=(192, 256), spe_channels=128,
              spe_temperature=300.0, gau_cfg=GAU)
    ref = DCC(**kw)
    ours = DynamicCoordinateClassifier(**kw)
    ours.load_state_dict(ref.state_dict())
    N = num_instances
    xy = torch.rand(N, 2) * 500
    boxes = torch.cat([xy, xy + torch.rand(N, 2) * 200 + 8], dim=1)
    grids = xy + 4
    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    feats = torch.randn(N, 256)
    feats_g = feats.clone().requires_grad_(True)

    def ref_train():
        kpts, (px, py), sigma = ref.forward_train(feats_g, bbox_cs, grids)
        (kpts.sum() + px.sum() + py.sum() + sigma.sum()).backward()

    def ours_train():
        x_logits, y_logits, kpts, sigma = ours(feats_g, boxes, grids)
        (kpts.sum() + x_logits.sum() + y_logits.sum() + sigma.sum()).backward()

    ref.eval(), ours.eval()
    with torch.no_grad():
        infer = _interleaved({'mmpose': lambda: ref.forward_train(feats, bbox_cs, grids),
                              'ours': lambda: ours(feats, boxes, grids)}, repeats)
    ref.train(), ours.train()
    train = _interleaved({'mmpose': ref_train, 'ours': ours_train}, repeats)
    return {'infer_mmpose_ms': infer['mmpose'], 'infer_ours_ms': infer['ours'],
            'infer_ratio': infer['ours'] / infer['mmpose'],
            'train_mmpose_ms': train['mmpose'], 'train_ours_ms': train['ours'],
            'train_ratio': train['ours'] / train['mmpose']}


def bench_topdown_head(batch: int, repeats: int) -> Dict[str, float]:
    from mmpose.registry import MODELS

    import mmpose_ext  # noqa: F401

    backbone = MODELS.build(dict(type='ResNet', depth=50, init_cfg=None))
    backbone.eval()  # (MMPose's ResNet.train returns None: no chaining)
    simcc = MODELS.build(dict(type='SimCCHead', in_channels=2048, out_channels=17, input_size=(192, 256),
                              in_featuremap_size=(6, 8), simcc_split_ratio=2.0)).eval()
    ours = MODELS.build(dict(type='SineCoordClsHead', in_channels=2048, num_keypoints=17,
                             input_size=(192, 256), in_featuremap_size=(6, 8))).eval()
    x = torch.randn(batch, 3, 256, 192)
    with torch.no_grad():
        feats = backbone(x)
        head = _interleaved({'simcc': lambda: simcc(feats), 'ours': lambda: ours(feats)}, repeats)
        full = _interleaved({'simcc': lambda: simcc(backbone(x)), 'ours': lambda: ours(backbone(x))},
                            max(3, repeats // 5))
    n_simcc = sum(p.numel() for p in simcc.parameters())
    n_ours = sum(p.numel() for p in ours.parameters())
    return {'head_simcc_ms': head['simcc'], 'head_ours_ms': head['ours'], 'head_ratio': head['ours'] / head['simcc'],
            'model_simcc_ms': full['simcc'], 'model_ours_ms': full['ours'],
            'model_ratio': full['ours'] / full['simcc'], 'params_simcc_M': n_simcc / 1e6, 'params_ours_M': n_ours / 1e6}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--instances', type=int, nargs='+', default=[32, 128])
    parser.add_argument('--batch', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {args.threads} thread(s), medians of {args.repeats} interleaved repeats')
    print('\nDCC at RTMO-s shapes (ours / MMPose, < 1 = ours faster)')
    print('| N | infer MMPose ms | infer ours ms | ratio | train MMPose ms | train ours ms | ratio |')
    print('|---|---|---|---|---|---|---|')
    for n in args.instances:
        r = bench_dcc(n, args.repeats)
        print(f"| {n} | {r['infer_mmpose_ms']:.2f} | {r['infer_ours_ms']:.2f} | {r['infer_ratio']:.2f}x | "
              f"{r['train_mmpose_ms']:.2f} | {r['train_ours_ms']:.2f} | {r['train_ratio']:.2f}x |")
    print('\nTop-down head vs SimCCHead, ResNet-50, 256x192 (ours / SimCC)')
    print('| batch | head SimCC ms | head ours ms | ratio | model SimCC ms | model ours ms | ratio | params '
          'SimCC / ours (M) |')
    print('|---|---|---|---|---|---|---|---|')
    for b in args.batch:
        r = bench_topdown_head(b, args.repeats)
        print(f"| {b} | {r['head_simcc_ms']:.2f} | {r['head_ours_ms']:.2f} | {r['head_ratio']:.2f}x | "
              f"{r['model_simcc_ms']:.1f} | {r['model_ours_ms']:.1f} | {r['model_ratio']:.2f}x | "
              f"{r['params_simcc_M']:.2f} / {r['params_ours_M']:.2f} |")


if __name__ == '__main__':
    main()
