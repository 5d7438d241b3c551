"""The generated dataset: same seed -> same bytes, any worker count; loads with
xtcocotools and MMPose's datasets for COCO (K=17) and CrowdPose (K=14); COCO
conventions for invisible keypoints; MMPose's detection-file format."""
import hashlib
import json

import numpy as np
import pytest
from mmpose.datasets import CocoDataset, CrowdPoseDataset
from xtcocotools.coco import COCO

from mmpose_ext.datasets.synthetic import ensure_dataset, generate_split
from mmpose_ext.tools import make_synthetic

KW = dict(size_range=(96, 128), progress=False)


def digest(root, split):
    h = hashlib.sha256()
    for path in sorted((root / split).iterdir()):
        h.update(path.read_bytes())
    h.update(
        (root / 'annotations' / f'person_keypoints_{split}.json').read_bytes())
    h.update((root / 'annotations' /
              f'person_detections_{split}.json').read_bytes())
    return h.hexdigest()


def test_deterministic_per_seed_and_worker_count(tmp_path):
    generate_split(tmp_path / 'a', 'train', 4, seed=5, **KW)
    generate_split(tmp_path / 'b', 'train', 4, seed=5, workers=2, **KW)
    generate_split(tmp_path / 'c', 'train', 4, seed=6, **KW)
    assert digest(tmp_path / 'a', 'train') == digest(tmp_path / 'b', 'train')
    assert digest(tmp_path / 'a', 'train') != digest(tmp_path / 'c', 'train')


@pytest.mark.parametrize('layout,dataset_cls,num_keypoints',
                         [('coco', CocoDataset, 17),
                          ('crowdpose', CrowdPoseDataset, 14)])
def test_loads_with_xtcocotools_and_mmpose(tmp_path, layout, dataset_cls,
                                           num_keypoints):
    make_synthetic.main([
        '--out',
        str(tmp_path), '--num-train', '6', '--num-val', '2', '--layout',
        layout, '--min-size', '96', '--max-size', '128', '--no-progress'
    ])
    ann_file = tmp_path / 'annotations' / 'person_keypoints_train.json'
    coco = COCO(str(ann_file))
    cat = coco.loadCats(1)[0]
    assert len(cat['keypoints']) == num_keypoints
    assert max(max(link) for link in cat['skeleton']) <= num_keypoints
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns
    for ann in anns:
        img = coco.imgs[ann['image_id']]
        kp = np.array(ann['keypoints']).reshape(num_keypoints, 3)
        assert ann['num_keypoints'] == (kp[:, 2] > 0).sum()
        # COCO: unlabelled -> (0, 0, 0)
        assert (kp[kp[:, 2] == 0, :2] == 0).all()
        shown = kp[kp[:, 2] > 0]
        assert (shown[:, 0] > -0.5).all() and (shown[:, 0]
                                               < img['width'] - 0.5).all()
        assert (shown[:, 1] > -0.5).all() and (shown[:, 1]
                                               < img['height'] - 0.5).all()
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= img['width'] and y + h <= img[
            'height']
        assert 0 <= ann['area'] <= w * h
    if layout == 'crowdpose':
        assert all('crowdIndex' in im for im in coco.dataset['images'])

    dataset = dataset_cls(
        data_root=str(tmp_path),
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        pipeline=[])
    assert dataset.metainfo['num_keypoints'] == num_keypoints
    sample = dataset[0]
    assert sample['keypoints'].shape == (1, num_keypoints, 2)
    assert (tmp_path / 'train' / sample['img_path'].split('/')[-1]).is_file()

    dets = json.loads(
        (tmp_path / 'annotations' / 'person_detections_val.json').read_text())
    assert dets and set(
        dets[0]) == {'image_id', 'category_id', 'bbox', 'score'}
    with_dets = dataset_cls(
        data_root=str(tmp_path),
        ann_file='annotations/person_keypoints_val.json',
        bbox_file=str(tmp_path / 'annotations' / 'person_detections_val.json'),
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=[])
    assert len(with_dets) == len(dets)


def test_ensure_dataset_generates_once(tmp_path):
    ensure_dataset(tmp_path, num_train=2, num_val=1, seed=0, progress=False)
    stamp = (tmp_path / 'annotations' /
             'person_keypoints_train.json').stat().st_mtime_ns
    ensure_dataset(tmp_path, num_train=2, num_val=1, seed=0, progress=False)
    assert (tmp_path / 'annotations' /
            'person_keypoints_train.json').stat().st_mtime_ns == stamp
    ensure_dataset(tmp_path, num_train=3, num_val=1, seed=0, progress=False)
    assert len(
        json.loads((tmp_path / 'annotations' /
                    'person_keypoints_train.json').read_text())['images']) == 3


@pytest.mark.parametrize('layout,dataset_cls',
                         [('coco', CocoDataset),
                          ('crowdpose', CrowdPoseDataset)])
def test_ground_truth_as_prediction_scores_ap_one(tmp_path, layout,
                                                  dataset_cls):
    """Areas, sigmas, visibility and (for CrowdPose) crowd indices are
    consistent with MMPose's CocoMetric:

    predicting the annotations themselves gives AP = 1.
    """
    from mmpose.evaluation import CocoMetric

    generate_split(tmp_path, 'val', 4, seed=2, layout=layout, **KW)
    ann_file = str(tmp_path / 'annotations' / 'person_keypoints_val.json')
    dataset = dataset_cls(
        data_root=str(tmp_path),
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=[])
    kwargs = dict(
        use_area=False,
        iou_type='keypoints_crowd') if layout == 'crowdpose' else {}
    metric = CocoMetric(
        ann_file=ann_file, outfile_prefix=str(tmp_path / 'preds'), **kwargs)
    metric.dataset_meta = dataset.metainfo
    samples = []
    for i in range(len(dataset)):
        info = dataset[i]
        k = info['keypoints'].shape[1]
        samples.append(
            dict(
                id=info['id'],
                img_id=info['img_id'],
                gt_instances=dict(),
                pred_instances=dict(
                    keypoints=info['keypoints'],
                    keypoint_scores=np.ones((1, k)))))
    metric.process([], samples)
    metrics = metric.compute_metrics(metric.results)
    assert metrics['AP'] == pytest.approx(1.0)


def test_ensure_for_config_reads_the_demo_config(repo_root, tmp_path):
    from mmengine.config import Config

    from mmpose_ext.datasets.synthetic import ensure_for_config

    cfg = Config.fromfile(
        str(repo_root / 'configs/demo/td-hm_effnet-lite0_synthetic-128x96.py'))
    assert (cfg.synthetic.num_train >= 1000 and
            cfg.train_dataloader.dataset.data_root.endswith('synthetic-demo/'))
    # toy scale, in a temporary folder
    cfg.synthetic.num_train, cfg.synthetic.num_val = 2, 1
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    assert ensure_for_config(cfg, progress=False) == tmp_path
    meta = json.loads((tmp_path / 'meta.json').read_text())['params']
    assert (meta['num_train'], meta['num_val'], meta['seed'],
            meta['layout']) == (2, 1, 0, 'coco')


def test_val_shifted_split_holds_other_people_under_another_appearance(
        tmp_path):
    """``num_val_shifted`` adds a held-out split with its own image ids and the
    shifted camera regime."""
    ensure_dataset(
        tmp_path,
        num_train=2,
        num_val=2,
        seed=0,
        progress=False,
        num_val_shifted=2)
    shifted = json.loads((tmp_path / 'annotations' /
                          'person_keypoints_val_shifted.json').read_text())
    val = json.loads(
        (tmp_path / 'annotations' / 'person_keypoints_val.json').read_text())
    assert len(shifted['images']) == 2 and shifted['annotations']
    assert not {im['id']
                for im in shifted['images']
                } & {im['id']
                     for im in val['images']}
    import cv2
    means = [
        np.mean([
            cv2.imread(str(tmp_path / split / im['file_name'])).mean()
            for im in coco['images']
        ]) for split, coco in (('val', val), ('val_shifted', shifted))
    ]
    assert means[1] < means[0]
