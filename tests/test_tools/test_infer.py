"""``python -m mmpose_ext.tools.infer``: keypoints on the fixture images from a
checkpoint, with and without a detection file, and with a one-stage model;
predictions.json checked against MMPose's inference API."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint, weights_to_cpu
from mmpose.apis import inference_bottomup, inference_topdown, init_model

from mmpose_ext.tools import infer

REPO = Path(__file__).resolve().parents[2]
COCO = REPO / 'data' / 'fixtures' / 'coco'
DETS = COCO / 'test_coco_det_AP_H_56.json'
SINECC = REPO / 'configs' / 'synthetic' / ('sinecc_effnet-lite0_synthetic-'
                                           '128x96.py')
RTMO = REPO / 'configs' / 'coord_cls' / ('rtmo-t-sinecc_cspdarknet_8xb32-'
                                         '600e_body7-416x416.py')
IMAGES = sorted(COCO.glob('*.jpg'))


def _save(model, path: Path) -> str:
    save_checkpoint(
        dict(
            state_dict=weights_to_cpu(model.state_dict()),
            meta=dict(dataset_meta=model.dataset_meta)), str(path))
    return str(path)


@pytest.fixture(scope='module')
def sinecc(tmp_path_factory):
    """(model, checkpoint) of the synthetic SineCC config as MMEngine's runner
    initialises it."""
    model = init_model(str(SINECC), None, device='cpu', cfg_options={})
    with torch.no_grad():
        model.init_weights()
    return model, _save(model,
                        tmp_path_factory.mktemp('sinecc') / 'sinecc.pth')


def _rescore(bbox_score, keypoint_scores):
    """MMPose CocoMetric's default 'bbox_keypoint' score."""
    valid = keypoint_scores[keypoint_scores > 0.2]
    return bbox_score * (valid.mean() if valid.size else 0.0)


def _triplets(keypoints, scores):
    return np.concatenate([keypoints, scores[:, None]], axis=1).ravel()


def test_whole_images_of_a_folder(sinecc, tmp_path, capfd):
    model, ckpt = sinecc
    summary = infer.main(
        [str(SINECC), ckpt,
         str(COCO), '--out',
         str(tmp_path)])
    # mmengine's progress bar over the folder
    assert '4/4' in capfd.readouterr().err
    rows = json.loads((tmp_path / 'predictions.json').read_text())
    # the folder's four images (its JSON files are not images), ids from the
    # numeric file stems
    assert summary['image_ids'] == {str(p): int(p.stem) for p in IMAGES}
    # one person (the image) each
    assert [r['image_id'] for r in rows] == [int(p.stem) for p in IMAGES]
    for row, image in zip(rows, IMAGES):
        assert row['category_id'] == 1 and len(row['keypoints']) == 17 * 3
        # no box: the whole image
        pred = inference_topdown(model, str(image))[0].pred_instances
        np.testing.assert_allclose(
            row['keypoints'],
            _triplets(pred.keypoints[0], pred.keypoint_scores[0]),
            rtol=0,
            atol=0)
        assert row['score'] == pytest.approx(
            _rescore(1.0, pred.keypoint_scores[0]), rel=1e-5)
        drawn = cv2.imread(str(tmp_path / 'vis' / f'{image.stem}.jpg'))
        # MMPose's visualizer, full size
        assert drawn.shape == cv2.imread(str(image)).shape
    # one image, --no-draw: the same prediction, no drawings
    infer.main([
        str(SINECC), ckpt,
        str(IMAGES[0]), '--out',
        str(tmp_path / 'plain'), '--no-draw'
    ])
    assert json.loads(
        (tmp_path / 'plain' / 'predictions.json').read_text()) == rows[:1]
    assert not (tmp_path / 'plain' / 'vis').exists()


def test_boxes_from_a_detection_file(sinecc, tmp_path):
    """MMPose's demo rule and defaults: the person detections scoring above
    0.3, then box NMS at 0.3 (MMPose's nms); the bundled images and
    detections by their packaged names."""
    from mmpose.evaluation.functional import nms

    model, ckpt = sinecc
    infer.main([
        str(SINECC), ckpt, 'mmpose_ext::fixtures/coco', '--bboxes',
        'mmpose_ext::fixtures/coco/test_coco_det_AP_H_56.json', '--out',
        str(tmp_path)
    ])
    rows = json.loads((tmp_path / 'predictions.json').read_text())
    people = [d for d in json.loads(DETS.read_text()) if d['category_id'] == 1]
    dets = []
    for image_id in sorted({d['image_id'] for d in people}):
        mine = [
            d for d in people if d['image_id'] == image_id and d['score'] > 0.3
        ]
        xyxy = np.array([[
            *d['bbox'][:2], d['bbox'][0] + d['bbox'][2],
            d['bbox'][1] + d['bbox'][3], d['score']
        ] for d in mine])
        dets += [mine[i] for i in sorted(nms(xyxy, 0.3))]
    # 118 person boxes, 33 above 0.3; NMS keeps 19
    assert (len(people), len(rows)) == (118, 19) and len(dets) == 19
    assert [r['image_id'] for r in rows] == [d['image_id'] for d in dets]
    for image_id in {d['image_id'] for d in dets}:
        mine = [d for d in dets if d['image_id'] == image_id]
        xywh = np.array([d['bbox'] for d in mine])
        results = inference_topdown(
            model,
            str(COCO / f'{image_id:012d}.jpg'),
            xywh,
            bbox_format='xywh')
        # in the file's order, as the detections
        got = [r for r in rows if r['image_id'] == image_id]
        for row, det, result in zip(got, mine, results):
            pred = result.pred_instances
            np.testing.assert_allclose(
                row['keypoints'],
                _triplets(pred.keypoints[0], pred.keypoint_scores[0]),
                rtol=0,
                atol=0)
            assert row['score'] == pytest.approx(
                _rescore(det['score'], pred.keypoint_scores[0]), rel=1e-5)
    assert len(list((tmp_path / 'vis').glob('*.jpg'))) == 4
    # --bbox-thr 0.9 --nms-thr 1: every detection above 0.9
    infer.main([
        str(SINECC), ckpt,
        str(COCO), '--bboxes',
        str(DETS), '--bbox-thr', '0.9', '--nms-thr', '1', '--out',
        str(tmp_path / 'high'), '--no-draw'
    ])
    high = json.loads((tmp_path / 'high' / 'predictions.json').read_text())
    assert len(high) == len([d for d in people if d['score'] > 0.9]) >= 4


def test_help_names_mmposes_demo_rule(capsys):
    with pytest.raises(SystemExit):
        infer.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert 'scoring above this (MMPose\'s demo default 0.3)' in text
    assert ('box NMS overlap for --bboxes detections, with MMPose\'s nms '
            '(MMPose\'s demo default 0.3; 1: no NMS)') in text


def test_a_one_stage_model_needs_no_boxes(tmp_path):
    # every candidate: a freshly initialised model scores ~0.01
    cfg_options = {'model.test_cfg.score_thr': 0.0}
    model = init_model(
        str(RTMO),
        None,
        device='cpu',
        cfg_options=dict(cfg_options, **{'model.backbone.init_cfg':
                                         None}))  # (no YOLOX download)
    with torch.no_grad():
        model.init_weights()
    ckpt = _save(model, tmp_path / 'rtmo.pth')
    image = COCO / '000000196141.jpg'
    pred = inference_bottomup(model, str(image))[0].pred_instances
    order = np.argsort(-pred.bbox_scores, kind='stable')
    # between the third and fourth best
    thr = float(pred.bbox_scores[order[2:4]].mean())
    summary = infer.main([
        str(RTMO), ckpt,
        str(image), '--out',
        str(tmp_path / 'out'), '--bbox-thr',
        str(thr), '--cfg-options', 'model.test_cfg.score_thr=0.0'
    ])
    assert summary['bottomup']
    rows = json.loads((tmp_path / 'out' / 'predictions.json').read_text())
    assert len(rows) == 3 and {r['image_id'] for r in rows} == {196141}
    # RTMO's configs score people by their box ('bbox' score mode)
    rows.sort(key=lambda r: -r['score'])
    for row, i in zip(rows, order[:3]):
        assert row['score'] == pytest.approx(
            float(pred.bbox_scores[i]), rel=1e-6)
        np.testing.assert_allclose(
            row['keypoints'],
            _triplets(pred.keypoints[i], pred.keypoint_scores[i]),
            rtol=0,
            atol=0)
    assert (tmp_path / 'out' / 'vis' / '000000196141.jpg').is_file()


def test_clear_errors(sinecc, tmp_path):
    _, ckpt = sinecc
    with pytest.raises(
            infer.InferError, match='checkpoint not found: .*missing.pth'):
        infer.main([str(SINECC), str(tmp_path / 'missing.pth'), str(COCO)])
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'notes.txt').write_text('not an image')
    with pytest.raises(infer.InferError, match='no images .* in the folder'):
        infer.main([str(SINECC), ckpt, str(tmp_path / 'empty')])
    elsewhere = tmp_path / 'dets.json'
    elsewhere.write_text(
        json.dumps(
            [dict(image_id=1, bbox=[0, 0, 10, 10], score=1.0, category_id=1)]))
    with pytest.raises(
            infer.InferError,
            match=
            r'none of its 1 image ids of category 1 \(1\) is the numeric file '
            r'stem of an image \(000000000785.jpg'):
        infer.main([str(SINECC), ckpt, str(COCO), '--bboxes', str(elsewhere)])


def test_command_line_error_is_one_line_and_status_2(tmp_path):
    proc = subprocess.run([
        sys.executable, '-m', 'mmpose_ext.tools.infer',
        str(SINECC),
        str(tmp_path / 'no.pth'),
        str(COCO)
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines(
    )[-1] == f'infer: error: checkpoint not found: {tmp_path / "no.pth"}'
    assert 'Traceback' not in proc.stderr
