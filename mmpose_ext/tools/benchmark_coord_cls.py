"""Benchmark the coordinate-classification modules against their MMPose
counterparts, in the same run.

    python -m mmpose_ext.tools.benchmark_coord_cls \
        [--instances 32 128] [--repeats 30] [--threads 1]

1. ``DynamicCoordinateClassifier`` vs MMPose's ``DCC`` (``rtmo_head.py``) at
   RTMO-s shapes (pose vector 256, K 17, 128 channels, 192×256 bins, sine
   dims 128, GAU s 128), same weights: inference forward (no grad) and
   training forward + backward. Ratio = ours / MMPose (< 1: ours faster).
2. ``SineCoordClsHead`` vs MMPose's ``SimCCHead`` on the same ResNet-50 at
   256×192 (heads as in the two COCO configs), and vs ``RTMCCHead`` on
   RTMPose-s's CSPNeXt-s: head-only and backbone + head latency.

Timings are medians of interleaved repeats (A, B, A, B, ...) after warm-up,
so that load changes on a shared machine hit both sides alike.
"""
import argparse
import statistics
import time
from typing import Callable, Dict

import torch

GAU = dict(
    s=128,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')


def _interleaved(fns: Dict[str, Callable],
                 repeats: int,
                 warmup: int = 3) -> Dict[str, float]:
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

    kw = dict(
        in_channels=256,
        num_keypoints=17,
        feat_channels=128,
        num_bins=(192, 256),
        spe_channels=128,
        spe_temperature=300.0,
        gau_cfg=GAU)
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
        infer = _interleaved(
            {
                'mmpose': lambda: ref.forward_train(feats, bbox_cs, grids),
                'ours': lambda: ours(feats, boxes, grids)
            }, repeats)
    ref.train(), ours.train()
    train = _interleaved({'mmpose': ref_train, 'ours': ours_train}, repeats)
    return {
        'infer_mmpose_ms': infer['mmpose'],
        'infer_ours_ms': infer['ours'],
        'infer_ratio': infer['ours'] / infer['mmpose'],
        'train_mmpose_ms': train['mmpose'],
        'train_ours_ms': train['ours'],
        'train_ratio': train['ours'] / train['mmpose']
    }


def bench_topdown_head(batch: int,
                       repeats: int,
                       backbone_name: str = 'res50') -> Dict[str, float]:
    from mmpose.registry import MODELS

    import mmpose_ext  # noqa: F401

    gau = dict(
        hidden_dims=256,
        s=128,
        expansion_factor=2,
        dropout_rate=0.,
        drop_path=0.,
        act_fn='SiLU',
        use_rel_bias=False,
        pos_enc=False)
    if backbone_name == 'res50':
        backbone = MODELS.build(dict(type='ResNet', depth=50, init_cfg=None))
        ref = dict(
            type='SimCCHead',
            in_channels=2048,
            out_channels=17,
            input_size=(192, 256),
            in_featuremap_size=(6, 8),
            simcc_split_ratio=2.0)
        ours = dict(
            type='SineCoordClsHead',
            in_channels=2048,
            num_keypoints=17,
            input_size=(192, 256),
            in_featuremap_size=(6, 8))
    else:  # RTMPose-s
        backbone = MODELS.build(
            dict(
                _scope_='mmdet',
                type='CSPNeXt',
                arch='P5',
                expand_ratio=0.5,
                deepen_factor=0.33,
                widen_factor=0.5,
                out_indices=(4, ),
                channel_attention=True,
                act_cfg=dict(type='SiLU')))
        ref = dict(
            type='RTMCCHead',
            in_channels=512,
            out_channels=17,
            input_size=(192, 256),
            in_featuremap_size=(6, 8),
            simcc_split_ratio=2.0,
            final_layer_kernel_size=7,
            gau_cfg=gau)
        ours = dict(
            type='SineCoordClsHead',
            in_channels=512,
            num_keypoints=17,
            input_size=(192, 256),
            in_featuremap_size=(6, 8),
            final_layer_kernel_size=7)
    backbone.eval()  # (MMPose's ResNet.train returns None: no chaining)
    ref, ours = MODELS.build(ref).eval(), MODELS.build(ours).eval()
    x = torch.randn(batch, 3, 256, 192)
    with torch.no_grad():
        feats = backbone(x)
        head = _interleaved(
            {
                'ref': lambda: ref(feats),
                'ours': lambda: ours(feats)
            }, repeats)
        full = _interleaved(
            {
                'ref': lambda: ref(backbone(x)),
                'ours': lambda: ours(backbone(x))
            }, max(3, repeats // 4))
    n_ref = sum(p.numel() for p in ref.parameters())
    n_ours = sum(p.numel() for p in ours.parameters())
    return {
        'head_ref_ms': head['ref'],
        'head_ours_ms': head['ours'],
        'head_ratio': head['ours'] / head['ref'],
        'model_ref_ms': full['ref'],
        'model_ours_ms': full['ours'],
        'model_ratio': full['ours'] / full['ref'],
        'params_ref_M': n_ref / 1e6,
        'params_ours_M': n_ours / 1e6
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--instances', type=int, nargs='+', default=[32, 128])
    parser.add_argument('--batch', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {args.threads} thread(s), medians of '
          f'{args.repeats} interleaved repeats')
    print('\nDCC at RTMO-s shapes (ours / MMPose, < 1 = ours faster)')
    print('| N | infer MMPose ms | infer ours ms | ratio | train MMPose ms | '
          'train ours ms | ratio |')
    print('|---|---|---|---|---|---|---|')
    for n in args.instances:
        r = bench_dcc(n, args.repeats)
        print(f"| {n} | {r['infer_mmpose_ms']:.2f} | {r['infer_ours_ms']:.2f} "
              f"| {r['infer_ratio']:.2f}x | "
              f"{r['train_mmpose_ms']:.2f} | {r['train_ours_ms']:.2f} | "
              f"{r['train_ratio']:.2f}x |")
    for name, ref_name in (('res50', 'SimCCHead'), ('cspnext-s', 'RTMCCHead')):
        print(f'\nTop-down head vs {ref_name}, {name}, 256x192 (ours / '
              f'{ref_name})')
        print('| batch | head ref ms | head ours ms | ratio | model ref ms | '
              'model ours ms | ratio | '
              'params ref / ours (M) |')
        print('|---|---|---|---|---|---|---|---|')
        for b in args.batch:
            r = bench_topdown_head(b, args.repeats, name)
            print(f"| {b} | {r['head_ref_ms']:.2f} | {r['head_ours_ms']:.2f} "
                  f"| {r['head_ratio']:.2f}x | "
                  f"{r['model_ref_ms']:.1f} | {r['model_ours_ms']:.1f} | "
                  f"{r['model_ratio']:.2f}x | "
                  f"{r['params_ref_M']:.2f} / {r['params_ours_M']:.2f} |")


if __name__ == '__main__':
    main()
