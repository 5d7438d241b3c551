"""The runtime without torch: ``python -m mmpose_ext_runtime`` in a subprocess
where importing torch, mmcv, mmengine, mmdet, mmpose or mmpose_ext raises, end
to end on exported models and the fixture images; the command line with COCO
detection results; the metadata schema; the warp matrix against MMPose's."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mmpose_ext_runtime as rt
from mmpose_ext.deploy import (FORMAT_VERSION, build_metadata, export_onnx,
                               read_metadata)
from ._models import ANN, FIXTURES, REPO, topdown_model

pytest.importorskip('onnxruntime')
BLOCKED = ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmdet', 'mmpose',
           'mmpose_ext')
BLOCKER = f'''import sys
BLOCKED = {BLOCKED!r}


class _Blocked:
    """Meta-path finder: importing any of BLOCKED (or a submodule) raises
    ImportError."""

    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(name +
                              ' is blocked: the runtime must not need it')
        return None


sys.meta_path.insert(0, _Blocked())
'''


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The heatmap model exported raw and decoded, and the SineCC model raw:

    {name: path}.
    """
    out = tmp_path_factory.mktemp('runtime_models')
    model, cfg = topdown_model('heatmap')
    paths = {
        f'heatmap_{d}':
        export_onnx(
            model,
            out / f'heatmap_{d}.onnx', (1, 3, 128, 96),
            decode=d == 'decoded')
        for d in ('raw', 'decoded')
    }
    model, _ = topdown_model('sinecc')
    paths['sinecc_raw'] = export_onnx(model, out / 'sinecc_raw.onnx',
                                      (1, 3, 128, 96))
    return paths


def _blocked_env(tmp_path: Path) -> dict:
    blocker = tmp_path / 'blocker'
    blocker.mkdir(exist_ok=True)
    (blocker / 'sitecustomize.py').write_text(BLOCKER)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(blocker), str(REPO)]),
        OMP_NUM_THREADS='1')
    return env


def test_runs_where_torch_cannot_be_imported(exported, tmp_path):
    env = _blocked_env(tmp_path)
    probe = subprocess.run([
        sys.executable, '-c',
        'import mmpose_ext_runtime, cv2, numpy, onnxruntime\n'
        'for name in ' + repr(BLOCKED) + ':\n'
        '    try:\n        __import__(name)\n    except ImportError:\n      '
        '  continue\n'
        '    raise SystemExit(name + " imported")\nprint("blocked")'
    ],
                           env=env,
                           capture_output=True,
                           text=True,
                           cwd=tmp_path)
    assert probe.returncode == 0 and 'blocked' in probe.stdout, probe.stderr
    for name, path in exported.items():
        out = tmp_path / name
        # the bundled images by their packaged name, found without
        # importing mmpose_ext
        proc = subprocess.run([
            sys.executable, '-m', 'mmpose_ext_runtime',
            str(path), 'mmpose_ext::fixtures/coco', '--bboxes',
            'mmpose_ext::fixtures/coco/test_coco.json', '--out',
            str(out), '--threads', '1'
        ],
                              env=env,
                              capture_output=True,
                              text=True,
                              cwd=tmp_path,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert '12 instances in 4 images' in proc.stdout
        written = json.loads((out / 'predictions.json').read_text())
        # in this process (torch loaded)
        expected = rt.run(str(path), FIXTURES, ANN, None, threads=1)['results']
        assert written == expected
        for entry in written:
            assert set(entry) == {
                'image_id', 'category_id', 'keypoints', 'score'
            } and len(entry['keypoints']) == 51
        drawn = sorted(p.name for p in (out / 'vis').iterdir())
        assert drawn == [
            f.stem + '.jpg' for f in sorted(FIXTURES.glob('*.jpg'))
        ]


def _demo_rule(dets, bbox_thr=0.3, nms_thr=0.3):
    """The person detections MMPose's demo keeps (scores above bbox_thr, then
    MMPose's nms), image by image (by id, the runtime's file order), in the
    file's order."""
    from mmpose.evaluation.functional import nms

    kept = []
    for image_id in sorted({d['image_id'] for d in dets}):
        mine = [
            d for d in dets
            if d['image_id'] == image_id and d['score'] > bbox_thr
        ]
        xyxy = np.array([[
            *d['bbox'][:2], d['bbox'][0] + d['bbox'][2],
            d['bbox'][1] + d['bbox'][3], d['score']
        ] for d in mine]).reshape(-1, 5)
        kept += [mine[i] for i in sorted(nms(xyxy, nms_thr))]
    return kept


def test_detection_results_and_whole_image(exported, tmp_path):
    """--bboxes with COCO detection results: the person detections MMPose's
    demo keeps (score above 0.3, box NMS at 0.3) are predicted, under their
    image id (from the file name); without boxes a top-down model takes the
    whole image."""
    det = FIXTURES / 'test_coco_det_AP_H_56.json'
    dets = [d for d in json.loads(det.read_text()) if d['category_id'] == 1]
    kept = _demo_rule(dets)
    assert len(dets) == 118 and len(kept) == 19
    summary = rt.main([
        str(exported['heatmap_decoded']), 'mmpose_ext::fixtures/coco',
        '--bboxes', 'mmpose_ext::fixtures/coco/test_coco_det_AP_H_56.json',
        '--out',
        str(tmp_path), '--threads', '1'
    ])
    results = json.loads((tmp_path / 'predictions.json').read_text())
    assert len(results) == len(kept) == len(summary['results'])
    assert [r['image_id'] for r in results] == [d['image_id'] for d in kept]
    # the result score is the box score times the mean keypoint score above 0.2
    # (MMPose's CocoMetric rescoring)
    for image in summary['images']:
        np.testing.assert_allclose(
            image['bbox_scores'],
            [d['score'] for d in kept if d['image_id'] == image['image_id']],
            rtol=1e-6)
    # every detection: --bbox-thr 0 --nms-thr 1
    every = rt.main([
        str(exported['heatmap_decoded']),
        str(FIXTURES), '--bboxes',
        str(det), '--out',
        str(tmp_path / 'every'), '--threads', '1', '--bbox-thr', '-1',
        '--nms-thr', '1', '--no-draw'
    ])
    assert len(every['results']) == len(dets)
    assert not (tmp_path / 'every' / 'vis').exists()
    whole = rt.run(
        str(exported['heatmap_raw']),
        FIXTURES / '000000000785.jpg',
        None,
        None,
        threads=1)
    assert len(
        whole['results']) == 1 and whole['results'][0]['image_id'] == 785
    np.testing.assert_array_equal(whole['images'][0]['bboxes'],
                                  [[0, 0, 640, 425]])


def test_box_nms_is_mmposes():
    from mmpose.evaluation.functional import nms

    rng = np.random.default_rng(0)
    for n, thr in [(1, 0.3), (2, 0.3), (30, 0.3), (30, 0.6), (60, 0.0)]:
        xy = rng.uniform(0, 200, (n, 2))
        wh = rng.uniform(1, 120, (n, 2))
        dets = np.concatenate([xy, xy + wh, rng.uniform(0, 1, (n, 1))], 1)
        assert rt.box_nms(dets, thr) == [int(i) for i in nms(dets, thr)]
    # the rule: above the threshold, then NMS, in the given order
    dets = np.array([[0, 0, 10, 10, 0.5], [1, 1, 10, 10, 0.9],
                     [50, 50, 60, 60, 0.2], [50, 50, 60, 60, 0.8]])
    np.testing.assert_array_equal(
        rt.select_detections(dets[:, :4], dets[:, 4]), [1, 3])
    np.testing.assert_array_equal(
        rt.select_detections(dets[:, :4], dets[:, 4], 0.0, None), [0, 1, 2, 3])


def test_metadata_schema(exported):
    meta = read_metadata(exported['heatmap_decoded'])
    assert meta['format_version'] == FORMAT_VERSION == 1
    assert set(meta) == {
        'format_version', 'model', 'preprocess', 'affine', 'codec', 'score',
        'dataset', 'outputs'
    }
    assert meta['model'] == dict(
        kind='topdown',
        head='HeatmapHead',
        estimator='TopdownPoseEstimator',
        decoding='heatmap',
        decoded=True,
        num_keypoints=17,
        flip_test_in_graph=False,
        not_in_graph=None)
    pre = meta['preprocess']
    assert pre['input_size'] == [
        96, 128
    ] and pre['mean'] == [127.0] * 3 and pre['std'] == [128.0] * 3
    assert pre['bgr_to_rgb'] is True
    assert meta['affine']['type'] == 'topdown' and meta['affine'][
        'bbox_padding'] == 1.25
    assert meta['affine']['rotation'] == 0.0 and meta['affine'][
        'use_udp'] is False
    assert meta['codec'] == dict(
        type='MSRAHeatmap',
        input_size=[96, 128],
        heatmap_size=[24, 32],
        sigma=2,
        unbiased=False,
        blur_kernel_size=11,
        scale_factor=[4.0, 4.0])
    assert meta['score']['rule'] == 'heatmap_max'
    data = meta['dataset']
    assert data['dataset_name'] == 'coco' and data['keypoint_names'][:3] == [
        'nose', 'left_eye', 'right_eye'
    ]
    assert len(data['skeleton_links']) == len(
        data['skeleton_link_colors']) == 19
    assert len(data['keypoint_colors']) == 17 and data['flip_indices'][:3] == [
        0, 2, 1
    ]
    assert [o['name']
            for o in meta['outputs']] == ['keypoints', 'keypoint_scores']
    raw = read_metadata(exported['sinecc_raw'])
    assert raw['model']['decoded'] is False and [
        o['name'] for o in raw['outputs']
    ] == [f'output{i}' for i in range(4)]
    assert raw['score'] == dict(
        rule='laplace_integral',
        radius=0.1,
        weight=1.0,
        eps=1e-12,
        sigma_scale=2.0,
        sigma_activation='none',
        formula=raw['score']['formula'])


@pytest.mark.parametrize('name, rule', [
    ('rle', dict(rule='one_minus_mean_sigma', sigma_activation='sigmoid')),
    ('rle-flow-laplace',
     dict(
         rule='laplace_integral',
         radius=0.2,
         weight=1.0,
         sigma_activation='sigmoid')), ('simcc', dict(rule='simcc_max')),
    ('poseur', dict(rule='one_minus_mean_sigma', sigma_activation='none'))
])
def test_score_rules(name, rule):
    model, _ = topdown_model(name)
    meta = build_metadata(model, (1, 3, 128, 96))
    assert {k: meta['score'][k] for k in rule} == rule
    assert meta['model']['decoding'] == {
        'rle': 'regression',
        'rle-flow-laplace': 'regression'
    }.get(name, name)


def test_warp_matrix_equals_mmpose():
    """The runtime's re-derived warp (numpy) against MMPose's get_warp_matrix,
    rotations and shifts included."""
    from mmpose.structures.bbox import get_warp_matrix

    rng = np.random.default_rng(0)
    for _ in range(50):
        center = rng.uniform(0, 600, 2).astype(np.float32)
        scale = rng.uniform(20, 400, 2).astype(np.float32)
        rot, shift = float(rng.uniform(-90, 90)), rng.uniform(-0.2, 0.2, 2)
        size = (int(rng.integers(32, 300)), int(rng.integers(32, 300)))
        for inv in (False, True):
            np.testing.assert_allclose(
                rt.get_warp_matrix(center, scale, rot, size, shift, inv),
                get_warp_matrix(center, scale, rot, size, shift, inv),
                rtol=1e-6,
                atol=1e-6)
