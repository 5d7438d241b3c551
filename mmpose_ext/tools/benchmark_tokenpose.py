"""Parameters, FLOPs and CPU latency of TokenPose (T, S-v1, S-v2, B, L/D24) vs
MMPose's SimpleBaseline ResNet-50 heatmap model, all at 256×192 and built from
their configs (random weights).

    python -m mmpose_ext.tools.benchmark_tokenpose [--runs 20] [--threads 2] \
        [--models s-v1 r50]

Parameters count everything the model holds: for B and L/D24 that includes
the fuse layers of MMPose's last stage-3 HRNet module into branches 1-2,
which reach no output (0.15 M / 0.33 M; see their configs).

FLOPs are MMEngine's ``FlopAnalyzer`` count of the inference path (backbone
→ neck → head.forward, no flip test); like fvcore and the papers' tables, one
multiply-add counts as one FLOP. Latency: batch 1,
``torch.set_num_threads(threads)``, median of ``runs`` forwards after 3
warm-ups, the models timed round-robin; compare models only within one run
(the ratio column is vs SimpleBaseline-R50 in that run).
"""
import argparse
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mmpose_ext.resources import configs_dir

if TYPE_CHECKING:
    import torch

TOKENPOSE = configs_dir() / 'tokenpose'
MODELS = {
    't':
    TOKENPOSE / 'tokenpose-t_image-patch_4xb32-300e_coco-256x192.py',
    's-v1':
    TOKENPOSE / 'tokenpose-s-v1_stem_4xb32-300e_coco-256x192.py',
    's-v2':
    TOKENPOSE / 'tokenpose-s-v2_stem_4xb12-300e_coco-256x192.py',
    'b':
    TOKENPOSE / 'tokenpose-b_hrnet-w32-stage3_4xb32-300e_coco-256x192.'
    'py',
    'l-d24':
    TOKENPOSE / 'tokenpose-l-d24_hrnet-w48-stage3_4xb16-300e_coco-'
    '256x192.py',
    # MMPose's
    'r50':
    'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-'
    '256x192.py',
}
NAMES = {
    't': 'TokenPose-T',
    's-v1': 'TokenPose-S-v1',
    's-v2': 'TokenPose-S-v2',
    'b': 'TokenPose-B',
    'l-d24': 'TokenPose-L/D24',
    'r50': 'SimpleBaseline-R50'
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def build(config) -> 'torch.nn.Module':
    """The config's model in eval mode, without pretrained weights, wrapped as
    its inference path."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS as REG

    from mmpose_ext.deploy import InferencePath

    if not Path(config).is_absolute():  # one of MMPose's own configs
        import mmpose
        config = Path(mmpose.__file__).parent / '.mim/configs' / config
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = REG.build(cfg.model)
    return InferencePath(model).eval()


def count(model, input_shape=(1, 3, 256, 192)) -> dict:
    """Parameters (M) and FLOPs (G, multiply-adds) of one inference-path
    forward."""
    import torch
    from mmengine.analysis import FlopAnalyzer

    x = torch.randn(*input_shape)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (x, )).unsupported_ops_warnings(
            False).uncalled_modules_warnings(False)
        flops = analyzer.total()
    return dict(
        params_M=sum(p.numel() for p in model.parameters()) / 1e6,
        gflops=flops / 1e9)


def latencies(models: dict, runs: int, input_shape=(1, 3, 256, 192)) -> dict:
    """Median latency (ms) per model; the models are timed round-robin, one
    forward each per round, so that a load change on the machine hits all of
    them alike."""
    import torch

    x = torch.randn(*input_shape)
    times = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            for _ in range(3):
                model(x)
        for _ in range(runs):
            for name, model in models.items():
                t0 = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    import mmpose_ext  # noqa: F401  (registers TokenPose)

    torch.set_num_threads(args.threads)
    models = {name: build(MODELS[name]) for name in args.models}
    results = {name: count(model) for name, model in models.items()}
    for name, ms in latencies(models, args.runs).items():
        results[name]['latency_ms'] = ms
    ref = results.get('r50')
    print('\n| model | params (M) | GFLOPs | CPU latency (ms, bs 1, '
          f'{args.threads} threads) |' +
          (' vs R50 (params / FLOPs / latency) |' if ref else ''))
    print('|---|---|---|---|' + ('---|' if ref else ''))
    for name, r in results.items():
        row = (f'| {NAMES[name]} | {r["params_M"]:.2f} | {r["gflops"]:.2f} | '
               f'{r["latency_ms"]:.1f} |')
        if ref:
            row += (f' {r["params_M"] / ref["params_M"]:.2f}x / '
                    f'{r["gflops"] / ref["gflops"]:.2f}x / '
                    f'{r["latency_ms"] / ref["latency_ms"]:.2f}x |')
        print(row)
    return results


if __name__ == '__main__':
    main()
