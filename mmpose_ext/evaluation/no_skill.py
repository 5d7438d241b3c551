"""A no-skill baseline for top-down evaluation: the training set's mean pose
placed in every test box.

``MeanPoseBaseline`` ignores the image. From a COCO-format training annotation
file it takes every person with a non-degenerate box (w > 0, h > 0) and every
labelled keypoint (v > 0) of it, in box-normalised coordinates
``u = (x − x0) / w``, ``v = (y − y0) / h``, and averages them per keypoint (a
keypoint that is never labelled sits at the box centre, (0.5, 0.5)). At test
time it maps that pose into each instance's ground-truth box and returns MMPose
data samples exactly as ``TopdownPoseEstimator.predict`` does, so MMPose's
metrics (``CocoMetric``) and ``BoxNormalizedPoseMetric`` score it through
MMEngine's ``Runner.test()``. A model that does not beat these numbers has
learned nothing about the image.

``evaluate_no_skill`` runs that test in seconds.
"""
import copy
import itertools
import json
import os
import time
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

PathLike = Union[str, os.PathLike]


def compute_mean_pose(ann_file: PathLike) -> np.ndarray:
    """The mean pose of a COCO-format keypoint annotation file, in box-
    normalised coordinates.

    Args:
        ann_file: COCO-format json with ``annotations[i].bbox`` (x0, y0, w, h)
            and ``annotations[i].keypoints`` (3K values: x, y, v).

    Returns:
        np.ndarray: (K, 2) mean (u, v) per keypoint, ``u = (x − x0) / w``,
            ``v = (y − y0) / h``, over the
        persons with ``w > 0`` and ``h > 0`` whose keypoint is labelled (v >
        0); (0.5, 0.5) for a keypoint labelled nowhere. K comes from the person
        category's ``keypoints`` names when the file has them, else from the
        annotations.

    Raises:
        ValueError: no annotation has keypoints, or annotations (or the
            category) disagree on K.
    """
    with open(ann_file) as f:
        coco = json.load(f)
    num_keypoints = {
        len(c['keypoints'])
        for c in coco.get('categories', []) if c.get('keypoints')
    }
    anns = [a for a in coco.get('annotations', []) if a.get('keypoints')]
    num_keypoints |= {len(a['keypoints']) // 3 for a in anns}
    if len(num_keypoints) != 1 or any(len(a['keypoints']) % 3 for a in anns):
        raise ValueError(
            f'{ann_file}: cannot read one keypoint count K from the '
            'categories and annotations '
            f'(found K in {sorted(num_keypoints)})')
    K = num_keypoints.pop()
    total = np.zeros((K, 2))
    count = np.zeros(K)
    for ann in anns:
        x0, y0, w, h = (float(v) for v in ann['bbox'])
        if w <= 0 or h <= 0:
            continue
        kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(K, 3)
        labelled = kpts[:, 2] > 0  # (K,)
        uv = (kpts[:, :2] - (x0, y0)) / (w, h)  # (K, 2)
        total[labelled] += uv[labelled]
        count[labelled] += 1
    mean = np.full((K, 2), 0.5)
    seen = count > 0
    mean[seen] = total[seen] / count[seen, None]
    return mean


@MODELS.register_module()
class MeanPoseBaseline(BaseModel):
    """No-skill top-down "estimator": the training set's mean pose, stretched
    into each ground-truth box.

    Note:
        - B: data samples in the batch; N: boxes in one sample (1 in top-down
          evaluation).
        - K: keypoints, read from ``ann_file``.

    It has no parameters (the mean pose is a buffer, saved in state dicts) and
    never looks at the image.

    Args:
        ann_file (str | PathLike): COCO-format training annotations, see
            :func:`compute_mean_pose`.
        data_preprocessor (dict, optional): MMEngine's ``BaseDataPreprocessor``
            when None (nothing is
            normalised: the inputs are not used).
        init_cfg (dict, optional): unused; MMEngine's argument.
    """

    def __init__(self,
                 ann_file: PathLike,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.ann_file = str(ann_file)
        self.register_buffer(
            'mean_pose',
            torch.as_tensor(compute_mean_pose(ann_file), dtype=torch.float32))
        self.num_keypoints = self.mean_pose.shape[0]

    def place(self, bboxes: torch.Tensor) -> torch.Tensor:
        """Map the mean pose into boxes: (N, 4) xyxy → (N, K, 2).

        ``x = x0 + u·(x1 − x0)``, same for y.
        """
        bboxes = bboxes.to(self.mean_pose)
        # (N, 1, 2) each
        origin, size = (bboxes[:, None, :2],
                        bboxes[:, None, 2:] - bboxes[:, None, :2])
        return origin + self.mean_pose[None] * size  # (N, K, 2)

    def _check_keypoint_count(self, sample: PoseDataSample) -> None:
        """A clear error where the dataset's K (flip_indices in the metainfo,
        ground truth) is not ours."""
        found = {}
        if 'flip_indices' in sample.metainfo:
            found['flip_indices in the dataset metainfo'] = len(
                sample.metainfo['flip_indices'])
        if 'gt_instances' in sample and 'keypoints' in sample.gt_instances:
            found['ground-truth keypoints'] = np.shape(
                sample.gt_instances.keypoints)[1]
        for what, K in found.items():
            if K != self.num_keypoints:
                raise ValueError(f'MeanPoseBaseline: {self.ann_file} has '
                                 f'K={self.num_keypoints} keypoints but '
                                 f'the test data has K={K} ({what})')

    def _boxes(self, sample: PoseDataSample) -> torch.Tensor:
        """(N, 4) xyxy ground-truth boxes of one data sample."""
        if 'gt_instances' not in sample or 'bboxes' not in sample.gt_instances:
            raise ValueError(
                'MeanPoseBaseline needs gt_instances.bboxes (top-down, '
                'ground-truth or detected '
                'boxes) in every data sample')
        # numpy from MMPose's pipeline; tensors accepted too
        bboxes = sample.gt_instances.bboxes
        if isinstance(bboxes, torch.Tensor):
            return bboxes.detach().float().reshape(-1, 4)
        return torch.as_tensor(np.asarray(bboxes,
                                          dtype=np.float32)).reshape(-1, 4)

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[Sequence[PoseDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[torch.Tensor, List[PoseDataSample]]:
        """Run the baseline; the result depends on ``mode``.

        ``'tensor'``: (B·N, K, 2) keypoints in image coordinates;
        ``'predict'``: the data samples with ``pred_instances`` (as
        ``TopdownPoseEstimator.predict``); ``'loss'``: an error (nothing to
        train).

        Args:
            inputs: the batch's images (ignored).
            data_samples: B ``PoseDataSample`` with ``gt_instances.bboxes`` (N,
                4) xyxy, image coordinates.
            mode: ``'tensor'``, ``'predict'`` or ``'loss'``.
        """
        if mode == 'loss':
            raise RuntimeError(
                'MeanPoseBaseline has no parameters and nothing to train; '
                'use it with '
                'Runner.test() or evaluate_no_skill()')
        if mode not in ('tensor', 'predict'):
            raise ValueError(f'unknown mode {mode!r}')
        if not data_samples:
            raise ValueError(
                'MeanPoseBaseline needs data samples with gt_instances.bboxes')
        for sample in data_samples:
            self._check_keypoint_count(sample)
        # B × (N, K, 2)
        keypoints = [self.place(self._boxes(s)) for s in data_samples]
        if mode == 'tensor':
            return torch.cat(keypoints)  # (B·N, K, 2)
        for sample, kpts in zip(data_samples, keypoints):
            gt = sample.gt_instances
            pred = InstanceData()
            pred.keypoints = kpts.cpu().numpy()  # (N, K, 2) image coordinates
            # (N, K)
            pred.keypoint_scores = np.ones(kpts.shape[:2], dtype=np.float32)
            # as TopdownPoseEstimator.add_pred_to_datasample
            pred.keypoints_visible = pred.keypoint_scores
            pred.bboxes = gt.bboxes
            if 'bbox_scores' in gt:
                pred.bbox_scores = gt.bbox_scores
            sample.pred_instances = pred
        return list(data_samples)


_RUNS = itertools.count()


def evaluate_no_skill(train_ann_file: PathLike, test_dataloader_cfg: dict,
                      evaluator_cfg: Union[dict, Sequence[dict]],
                      work_dir: PathLike) -> Dict[str, float]:
    """Test ``MeanPoseBaseline`` (mean pose of ``train_ann_file``) with
    MMEngine's ``Runner.test()``.

    Args:
        train_ann_file: COCO-format training annotations the mean pose comes
            from.
        test_dataloader_cfg: an MMPose top-down test dataloader config
            (dataset, pipeline ending in ``PackPoseInputs``), as in an MMPose
            config's ``test_dataloader``.
        evaluator_cfg: a metric config or a list of them, as an MMPose config's
            ``test_evaluator`` (e.g. ``[dict(type='CocoMetric',
            ann_file=...), dict(type='BoxNormalizedPoseMetric')]``).
        work_dir: where the runner writes its logs.

    Returns:
        dict: the evaluator's metrics (``coco/AP``, ``box_norm/PCK@0.1``, ...).

    Raises:
        ValueError: the test dataset's ``num_keypoints`` differs from the
            annotation file's K.
    """
    from mmengine.runner import Runner

    model = MODELS.build(
        dict(type='MeanPoseBaseline', ann_file=str(train_ann_file)))
    runner = Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=
        f'no_skill_{time.strftime("%Y%m%d_%H%M%S")}_{os.getpid()}_'
        f'{next(_RUNS)}',
        test_dataloader=copy.deepcopy(test_dataloader_cfg),
        test_evaluator=copy.deepcopy(evaluator_cfg),
        test_cfg=dict(type='TestLoop'),
        default_scope='mmpose',
        log_level='WARNING',
    )
    # builds the loop, which runner.test() reuses
    metainfo = runner.test_loop.dataloader.dataset.metainfo
    K = metainfo.get('num_keypoints', len(metainfo.get('flip_indices', ())))
    if K != model.num_keypoints:
        raise ValueError(
            f'{train_ann_file} has K={model.num_keypoints} keypoints but '
            'the test dataset '
            f'({metainfo.get("dataset_name", "?")}) has K={K}')
    return runner.test()
