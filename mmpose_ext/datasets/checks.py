"""Check a COCO-style keypoint annotation file before training or testing on
it: errors for what would silently give wrong numbers, warnings for what MMPose
silently skips or cannot learn from.

Measured through MMEngine's runner with every head of ``tests/zoo.py``
(tests/test_reliability.py):

- NaN keypoints in the annotations train on garbage targets without a word (or
  stop deep in a loss), and MMPose's CocoMetric then scores NaN ground truth as
  found: AP 1.0 for a model that found nobody;
- annotations with another keypoint count than the dataset metainfo (a
  CrowdPose file read as COCO) stop in MMPose's flip transform with
  ``IndexError: index 14 is out of bounds``;
- people with keypoints but an empty box are dropped by MMPose's dataset
  without a word (CocoMetric still counts them as missed); people whose
  keypoints are all unlabelled or all outside the image are kept and add
  exactly 0 to the loss.

:class:`AnnotationCheckHook` reads the annotation file once per dataset
(``before_train`` / ``before_val`` / ``before_test``; the dataset has dropped
its own copy by then) and raises :class:`AnnotationError` for the first two
(and when the model's head predicts another K than the dataset has), and logs
one warning with counts and examples for the others. Datasets read from a
detection file (``bbox_file``) carry no keypoints and are not checked.
"""
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS


class AnnotationError(ValueError):
    """An annotation file that cannot give correct training targets or
    metrics."""


def _examples(items: List[str], first: int = 3) -> str:
    more = f', ... {len(items) - first} more' if len(items) > first else ''
    return ', '.join(items[:first]) + more


def check_annotations(ann_file,
                      num_keypoints: int,
                      layout: str = '') -> Dict[str, List[str]]:
    """Check the people of a COCO-format keypoint file against the dataset's
    ``num_keypoints``.

    Args:
        ann_file: the annotation file.
        num_keypoints: K of the dataset metainfo
            (``dataset.metainfo['num_keypoints']``).
        layout: the metainfo's dataset name, for the message.

    Returns:
        dict: warnings by kind (``'empty box'``, ``'no labelled keypoint'``,
            ``'outside the image'``), each a
        list of ``'annotation <id> (<file name>)'``; only people MMPose's
        top-down dataset would keep count for the last two (crowd and
        ``num_keypoints == 0`` annotations are skipped by design and not
        reported).

    Raises:
        AnnotationError: a person has another number of keypoints than
            ``num_keypoints``, or NaN/Inf in its keypoints or box (naming the
            file, the counts and the first annotations).
    """
    coco = json.loads(Path(ann_file).read_text())
    images = {im['id']: im for im in coco.get('images', [])}
    wrong_k: List[str] = []
    non_finite: List[str] = []
    found: Dict[str, List[str]] = {
        'empty box': [],
        'no labelled keypoint': [],
        'outside the image': []
    }
    for ann in coco.get('annotations', []):
        if 'keypoints' not in ann or 'bbox' not in ann or ann.get(
                'iscrowd', 0):
            continue
        image = images.get(ann.get('image_id'), {})
        name = (f'annotation {ann.get("id")} '
                f'({image.get("file_name", "image ?")})')
        kpts = np.asarray(ann['keypoints'], dtype=np.float64)
        if kpts.size != 3 * num_keypoints:
            wrong_k.append(f'{name}: {kpts.size / 3:g}')
            continue
        kpts = kpts.reshape(-1, 3)
        box = np.asarray(ann['bbox'], dtype=np.float64)
        if not (np.isfinite(kpts).all() and np.isfinite(box).all()):
            non_finite.append(name)
            continue
        labelled = kpts[:, 2] > 0
        # MMPose's top-down datasets skip: num_keypoints == 0, an empty box
        # once clipped to the image, and no coordinate > 0; of the people they
        # keep, we report what cannot contribute to the loss
        if ann.get('num_keypoints',
                   np.count_nonzero(kpts[:, :2].max(axis=1))) == 0:
            continue
        w_img, h_img = image.get('width'), image.get('height')
        if w_img is not None and h_img is not None:
            x1, y1 = np.clip(box[:2], 0, [w_img - 1, h_img - 1])
            x2, y2 = np.clip(box[:2] + box[2:4], 0, [w_img - 1, h_img - 1])
            if x2 <= x1 or y2 <= y1:
                if labelled.any():
                    found['empty box'].append(name)
                continue
        if kpts[:, :2].max() <= 0:
            continue
        if not labelled.any():
            found['no labelled keypoint'].append(name)
        elif w_img is not None and h_img is not None:
            xy = kpts[labelled, :2]
            if ((xy < 0) | (xy >= [w_img, h_img])).any(axis=1).all():
                found['outside the image'].append(name)
    if wrong_k:
        raise AnnotationError(
            f'{ann_file}: {len(wrong_k)} people have another number of '
            'keypoints than the dataset metainfo '
            f'{layout or ""} (K = {num_keypoints}): {_examples(wrong_k)}. '
            'The annotation file is of another '
            'keypoint layout than the dataset type / metainfo of the config.')
    if non_finite:
        raise AnnotationError(
            f'{ann_file}: {len(non_finite)} people have NaN or Inf in their '
            'keypoints or box: '
            f'{_examples(non_finite)}. Fix or remove them: MMPose would '
            'train on them and CocoMetric scores '
            'NaN ground truth as found.')
    return found


#: What each warning kind means for training and testing.
CONSEQUENCES = {
    'empty box':
    'have labelled keypoints but an empty box (once clipped to the image): '
    'MMPose\'s dataset skips '
    'them (CocoMetric still counts them as missed)',
    'no labelled keypoint':
    'have no labelled keypoint (visibility 0) but a keypoint count > 0: '
    'MMPose keeps '
    'them, and they add nothing to the loss',
    'outside the image':
    'have every labelled keypoint outside their image (wrong coordinates?): '
    'those outside '
    'the input crop get no weight in the loss',
}


def _leaves(dataset) -> list:
    """The datasets inside MMEngine's wrappers (ConcatDataset / RepeatDataset /
    MMPose's CombinedDataset)."""
    if hasattr(dataset, 'datasets'):
        return [leaf for inner in dataset.datasets for leaf in _leaves(inner)]
    if hasattr(dataset, 'dataset') and not hasattr(dataset, 'ann_file'):
        return _leaves(dataset.dataset)
    return [dataset]


def model_num_keypoints(model) -> Optional[int]:
    """K that ``model`` predicts, read from its head (ours and MMPose's
    coordinate heads: ``num_keypoints``; MMPose's regression heads:

    ``num_joints``; heatmap / SimCC heads: ``out_channels``), through DDP's
    ``module`` and SCAI's ``base``; None when the model does not say.
    """
    model = getattr(model, 'module', model)
    head = getattr(model, 'head', None) or getattr(
        getattr(model, 'base', None), 'head', None)
    for name in ('num_keypoints', 'num_joints', 'out_channels'):
        value = getattr(head, name, None)
        if isinstance(value, int):
            return value
    return None


@HOOKS.register_module()
class AnnotationCheckHook(Hook):
    """Run :func:`check_annotations` on each dataset the runner trains,
    validates or tests on, once.

    Use it from a config (the module must be imported)::

        custom_imports = dict(
            imports=['mmpose_ext'], allow_failed_imports=False)
        custom_hooks = [dict(type='AnnotationCheckHook')]
    """
    priority = 'VERY_HIGH'  # before anything spends time on the data

    def __init__(self) -> None:
        self._checked = set()

    def _check(self, dataloader, model=None) -> None:
        model_k = model_num_keypoints(model) if model is not None else None
        for dataset in _leaves(getattr(dataloader, 'dataset', None)):
            ann_file: Optional[str] = getattr(dataset, 'ann_file', None)
            metainfo = getattr(dataset, 'metainfo', None) or {}
            data_k = metainfo.get('num_keypoints')
            if model_k is not None and data_k is not None and int(
                    data_k) != model_k:
                # without this, MMPose's heads stop in a shape error or a bare
                # AssertionError in their flip test
                raise AnnotationError(
                    f'the model predicts {model_k} keypoints but the '
                    f'dataset {type(dataset).__name__} '
                    f'({metainfo.get("dataset_name", "?")}, {ann_file}) has '
                    f'{data_k}: configure the head for '
                    f'{data_k} keypoints or use the dataset the model was '
                    'trained for')
            if (not ann_file or getattr(dataset, 'bbox_file', None)
                    or 'num_keypoints' not in metainfo
                    or not Path(ann_file).is_file()
                    or ann_file in self._checked):
                continue
            self._checked.add(ann_file)
            found = check_annotations(ann_file, int(metainfo['num_keypoints']),
                                      metainfo.get('dataset_name', ''))
            for kind, names in found.items():
                if names:
                    print_log(
                        f'{ann_file}: {len(names)} people '
                        f'{CONSEQUENCES[kind]}; e.g. {_examples(names)}',
                        logger='current',
                        level=logging.WARNING)

    def before_train(self, runner) -> None:
        self._check(runner.train_dataloader, runner.model)

    def before_val(self, runner) -> None:
        self._check(runner.val_dataloader, runner.model)

    def before_test(self, runner) -> None:
        self._check(runner.test_dataloader, runner.model)
