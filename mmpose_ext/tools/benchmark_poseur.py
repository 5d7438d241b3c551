"""Poseur speed on CPU, as ratios against the MMPose/mmcv counterparts measured
in the same run.

    python -m mmpose_ext.tools.benchmark_poseur [--threads 1] [--repeats 3] \
        [--train-batch 8] [--r18-step] [--effnet-step]

1. EMSDA vs mmcv's ``MultiScaleDeformableAttention`` (its pure-PyTorch path
   on CPU; with CUDA, its kernel too), forward + backward at Poseur-R50
   shapes: B = 8 and 32, Nq = 17 × 4 (clean + 3 noisy groups), C = 256,
   8 heads, 4 points, levels 64×48, 32×24, 16×12, 8×6 (256×192 input).
2. Poseur-R50 (configs/poseur) vs MMPose's RLE-R50 (same ResNet-50
   backbone): inference at batch 1 and 32 (``mode='tensor'``, no flip) and
   one training step (loss + backward + AdamW step).
3. ``--r18-step``: the training step of both with a ResNet-18 backbone at
   128×96, batch 32 (Poseur's neck and RLE's head take
   ResNet-18's widths).
4. ``--effnet-step``: the training step of the benchmark's shared setting,
   ``configs/synthetic/poseur_effnet-lite0_…`` vs
   ``td-reg_rle_effnet-lite0_…`` (EfficientNet-Lite0, 128×96, batch 32).

The two variants of every row run alternately, ``repeats`` times each after a
warm-up, so that a load change on a shared machine hits both. Prints median
seconds and ratios (ours / theirs); goals from the issues: EMSDA ≤ 0.25×,
inference ≤ 1.1× at batch 1, training step ≤ 1.5×.
"""
import argparse
import statistics
import time
from pathlib import Path

import torch

from mmpose_ext.resources import configs_dir

POSEUR_CFG = (configs_dir() / 'poseur/poseur_res50_8xb32-325e_coco-256x192.py')
RLE_CFG = ('body_2d_keypoint/topdown_regression/coco/td-reg_res50_rle-8xb64-'
           '210e_coco-256x192.py')
EFFNET_CFGS = dict(
    poseur='synthetic/poseur_effnet-lite0_synthetic-128x96.py',
    rle='synthetic/td-reg_rle_effnet-lite0_synthetic-128x96.py')
LEVELS = ((64, 48), (32, 24), (16, 12), (8, 6))


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    return median_times(dict(fn=fn), repeats, warmup)['fn']


def median_times(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Median seconds of every function, the functions run alternately (one of
    each per round)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_attention(batch: int, repeats: int, device: str = 'cpu') -> dict:
    """Forward + backward seconds of EMSDA and mmcv's MSDA with the same
    weights and inputs."""
    from mmcv.ops import MultiScaleDeformableAttention

    from mmpose_ext.models.common import EMSDA

    C, Nq = 256, 17 * 4
    shapes = torch.tensor(LEVELS, device=device)
    starts = torch.tensor([0, 3072, 3840, 4032], device=device)
    S = sum(h * w for h, w in LEVELS)
    msda = MultiScaleDeformableAttention(
        C, 8, 4, 4, dropout=0.0, batch_first=True).to(device)
    emsda = EMSDA(C, 8, 4, 4).to(device)
    emsda.load_state_dict(msda.state_dict())
    query = torch.randn(batch, Nq, C, device=device, requires_grad=True)
    value = torch.randn(batch, S, C, device=device, requires_grad=True)
    ref = torch.rand(batch, Nq, 4, 2, device=device)

    def sync():
        if device == 'cuda':
            torch.cuda.synchronize()

    def run_msda():
        query.grad = value.grad = None
        msda(
            query,
            value=value,
            identity=torch.zeros_like(query),
            reference_points=ref,
            spatial_shapes=shapes,
            level_start_index=starts).sum().backward()
        sync()

    def run_emsda():
        query.grad = value.grad = None
        emsda(query, value, ref, shapes, starts).sum().backward()
        sync()

    t = median_times(dict(msda=run_msda, emsda=run_emsda), repeats)
    return dict(msda=t['msda'], emsda=t['emsda'], ratio=t['emsda'] / t['msda'])


def _build(cfg_path, depth: int = 50):
    from mmengine.config import Config
    from mmpose.registry import MODELS

    cfg = Config.fromfile(str(cfg_path))
    # no download; weights do not change the speed
    cfg.model.backbone.init_cfg = None
    if depth != 50:
        cfg.model.backbone.depth = depth
        widths = [64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]
        # Poseur's ChannelMapper
        if cfg.model.neck is not None and 'in_channels' in cfg.model.neck:
            cfg.model.neck.in_channels = widths
        else:  # RLE: the head reads the last stage
            cfg.model.head.in_channels = widths[-1]
    return MODELS.build(cfg.model), cfg


def _fake_samples(batch: int, K: int = 17):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    samples = []
    for _ in range(batch):
        sample = PoseDataSample()
        sample.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, K, 2),
            keypoint_weights=torch.ones(1, K))
        samples.append(sample)
    return samples


def bench_models(infer_batches, train_batch: int, repeats: int) -> dict:
    """Inference and training-step seconds of Poseur-R50 and RLE-R50."""
    from mmengine.registry import init_default_scope

    init_default_scope('mmpose')
    results = {}
    models = _models()
    for batch in infer_batches:
        x = torch.randn(batch, 3, 256, 192)
        fns = {}
        for name, model in models.items():
            model.eval()

            def infer(model=model):
                with torch.no_grad():
                    model(x, None, mode='tensor')

            fns[name] = infer
        row = median_times(fns, repeats)
        row['ratio'] = row['poseur'] / row['rle']
        results[f'inference bs{batch}'] = row
    if train_batch:
        results[f'train step bs{train_batch}'] = _train_steps(
            models, train_batch, (256, 192), repeats)
    return results


def _models(depth: int = 50) -> dict:
    import mmpose

    # MMPose's own RLE-R50
    rle_cfg = Path(mmpose.__file__).parent / '.mim' / 'configs' / RLE_CFG
    return {
        name: _build(path, depth)[0]
        for name, path in (('poseur', POSEUR_CFG), ('rle', rle_cfg))
    }


def _train_steps(models: dict, batch: int, size, repeats: int) -> dict:
    """One training step (loss + backward + AdamW step) of every model,
    alternately."""
    x, samples = torch.randn(batch, 3, *size), _fake_samples(batch)
    fns = {}
    for name, model in models.items():
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, optimizer=optimizer):
            losses = model(x, samples, mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        fns[name] = step
    row = median_times(fns, repeats)
    row['ratio'] = row['poseur'] / row['rle']
    return row


def bench_r18_step(repeats: int, batch: int = 32) -> dict:
    """Training-step seconds of Poseur and RLE with ResNet-18 at 128×96 (issue
    16's setting)."""
    from mmengine.registry import init_default_scope

    init_default_scope('mmpose')
    return _train_steps(_models(depth=18), batch, (128, 96), repeats)


def bench_effnet_step(repeats: int, batch: int = 32) -> dict:
    """Training-step seconds of the synthetic Poseur and RLE configs
    (EfficientNet-Lite0, 128×96; no weights loaded, they do not change the
    speed)."""
    from mmengine.registry import init_default_scope

    init_default_scope('mmpose')
    models = {
        name: _build(configs_dir() / rel)[0]
        for name, rel in EFFNET_CFGS.items()
    }
    return _train_steps(models, batch, (128, 96), repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--threads', type=int, default=None, help='torch intra-op threads')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--attn-batches', type=int, nargs='*', default=[8, 32])
    parser.add_argument(
        '--infer-batches', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--train-batch', type=int, default=8)
    parser.add_argument(
        '--skip-models', action='store_true', help='attention only')
    parser.add_argument(
        '--r18-step',
        action='store_true',
        help='also the training step at ResNet-18 / 128x96 / batch 32')
    parser.add_argument(
        '--effnet-step',
        action='store_true',
        help='also the training step of the synthetic EfficientNet-Lite0 '
        'configs (128x96, batch 32)')
    args = parser.parse_args(argv)
    import mmpose_ext  # noqa: F401  (registers our modules)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    for device in devices:
        for batch in args.attn_batches:
            r = bench_attention(batch, args.repeats, device)
            print(f'EMSDA vs mmcv MSDA fwd+bwd [{device}] B={batch:<3d} mmcv '
                  f'{r["msda"]:.4f}s  '
                  f'EMSDA {r["emsda"]:.4f}s  ratio {r["ratio"]:.3f}')
    if not args.skip_models:
        for name, r in bench_models(args.infer_batches, args.train_batch,
                                    args.repeats).items():
            print(f'Poseur-R50 vs RLE-R50 {name:<16s} RLE {r["rle"]:.4f}s  '
                  f'Poseur {r["poseur"]:.4f}s  '
                  f'ratio {r["ratio"]:.3f}')
    if args.r18_step:
        r = bench_r18_step(args.repeats)
        print('Poseur-R18 vs RLE-R18 train step bs32 128x96 RLE '
              f'{r["rle"]:.4f}s  Poseur {r["poseur"]:.4f}s  '
              f'ratio {r["ratio"]:.3f}')
    if args.effnet_step:
        r = bench_effnet_step(args.repeats)
        print('Poseur vs RLE EfficientNet-Lite0 train step bs32 128x96 RLE '
              f'{r["rle"]:.4f}s  Poseur {r["poseur"]:.4f}s  '
              f'ratio {r["ratio"]:.3f}')


if __name__ == '__main__':
    main()
