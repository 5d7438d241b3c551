"""BoxNormalizedPoseMetric under detection boxes, through MMPose's own
tools/test.py on the bundled COCO images.

The detection file holds exactly the boxes of the annotated people (plus one
false detection), so every crop, and so every prediction, is the one the same
model makes with ground-truth boxes: the metric must give the same numbers both
ways, count the false detection as unmatched and miss nobody. Before, with a
detection file, it scored against MMPose's placeholder keypoints at (0, 0) (on
the synthetic model: PCK@0.1 0.0002, err/box 2.37).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mmpose
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmpose.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(mmpose.__file__).parent / '.mim' / 'tools'
CONFIG = REPO / ('configs/demo/td-reg_res18_rle-flow-laplace_fixtures-'
                 '256x192.py')
ANN = REPO / 'data/fixtures/coco/test_coco.json'
KEYS = ('PCK@0.1', 'PCK@0.2', 'err/box', 'num_instances')


def _test_tool(*args, cwd) -> dict:
    """Run MMPose's tools/test.py; the box_norm/* numbers it logs."""
    proc = subprocess.run(
        [sys.executable,
         str(TOOLS / 'test.py'), *map(str, args)],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return {
        k: float(v)
        for k, v in re.findall(r'box_norm/([\w@.]+/?\w*): (-?[\d.]+|nan)', out)
    }


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp('det_boxes')
    # the demo model at its initial weights: what is compared is the same
    # predictions scored two ways, not how good they are
    cfg = Config.fromfile(str(CONFIG))
    init_default_scope('mmpose')
    with DefaultScope.overwrite_default_scope('mmpose'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta={}), work / 'init.pth')
    (work / 'cfg.py').write_text(
        f'_base_ = [{str(CONFIG)!r}]\n'
        'test_evaluator = [\n'
        f'    dict(type=\'CocoMetric\', ann_file={str(ANN)!r}),\n'
        f'    dict(type=\'BoxNormalizedPoseMetric\', ann_file={str(ANN)!r}),\n'
        ']\n')
    anns = json.loads(ANN.read_text())['annotations']
    dets = [
        dict(image_id=a['image_id'], category_id=1, bbox=a['bbox'], score=0.9)
        for a in anns if not a.get('iscrowd') and any(a['keypoints'][2::3])
        and a['bbox'][2] > 0 and a['bbox'][3] > 0
    ]
    # a false detection, in a corner where nobody stands
    dets.append(
        dict(
            image_id=anns[0]['image_id'],
            category_id=1,
            bbox=[0, 0, 8, 8],
            score=0.3))
    (work / 'dets.json').write_text(json.dumps(dets))
    return work, len(dets) - 1


def test_detection_boxes_score_like_the_ground_truth_boxes(setup):
    work, num_people = setup
    gt = _test_tool(
        work / 'cfg.py',
        work / 'init.pth',
        '--work-dir',
        work / 'gt',
        cwd=work)
    det = _test_tool(
        work / 'cfg.py',
        work / 'init.pth',
        '--work-dir',
        work / 'det',
        '--cfg-options',
        f'test_dataloader.dataset.bbox_file={work / "dets.json"}',
        cwd=work)
    assert gt['num_instances'] == num_people > 0, gt
    for key in KEYS:
        assert det[key] == pytest.approx(gt[key], abs=1e-4), (key, gt, det)
    assert det['num_matched'] == num_people, det
    assert det['num_unmatched'] == 1 and det['num_missed'] == 0, det
    assert 0 < gt['err/box'] < 2, gt
