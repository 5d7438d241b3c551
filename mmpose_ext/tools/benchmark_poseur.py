"""Poseur speed on CPU, as ratios against the MMPose/mmcv counterparts measured in the same run.

    python -m mmpose_ext.tools.benchmark_poseur [--threads 1] [--repeats 3] [--train-batch 8]

1. EMSDA vs mmcv's ``MultiScaleDeformableAttention`` (its pure-PyTorch path on CPU; with CUDA, its
   kernel too), forward + backward at Poseur-R50 shapes: B = 8 and 32, Nq = 17 × 4 (clean + 3 noisy
   groups), C = 256, 8 heads, 4 points, levels 64×48, 32×24, 16×12, 8×6 (256×192 input).
2. Poseur-R50 (configs/poseur) vs MMPose's RLE-R50 (same ResNet-50 backbone): inference at batch 1 and
   32 (``mode='tensor'``, no flip) and one training step (loss + backward + AdamW step).

Prints median seconds and ratios (ours / theirs); goals from the issue: EMSDA ≤ 0.25×, inference
≤ 1.25×, training step ≤ 1.5×.
"""
import argparse
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
POSEUR_CFG = REPO / 'configs/poseur/poseur_res50_8xb32-325e_coco-256x192.py'
RLE_CFG = 'body_2d_keypoint/topdown_regression/coco/td-reg_res50_rle-8xb64-210e_coco-256x192.py'
LEVELS = ((64, 48), (32, 24), (16, 12), (8, 6))


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_attention(batch: int, repeats: int, device: str = 'cpu') -> dict:
    """Forward + backward seconds of EMSDA and mmcv's MSDA with the same weights and inputs."""
    from mmcv.ops import MultiScaleDeformableAttention

    from mmpose_ext.models.common import EMSDA

    C, Nq = 256, 17 * 4
    shapes = torch.tensor(LEVELS, device=device)
    starts = torch.tensor([0, 3072, 3840, 4032], device=device)
    S = sum(h * w for h, w in LEVELS)
    msda = MultiScaleDeformableAttention(C, 8, 4, 4, dropout=0.0, batch_first=True).to(device)
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
        msda(query, value=value, identity=torch.zeros_like(query), reference_points=ref,
             spatial_shapes=shapes, level_start_index=starts).sum().backward()
        sync()

    def run_emsda():
        query.grad = value.grad = None
        emsda(query, value, ref, shapes, starts).sum().backward()
        sync()

    t_msda, t_emsda = median_time(run_msda, repeats), median_time(run_emsda, repeats)
    return dict(msda=t_msda, emsda=t_emsda, ratio=t_emsda / t_msda)


def _build(cfg_path):
    from mmengine.config import Config

    from mmpose.registry import MODELS

    cfg = Config.fromfile(str(cfg_path))
    cfg.model.backbone.init_cfg = None  # no download; weights do not change the speed
    return MODELS.build(cfg.model), cfg


def _fake_samples(batch: int, K: int = 17):
    from mmengine.structures import InstanceData

    from mmpose.structures import PoseDataSample

    samples = []
    for _ in range(batch):
        sample = PoseDataSample()
        sample.gt_instance_labels = InstanceData(keypoint_labels=torch.rand(1, K, 2),
                                                 keypoint_weights=torch.ones(1, K))
        samples.append(sample)
    return samples


def bench_models(infer_batches, train_batch: int, repeats: int) -> dict:
    """Inference and training-step seconds of Poseur-R50 and RLE-R50."""
    from mmengine.registry import init_default_scope

    init_default_scope('mmpose')
    results = {}
    import mmpose

    rle_cfg = Path(mmpose.__file__).parent / '.mim' / 'configs' / RLE_CFG  # MMPose's own RLE-R50
    models = {name: _build(path)[0] for name, path in (('poseur', POSEUR_CFG), ('rle', rle_cfg))}
    for batch in infer_batches:
        x = torch.randn(batch, 3, 256, 192)
        row = {}
        for name, model in models.items():
            model.eval()

            def infer(model=model):
                with torch.no_grad():
                    model(x, None, mode='tensor')

            row[name] = median_time(infer, repeats)
        row['ratio'] = row['poseur'] / row['rle']
        results[f'inference bs{batch}'] = row
    x, samples = torch.randn(train_batch, 3, 256, 192), _fake_samples(train_batch)
    row = {}
    for name, model in models.items():
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, optimizer=optimizer):
            losses = model(x, samples, mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        row[name] = median_time(step, repeats)
    row['ratio'] = row['poseur'] / row['rle']
    results[f'train step bs{train_batch}'] = row
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--threads', type=int, default=None, help='torch intra-op threads')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--attn-batches', type=int, nargs='*', default=[8, 32])
    parser.add_argument('--infer-batches', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--train-batch', type=int, default=8)
    parser.add_argument('--skip-models', action='store_true', help='attention only')
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
            print(f'EMSDA vs mmcv MSDA fwd+bwd [{device}] B={batch:<3d} mmcv {r["msda"]:.4f}s  '
                  f'EMSDA {r["emsda"]:.4f}s  ratio {r["ratio"]:.3f}')
    if not args.skip_models:
        for name, r in bench_models(args.infer_batches, args.train_batch, args.repeats).items():
            print(f'Poseur-R50 vs RLE-R50 {name:<16s} RLE {r["rle"]:.4f}s  Poseur {r["poseur"]:.4f}s  '
                  f'ratio {r["ratio"]:.3f}')


if __name__ == '__main__':
    main()
