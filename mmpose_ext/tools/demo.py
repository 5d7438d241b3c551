"""The bundled demo (the README's main job): generate → train → evaluate →
visualise → export.

    python -m mmpose_ext.tools.demo [CONFIG] [--epochs N] [--out DIR]
        [--num-train N --num-val N --data-root DIR] [--image IMAGE]
        [--no-draw]

With the default config (:data:`DEMO_CONFIG`) it generates a synthetic
COCO-format set on first run (``mmpose_ext.datasets.synthetic``, cached in
``data/synthetic-demo`` under the working directory), fine-tunes the ImageNet
EfficientNet-Lite0 model with MMEngine's runner, and evaluates it with
ground-truth boxes on people it never saw: the held-out generated split and
the real COCO images bundled with the package (:func:`fixtures_dir`). Every
evaluation reports MMPose's CocoMetric (AP) and our BoxNormalizedPoseMetric
(bbox-normalised PCK@0.1/0.2, error / box size, left/right swap rate), beside
the no-skill baseline (the training set's mean pose in every box). It then
draws the predictions on a held-out image and a real one with MMPose's
visualizer, exports the network to ONNX (a self-describing file:
preprocessing, crop, codec, score rule and skeleton in its metadata), checks
it against onnxruntime, runs it on the real images with
``mmpose_ext_runtime`` (numpy + OpenCV + onnxruntime, no torch) and compares
those keypoints with PyTorch's (:func:`runtime_check`), and writes
``summary.json``. A config without a ``synthetic`` dict (e.g.
``mmpose_ext::demo/poseur_res18_fixtures-256x192.py``) trains and tests on
the bundled real images instead. ``CONFIG`` is a file or a packaged name
(``mmpose_ext::demo/NAME.py``, ``demo/NAME.py``), ``--out`` the output folder
(MMEngine's work_dir; ``--work-dir``, MMPose's name for it, is the same
option), ``--image`` may be a bundled picture
(``mmpose_ext::fixtures/coco/000000196141.jpg``) and ``--no-draw`` leaves the
drawings out, as in every tool (:mod:`mmpose_ext.tools.cli`). A missing
config or image is one line and exit status 2.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmpose_ext.resources import fixtures_dir
from mmpose_ext_runtime.inputs import InputError, read_image, resolve_path
from .cli import resolve_config, run_cli

DEMO_CONFIG = 'mmpose_ext::demo/td-hm_effnet-lite0_synthetic-128x96.py'
FIXTURES = fixtures_dir('coco')
REAL_IMAGE = FIXTURES / '000000196141.jpg'
# : The numbers the summary keeps of each evaluation, by the names it gives
# them.
SUMMARY_KEYS = {
    'AP': 'AP',
    'AP .5': 'AP50',
    'PCK@0.1': 'PCK@0.1',
    'PCK@0.2': 'PCK@0.2',
    'err/box': 'err/box',
    'LR-swap': 'LR-swap'
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'config',
        nargs='?',
        default=DEMO_CONFIG,
        help='a config file or a packaged name (mmpose_ext::demo/NAME.py); '
        'default %(default)s')
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='override the config\'s max_epochs')
    parser.add_argument(
        '--out',
        '--work-dir',
        dest='out',
        default='outputs/demo',
        help='output folder (MMEngine\'s work_dir: checkpoints, logs, vis/, '
        'model.onnx, summary.json)')
    parser.add_argument(
        '--num-train',
        type=int,
        default=None,
        help='generated training images (config\'s)')
    parser.add_argument(
        '--num-val',
        type=int,
        default=None,
        help='generated held-out images (config\'s)')
    parser.add_argument(
        '--data-root',
        default=None,
        help='where the generated set is cached (config\'s)')
    parser.add_argument(
        '--image',
        default=str(REAL_IMAGE),
        help='real image to draw predictions on (its boxes come from the '
        'bundled test_coco.json); e.g. '
        'mmpose_ext::fixtures/coco/000000000785.jpg')
    parser.add_argument(
        '--no-draw',
        action='store_true',
        help='no drawings (vis/ and the runtime\'s)')
    return parser.parse_args(argv)


def build_cfg(config: str,
              work_dir: str,
              epochs=None,
              num_train=None,
              num_val=None,
              data_root=None):
    """Load the demo config; shorten the schedule consistently with ``epochs``;
    with a ``synthetic`` dict, point every dataset at the generated root
    (``data_root`` overrides it) and size it."""
    from mmengine.config import Config

    from mmpose_ext.benchmark import ensure_hook, point_at_dataset
    from mmpose_ext.schedule import set_epochs

    cfg = Config.fromfile(str(resolve_config(config)))
    cfg.work_dir = work_dir
    if epochs is not None:
        set_epochs(cfg, epochs)
    if 'synthetic' in cfg:
        for key, value in (('num_train', num_train), ('num_val', num_val)):
            if value is not None:
                cfg.synthetic[key] = value
        root = Path(data_root or cfg.train_dataloader.dataset.data_root)
        workers = cfg.train_dataloader.num_workers
        # one test, after training
        point_at_dataset(cfg, root, cfg.synthetic.get('layout', 'coco'),
                         workers)
    # annotations are checked before training and each test
    # (mmpose_ext.datasets.checks)
    ensure_hook(cfg, 'AnnotationCheckHook')
    return cfg


def gt_boxes(ann_file: Path, image: Path) -> np.ndarray:
    """(N, 4) xyxy person boxes of ``image`` from a COCO annotation file."""
    coco = json.loads(Path(ann_file).read_text())
    img_id = next(im['id'] for im in coco['images']
                  if im['file_name'] == image.name)
    boxes = [
        a['bbox'] for a in coco['annotations']
        if a['image_id'] == img_id and a.get('num_keypoints', 1) > 0
    ]
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def visualise(model, visualizer, image: Path, ann_file: Path,
              out_file: Path) -> int:
    """Draw ``model``'s predictions for the annotated people of ``image`` with
    MMPose's ``visualizer``; return the instance count."""
    import mmcv
    from mmpose.apis import inference_topdown
    from mmpose.structures import merge_data_samples

    boxes = gt_boxes(ann_file, image)
    results = inference_topdown(model, str(image), boxes, bbox_format='xyxy')
    img = mmcv.imread(str(image), channel_order='rgb')
    visualizer.add_datasample(
        image.stem,
        img,
        data_sample=merge_data_samples(results),
        draw_gt=False,
        draw_bbox=True,
        kpt_thr=0.0,
        show=False,
        out_file=str(out_file))
    return len(results)


def first_image_with_people(root: Path, split: str) -> tuple:
    """(image path, annotation file) of the first generated ``split`` image
    with a labelled person."""
    ann = root / f'annotations/person_keypoints_{split}.json'
    coco = json.loads(ann.read_text())
    with_people = {
        a['image_id']
        for a in coco['annotations'] if a.get('num_keypoints', 0) > 0
    }
    name = next(im['file_name'] for im in coco['images']
                if im['id'] in with_people)
    return root / split / name, ann


def summarise(metrics: dict, prefix: str) -> dict:
    """The :data:`SUMMARY_KEYS` of one evaluation (``prefix/...`` keys),
    rounded, under readable names."""
    return {
        name: round(float(metrics[f'{prefix}/{key}']), 4)
        for key, name in SUMMARY_KEYS.items() if f'{prefix}/{key}' in metrics
    }


def runtime_check(model,
                  onnx_paths: dict,
                  image_dir: Path,
                  ann_file: Path,
                  out_dir: Path,
                  draw: bool = True) -> dict:
    """Run ``mmpose_ext_runtime`` on each exported file over the images of
    ``image_dir`` with the people of ``ann_file``; compare with MMPose's
    ``inference_topdown`` on the same boxes without flip test (the exported
    graph has none).

    Returns the max keypoint difference in image pixels per file, the max score
    difference, the counts and the seconds spent.
    """
    import copy

    from mmpose.apis import inference_topdown

    import mmpose_ext_runtime

    t0 = time.time()
    runs = {
        name:
        mmpose_ext_runtime.run(
            path,
            image_dir,
            ann_file,
            out_dir / name,
            draw_images=draw and name == 'raw')
        for name, path in onnx_paths.items()
    }
    test_cfg = model.test_cfg
    model.test_cfg = dict(copy.deepcopy(test_cfg), flip_test=False)
    try:
        refs = {}
        for item in next(iter(runs.values()))['images']:
            boxes = gt_boxes(ann_file, Path(item['file']))
            refs[item['file']] = inference_topdown(
                model, item['file'], boxes,
                bbox_format='xyxy') if len(boxes) else []
    finally:
        model.test_cfg = test_cfg
    report = dict(
        images=len(refs), instances=sum(len(r) for r in refs.values()))
    for name, run in runs.items():
        kpt_diff, score_diff = 0.0, 0.0
        for item in run['images']:
            ref = refs[item['file']]
            if not len(ref):
                continue
            ref_k = np.concatenate([r.pred_instances.keypoints for r in ref])
            ref_s = np.concatenate(
                [r.pred_instances.keypoint_scores for r in ref])
            kpt_diff = max(kpt_diff,
                           float(np.abs(ref_k - item['keypoints']).max()))
            score_diff = max(
                score_diff,
                float(np.abs(ref_s - item['keypoint_scores']).max()))
        report[name] = dict(
            max_keypoint_px_diff=kpt_diff,
            max_score_diff=score_diff,
            predictions=str(out_dir / name / 'predictions.json'))
    report['seconds'] = round(time.time() - t0, 2)
    return report


def real_image(text: str) -> Path:
    """``--image``: a readable picture annotated in the bundled
    ``test_coco.json`` (its people's boxes come from there)."""
    image = resolve_path(text, 'image')
    if read_image(image) is None:
        raise InputError(f'image {image}: not a readable image')
    names = {
        im['file_name']
        for im in json.loads((FIXTURES /
                              'test_coco.json').read_text())['images']
    }
    if image.name not in names:
        raise InputError(
            f'image {image}: not one of the bundled annotated images '
            f'({", ".join(sorted(names))}), whose boxes the drawing uses')
    return image


def main(argv=None) -> dict:
    """Run the demo; returns the summary (also written to
    ``OUT/summary.json``).

    Raises ``InputError`` for a missing config or image.
    """
    args = parse_args(argv)
    # bad input before anything is generated or trained
    resolve_config(args.config)
    image = real_image(args.image)
    from mmengine.runner import Runner
    from mmpose.registry import VISUALIZERS

    import mmpose_ext  # noqa: F401  (registers our modules)
    from mmpose_ext.benchmark import evaluate_on, real_test_set
    from mmpose_ext.checkpoint import init_model_strict
    from mmpose_ext.datasets.synthetic import ensure_for_config
    from mmpose_ext.deploy import check_onnx, decodable_in_graph, export_onnx
    from mmpose_ext.evaluation import evaluate_no_skill

    t0 = time.time()
    work_dir = Path(args.out)
    cfg = build_cfg(args.config, str(work_dir), args.epochs, args.num_train,
                    args.num_val, args.data_root)
    synthetic = 'synthetic' in cfg
    summary = dict(config=args.config)
    if synthetic:
        # made on first run only
        root = ensure_for_config(cfg, workers=cfg.train_dataloader.num_workers)
        summary.update(
            data=str(root),
            num_train=cfg.synthetic.num_train,
            num_val=cfg.synthetic.num_val,
            generate_seconds=round(time.time() - t0, 1))

    runner = Runner.from_cfg(cfg)
    t1 = time.time()
    runner.train()
    summary['train_seconds'] = round(time.time() - t1, 1)
    summary['train_iterations'] = runner.iter
    metrics = dict(runner.test())
    checkpoint = str(work_dir / f'epoch_{cfg.train_cfg.max_epochs}.pth')
    summary['checkpoint'] = checkpoint
    # people the model never saw: the held-out generated split (above) and the
    # real images
    if synthetic:
        real = real_test_set(cfg, FIXTURES, 'coco')
        metrics.update(evaluate_on(runner, *real))
        train_ann = str(root / 'annotations/person_keypoints_train.json')
        no_skill = evaluate_no_skill(train_ann, cfg.test_dataloader,
                                     cfg.test_evaluator, work_dir / 'no_skill')
        no_skill.update(
            evaluate_no_skill(train_ann, *real, work_dir / 'no_skill'))
        summary['heldout'] = summarise(metrics, 'synthetic')
        summary['real'] = summarise(metrics, 'real')
        summary['no_skill'] = dict(
            heldout=summarise(no_skill, 'synthetic'),
            real=summarise(no_skill, 'real'))
    else:
        summary['coco'] = summarise(metrics, 'coco')

    # every key must match: no silent AP 0
    model = init_model_strict(cfg, checkpoint, device='cpu')
    images = [('real', image, FIXTURES / 'test_coco.json')]
    if synthetic:  # a held-out generated image, then the real one
        images.insert(0, ('heldout', *first_image_with_people(root, 'val')))
    summary['visualisations'] = []
    if not args.no_draw:
        visualizer = VISUALIZERS.build(
            dict(cfg.visualizer, name=f'mmpose_ext_demo_{time.time_ns()}'))
        visualizer.set_dataset_meta(model.dataset_meta)
    for role, path, ann in images if not args.no_draw else []:
        png = work_dir / 'vis' / f'{role}_{path.stem}_pred.png'
        n = visualise(model, visualizer, path, ann, png)
        summary['visualisations'].append(
            dict(file=str(png), instances_drawn=n))

    w, h = cfg.codec.input_size
    t_onnx = time.time()
    # + metadata
    onnx_path = export_onnx(
        model, work_dir / 'model.onnx', input_shape=(1, 3, h, w), cfg=cfg)
    summary.update(
        onnx=str(onnx_path),
        onnx_max_abs_diff=check_onnx(model, onnx_path, torch.randn(2, 3, h,
                                                                   w)))
    # the same network with its decoding in the graph, then both run by the
    # torch-free runtime on the real images
    onnx_paths = dict(raw=onnx_path)
    if decodable_in_graph(model):
        onnx_paths['decoded'] = export_onnx(
            model,
            work_dir / 'model_decoded.onnx',
            input_shape=(1, 3, h, w),
            cfg=cfg,
            decode=True)
    summary['onnx_runtime'] = runtime_check(model, onnx_paths, FIXTURES,
                                            FIXTURES / 'test_coco.json',
                                            work_dir / 'runtime',
                                            not args.no_draw)
    summary['onnx_runtime']['export_and_check_seconds'] = round(
        time.time() - t_onnx, 2)
    summary['total_seconds'] = round(time.time() - t0, 1)
    (work_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    print('\n==> mmpose_ext demo finished')
    if synthetic:
        print(f"    {'':28s}" + ''.join(f'{name:>9s}'
                                        for name in SUMMARY_KEYS.values()))
        for label, row in (('held-out generated people', summary['heldout']),
                           ('  no skill (mean pose)',
                            summary['no_skill']['heldout']),
                           ('real COCO people',
                            summary['real']), ('  no skill (mean pose)',
                                               summary['no_skill']['real'])):
            print(f'    {label:28s}' +
                  ''.join(f'{row.get(name, float("nan")):9.3f}'
                          for name in SUMMARY_KEYS.values()))
    for key, value in summary.items():
        if key not in ('heldout', 'real', 'no_skill', 'onnx_runtime'):
            print(f'    {key:18s} {value}')
    rt = summary['onnx_runtime']
    graphs = ', '.join(
        f"{name} graph max |Δ| {rt[name]['max_keypoint_px_diff']:.2e} px "
        f"(scores {rt[name]['max_score_diff']:.1e})"
        for name in ('raw', 'decoded') if name in rt)
    print(f"    {'onnx_runtime':18s} mmpose_ext_runtime (numpy + cv2 + "
          'onnxruntime) vs PyTorch (no flip), '
          f"{rt['instances']} people in {rt['images']} real images: {graphs}; "
          f"{rt['export_and_check_seconds']} s")
    print(f'    summary written to {work_dir / "summary.json"}')
    return summary


def cli(argv=None) -> int:
    """:func:`main` with bad input reported in one line and exit status 2."""
    return run_cli('demo', main, argv)


if __name__ == '__main__':
    sys.exit(cli())
