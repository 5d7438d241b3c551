"""The bundled demo: train → evaluate → visualise → export, on the real COCO images in data/fixtures.

    python -m mmpose_ext.tools.demo [--epochs N] [--work-dir outputs/demo] [--config CONFIG]

Trains ``configs/demo/poseur_res18_fixtures-256x192.py`` (Poseur: ResNet-18 from scratch, EMSDA decoder,
per-layer RLE flow losses, Laplace-integral scores; ``--config`` takes any top-down config, e.g. the RLE demo
``configs/demo/td-reg_res18_rle-flow-laplace_fixtures-256x192.py``) with MMEngine's runner, evaluates it with MMPose's CocoMetric,
draws the predicted skeletons on a bundled image with MMPose's visualizer, exports the network to ONNX and
checks it with onnxruntime, then prints where everything is.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs/demo/poseur_res18_fixtures-256x192.py'
FIXTURES = REPO / 'data/fixtures/coco'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=str(DEMO_CONFIG))
    parser.add_argument('--epochs', type=int, default=None, help='override the config\'s max_epochs')
    parser.add_argument('--work-dir', default=str(REPO / 'outputs/demo'))
    parser.add_argument('--image', default=str(FIXTURES / '000000196141.jpg'),
                        help='image to draw predictions on (its boxes come from the annotation file)')
    return parser.parse_args(argv)


def build_cfg(config: str, work_dir: str, epochs=None):
    """Load the demo config; with ``epochs`` set, shorten the schedule consistently."""
    from mmengine.config import Config

    from mmpose_ext.schedule import set_epochs

    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    if epochs is not None:
        set_epochs(cfg, epochs)
    return cfg


def gt_boxes(ann_file: Path, image: Path) -> np.ndarray:
    """(N, 4) xyxy person boxes of ``image`` from a COCO annotation file."""
    coco = json.loads(ann_file.read_text())
    img_id = next(im['id'] for im in coco['images'] if im['file_name'] == image.name)
    boxes = [a['bbox'] for a in coco['annotations'] if a['image_id'] == img_id and a.get('num_keypoints', 1) > 0]
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def visualise(cfg, checkpoint: str, image: Path, out_file: Path) -> int:
    """Draw the model's predictions on ``image`` with MMPose's visualizer; return the instance count."""
    import mmcv
    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    model = init_model(cfg, checkpoint, device='cpu')
    boxes = gt_boxes(Path(cfg.test_dataloader.dataset.ann_file), image)
    results = inference_topdown(model, str(image), boxes, bbox_format='xyxy')
    visualizer = VISUALIZERS.build(dict(cfg.visualizer, name='mmpose_ext_demo'))
    visualizer.set_dataset_meta(model.dataset_meta)
    img = mmcv.imread(str(image), channel_order='rgb')
    visualizer.add_datasample('demo', img, data_sample=merge_data_samples(results), draw_gt=False,
                              draw_bbox=True, kpt_thr=0.0, show=False, out_file=str(out_file))
    return len(results)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmengine.runner import Runner
    from mmpose.apis import init_model

    from mmpose_ext.deploy import check_onnx, export_onnx

    t0 = time.time()
    work_dir = Path(args.work_dir)
    cfg = build_cfg(args.config, str(work_dir), args.epochs)

    runner = Runner.from_cfg(cfg)
    runner.train()
    t_train = time.time() - t0
    metrics = runner.test()
    checkpoint = str(work_dir / f'epoch_{cfg.train_cfg.max_epochs}.pth')

    png = work_dir / 'vis' / (Path(args.image).stem + '_pred.png')
    n_inst = visualise(cfg, checkpoint, Path(args.image), png)

    model = init_model(cfg, checkpoint, device='cpu')
    h, w = cfg.codec.input_size[1], cfg.codec.input_size[0]
    onnx_path = export_onnx(model, work_dir / 'model.onnx', input_shape=(1, 3, h, w))
    max_diff = check_onnx(model, onnx_path, torch.randn(2, 3, h, w))

    summary = dict(
        config=args.config, checkpoint=checkpoint, coco_AP=metrics.get('coco/AP'),
        coco_AP50=metrics.get('coco/AP .5'), visualisation=str(png), instances_drawn=n_inst,
        onnx=str(onnx_path), onnx_max_abs_diff=max_diff, train_seconds=round(t_train, 1),
        total_seconds=round(time.time() - t0, 1))
    (work_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    print('\n==> mmpose_ext demo finished')
    for key, value in summary.items():
        print(f'    {key:18s} {value}')
    print(f'    summary written to {work_dir / "summary.json"}')
    return summary


if __name__ == '__main__':
    main()
