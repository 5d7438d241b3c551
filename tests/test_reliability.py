"""Bad input: what each kind gets (the README's Reliability table, one test per
row).

Rows about data and checkpoints run through MMEngine's Runner with a zoo config
(tests/zoo.py; TokenPose, the cheapest to build) on a tiny generated dataset,
training 1 iteration at batch 2 or testing on its 4 held-out images. Rows the
head decides (every keypoint unlabelled, NaN input, K mismatch, batch size 1)
run each of our heads' ``loss()`` and ``predict()`` on one batch of that data:
the calls the runner's ``train_step`` and ``test_step`` make, without building
a runner per head and row (each was also probed through the runner: the same
outcomes).

Where a head does not yet give the clear outcome the table promises, its case
is ``xfail(strict=True)`` with the owner's file in the reason: it turns into a
failure (XPASS) as soon as the head is fixed, and the mark goes.
"""
import copy
import json
import logging
import re
import shutil
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import \
    load_checkpoint as mmengine_load_checkpoint
from mmpose.registry import MODELS
from zoo import HEADS, OURS, make_tiny_dataset, runner_cfg

# registers AnnotationCheckHook
import mmpose_ext.datasets.checks  # noqa: F401
from mmpose_ext.benchmark import ensure_hook, point_at_dataset
from mmpose_ext.checkpoint import CheckpointError, load_checkpoint_strict
from mmpose_ext.datasets.checks import AnnotationError
from mmpose_ext.datasets.synthetic.coco_writer import generate_dataset
from mmpose_ext.models.common import NonFiniteError
from mmpose_ext.tools import export_onnx

RUNNER_HEAD = 'tokenpose'
# : The name a clear error must carry for each head: the head class, or for
# RLE-flow (MMPose's RLEHead with : our loss and codec) the RLE-flow loss or
# scorer; SCAI's estimator is its head.
OWNER = {
    'poseur': 'PoseurHead',
    'tokenpose': 'TokenPoseHead',
    'sinecc': 'SineCoordClsHead',
    'rle-flow': 'RLE',
    'scai-pg': 'SCAIPoseEstimator',
    'scai-c': 'SCAIPoseEstimator'
}


def _heads(pending: dict) -> list:
    """``OURS`` as parameters, those in ``pending`` marked xfail(strict) with
    its reason."""
    return [
        pytest.param(
            name, marks=pytest.mark.xfail(strict=True, reason=pending[name]))
        if name in pending else name for name in OURS
    ]


# ----------------------------------------------------------------------------------------------------------
# data


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    init_default_scope('mmpose')
    return make_tiny_dataset(tmp_path_factory.mktemp('tiny'))


@pytest.fixture(scope='module')
def crowd(tmp_path_factory) -> Path:
    """The same kind of data in CrowdPose's 14-keypoint layout."""
    root = tmp_path_factory.mktemp('crowd')
    generate_dataset(
        root,
        4,
        2,
        seed=0,
        layout='crowdpose',
        size_range=(128, 192),
        max_people=3,
        progress=False)
    return root


def _variant(tiny: Path,
             root: Path,
             edit_annotations=None,
             edit_images=None) -> Path:
    """A copy of the tiny dataset with both splits edited:

    ``edit_annotations(coco)`` changes the COCO dict, ``edit_images(folder,
    coco)`` the image files.
    """
    shutil.copytree(tiny, root)
    for split in ('train', 'val'):
        ann = root / f'annotations/person_keypoints_{split}.json'
        coco = json.loads(ann.read_text())
        if edit_annotations:
            edit_annotations(coco)
        # NaN is written as NaN, as Python's json (and json_tricks) do
        ann.write_text(json.dumps(coco))
        if edit_images:
            edit_images(root / split, coco)
    return root


def _people(root: Path, split: str = 'val') -> int:
    coco = json.loads(
        (root / f'annotations/person_keypoints_{split}.json').read_text())
    return sum(1 for a in coco['annotations']
               if a.get('num_keypoints', 0) > 0 and not a.get('iscrowd'))


# ----------------------------------------------------------------------------------------------------------
# through the runner


class _Warnings(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _runner(root: Path,
            work_dir: Path,
            name: str = RUNNER_HEAD,
            layout: str = 'coco',
            hooks=(),
            load_from=None,
            **kwargs) -> Runner:
    cfg = runner_cfg(name, root, work_dir, iters=1, **kwargs)
    if layout != 'coco':
        point_at_dataset(cfg, root, layout, workers=0, batch_size=2)
    for hook in hooks:
        ensure_hook(cfg, hook)
    cfg.load_from = load_from
    cfg.experiment_name = f'reliability_{uuid.uuid4().hex[:8]}'
    cfg.visualizer.name = cfg.experiment_name
    return Runner.from_cfg(cfg)


def _train(root, work_dir, **kwargs):
    """(the loss of 1 training iteration, the warnings logged)."""
    runner = _runner(root, work_dir, **kwargs)
    caught = _Warnings()
    runner.logger.addHandler(caught)
    runner.train()
    return float(
        runner.message_hub.get_scalar('train/loss').current()), caught.messages


def _test(root, work_dir, **kwargs):
    """(the test metrics, the warnings logged)."""
    runner = _runner(root, work_dir, **kwargs)
    caught = _Warnings()
    runner.logger.addHandler(caught)
    return runner.test(), caught.messages


def _any(messages, *words) -> bool:
    return any(all(w in m for w in words) for m in messages)


def test_image_without_people_is_not_sampled(tiny, tmp_path):
    """Top-down: an image with no annotated person gives no crop to train or
    test on; nothing else changes."""

    def drop_first_image_people(coco):
        first = coco['images'][0]['id']
        coco['annotations'] = [
            a for a in coco['annotations'] if a['image_id'] != first
        ]

    root = _variant(tiny, tmp_path / 'data', drop_first_image_people)
    loss, warned = _train(
        root, tmp_path / 'train', hooks=['AnnotationCheckHook'])
    # nothing to report
    assert np.isfinite(loss) and not _any(warned, 'people')
    metrics, _ = _test(root, tmp_path / 'test')
    assert metrics['synthetic/num_instances'] == _people(root) < _people(tiny)
    assert 0.0 <= metrics['synthetic/AP'] <= 1.0


def test_all_keypoints_unlabelled_is_zero_loss_and_a_warning(tiny, tmp_path):
    """People whose every keypoint has visibility 0 but a keypoint count > 0 (a
    converter's mistake): MMPose keeps them, they add exactly 0 to the loss;
    AnnotationCheckHook says so.

    Testing on them: COCO's AP is -1 (no ground truth) and
    BoxNormalizedPoseMetric warns that it skipped every person.
    """

    def unlabel(coco):
        for ann in coco['annotations']:
            ann['keypoints'][2::3] = [0] * (len(ann['keypoints']) // 3)

    root = _variant(tiny, tmp_path / 'data', unlabel)
    loss, warned = _train(
        root, tmp_path / 'train', hooks=['AnnotationCheckHook'])
    assert loss == 0.0
    assert _any(warned, 'no labelled keypoint', 'person_keypoints_train.json')
    metrics, warned = _test(root, tmp_path / 'test')
    assert metrics['synthetic/AP'] == -1.0
    assert _any(warned, 'BoxNormalizedPoseMetric', 'skipped')


def test_zero_area_box_is_skipped_with_a_warning(tiny, tmp_path):
    """MMPose's dataset drops a person whose box is empty without a word;
    AnnotationCheckHook warns (and CocoMetric still counts the person as
    missed)."""

    def flatten_first_box(coco):
        coco['annotations'][0]['bbox'][2:] = [0.0, 0.0]

    root = _variant(tiny, tmp_path / 'data', flatten_first_box)
    loss, warned = _train(
        root, tmp_path / 'train', hooks=['AnnotationCheckHook'])
    assert np.isfinite(loss) and _any(warned, 'empty box',
                                      'person_keypoints_train.json')
    metrics, warned = _test(
        root, tmp_path / 'test', hooks=['AnnotationCheckHook'])
    assert metrics['synthetic/num_instances'] == _people(root) - 1
    assert _any(warned, 'empty box', 'person_keypoints_val.json')


def test_only_zero_area_boxes_stops_in_mmengine(tiny, tmp_path):
    """When every person is dropped, MMEngine stops while building the dataset,
    with an unhelpful message (before any hook runs: not ours to improve
    without patching MMEngine)."""

    def flatten_all(coco):
        for ann in coco['annotations']:
            ann['bbox'][2:] = [0.0, 0.0]

    root = _variant(tiny, tmp_path / 'data', flatten_all)
    with pytest.raises(
            ValueError, match='need at least one array to concatenate'):
        _train(root, tmp_path / 'train', hooks=['AnnotationCheckHook'])


def test_keypoints_outside_the_image_get_no_weight_and_a_warning(
        tiny, tmp_path):
    """Labelled keypoints far outside the image (a coordinate error): the
    pipeline gives them weight 0, so the loss is 0; AnnotationCheckHook
    warns."""

    def move_out(coco):
        sizes = {
            im['id']: (im['width'], im['height'])
            for im in coco['images']
        }
        for ann in coco['annotations']:
            w, h = sizes[ann['image_id']]
            ann['keypoints'][0::3] = [
                x + 2 * w for x in ann['keypoints'][0::3]
            ]
            ann['keypoints'][1::3] = [
                y + 2 * h for y in ann['keypoints'][1::3]
            ]

    root = _variant(tiny, tmp_path / 'data', move_out)
    loss, warned = _train(
        root, tmp_path / 'train', hooks=['AnnotationCheckHook'])
    assert loss == 0.0 and _any(warned, 'outside their image')


def test_grayscale_image_works(tiny, tmp_path):
    """MMPose's LoadImage decodes in colour: a single-channel JPEG becomes
    three equal channels."""

    def to_gray(folder, coco):
        for path in folder.glob('*.jpg'):
            cv2.imwrite(str(path), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))

    root = _variant(tiny, tmp_path / 'data', edit_images=to_gray)
    assert cv2.imread(
        str(next((root / 'train').glob('*.jpg'))),
        cv2.IMREAD_UNCHANGED).ndim == 2
    loss, _ = _train(root, tmp_path / 'train')
    assert np.isfinite(loss) and loss > 0


def test_missing_image_file_is_an_error_naming_it(tiny, tmp_path):

    def delete(folder, coco):
        for path in folder.glob('*.jpg'):
            path.unlink()

    root = _variant(tiny, tmp_path / 'data', edit_images=delete)
    with pytest.raises(FileNotFoundError, match=r'train/\d+\.jpg'):
        _train(root, tmp_path / 'train')
    with pytest.raises(FileNotFoundError, match=r'val/\d+\.jpg'):
        _test(root, tmp_path / 'test')


def test_corrupt_image_file_is_an_error_naming_it(tiny, tmp_path):

    def truncate(folder, coco):
        for path in folder.glob('*.jpg'):
            path.write_bytes(path.read_bytes()[:200])

    root = _variant(tiny, tmp_path / 'data', edit_images=truncate)
    with pytest.raises(
            AssertionError, match=r'failed to load image: .*train/\d+\.jpg'):
        _train(root, tmp_path / 'train')


def test_nan_in_annotations_is_an_error_naming_the_person(tiny, tmp_path):
    """Without the check, NaN keypoints train silently (or stop deep in a loss)
    and CocoMetric scores NaN ground truth as found (measured: AP 1.0 for a
    model that found nobody)."""

    def nan_first_keypoint(coco):
        coco['annotations'][0]['keypoints'][0] = float('nan')

    root = _variant(tiny, tmp_path / 'data', nan_first_keypoint)
    train_id = json.loads((root / 'annotations/person_keypoints_train.json'
                           ).read_text())['annotations'][0]['id']
    with pytest.raises(
            AnnotationError,
            match=rf'NaN or Inf .*annotation {train_id} \(000000000001\.jpg\)'
    ):
        _train(root, tmp_path / 'train', hooks=['AnnotationCheckHook'])
    with pytest.raises(
            AnnotationError,
            match='person_keypoints_val.json: 1 people have NaN'):
        _test(root, tmp_path / 'test', hooks=['AnnotationCheckHook'])


def test_annotations_of_another_keypoint_layout_are_an_error(crowd, tmp_path):
    """CrowdPose annotations (14 keypoints) read by a COCO dataset (17):

    without the check, MMPose's flip transform stops with ``IndexError: index
    14 is out of bounds``.
    """
    with pytest.raises(
            AnnotationError,
            match=
            r'another number of keypoints .*K = 17\): annotation \d+ .*: 14'):
        _train(
            crowd,
            tmp_path / 'train',
            layout='coco',
            hooks=['AnnotationCheckHook'])


# ----------------------------------------------------------------------------------------------------------
# model-level helpers (each head's model, config and data built once per
# module)


@pytest.fixture(scope='module')
def zoo(tiny, tmp_path_factory):
    """Caches: ``zoo.cfg(name)`` the head's zoo config, ``zoo.model(name)`` its
    model (back at its initial weights on every call), ``zoo.batch(name, root,
    split, layout, batch_size)`` the first people of a split, through the
    config's pipeline and collate function."""
    work = tmp_path_factory.mktemp('zoo')

    class Zoo:

        def __init__(self):
            self.cfgs, self.models, self.datasets = {}, {}, {}

        def cfg(self, name):
            if name not in self.cfgs:
                self.cfgs[name] = runner_cfg(name, tiny, work / name)
            return copy.deepcopy(self.cfgs[name])

        def model(self, name):
            if name not in self.models:
                model = MODELS.build(self.cfg(name).model)
                self.models[name] = (model, copy.deepcopy(model.state_dict()))
            model, initial = self.models[name]
            model.load_state_dict(initial)
            return model

        def batch(self,
                  name,
                  root,
                  split='train',
                  layout='coco',
                  batch_size=2) -> dict:
            key = (name, str(root), split, layout)
            if key not in self.datasets:
                cfg = self.cfg(name)
                point_at_dataset(cfg, root, layout, workers=0)
                loader = (
                    cfg.train_dataloader
                    if split == 'train' else cfg.test_dataloader)
                self.datasets[key] = Runner.build_dataloader(loader, seed=0)
            loader = self.datasets[key]
            return loader.collate_fn(
                [loader.dataset[i] for i in range(batch_size)])

    return Zoo()


def _loss(model, batch, inputs=None) -> torch.Tensor:
    """The total loss ``model.train_step`` would step on (no optimizer step);
    ``inputs`` replaces the preprocessed images."""
    model.train()
    data = model.data_preprocessor(batch, True)
    if inputs is not None:
        data['inputs'] = inputs(data['inputs'])
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    return loss


def _predict(model, batch, inputs=None) -> list:
    """``model.test_step``'s data samples."""
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        if inputs is not None:
            data['inputs'] = inputs(data['inputs'])
        return model(**data, mode='predict')


def _nan(x: torch.Tensor) -> torch.Tensor:
    return torch.full_like(x, float('nan'))


# ----------------------------------------------------------------------------------------------------------
# checkpoints


@pytest.fixture(scope='module')
def checkpoints(zoo, tmp_path_factory) -> dict:
    """name → an MMEngine-style checkpoint file ({'meta', 'state_dict'}) of
    that zoo head's model (untrained)."""
    out = tmp_path_factory.mktemp('ckpt')
    files = {}
    for name in (RUNNER_HEAD, 'poseur'):
        files[name] = out / f'{name}.pth'
        torch.save(
            dict(
                meta=dict(mmengine_version='0.10.7'),
                state_dict=zoo.model(name).state_dict()), files[name])
    return files


@pytest.mark.parametrize('name', OURS)
def test_own_checkpoint_loads_strictly(name, zoo, tmp_path):
    """No false alarm: every head's own weights load key for key (``module.``
    prefixes of DDP too)."""
    model = zoo.model(name)
    torch.save(
        dict(state_dict={
            f'module.{k}': v
            for k, v in model.state_dict().items()
        }), tmp_path / 'own.pth')
    load_checkpoint_strict(model, tmp_path / 'own.pth')


def test_another_heads_checkpoint_is_an_error_listing_keys(
        checkpoints, zoo, tiny, tmp_path):
    """MMEngine's loaders take another head's weights with a warning (the test
    then reports AP 0, exit code 0); ours (tools, and the runner with
    StrictCheckpointHook) refuse, listing the keys that do not match."""
    model = zoo.model(RUNNER_HEAD)
    # only a warning
    mmengine_load_checkpoint(
        model, str(checkpoints['poseur']), map_location='cpu')
    keys = (r'does not fit TopdownPoseEstimator \(TokenPoseHead\).*: \d+ '
            r'missing keys \(head\..*\), \d+ unexpected keys')
    with pytest.raises(CheckpointError, match=keys):
        load_checkpoint_strict(model, checkpoints['poseur'])
    # MMPose's tools/test.py path: load_from + Runner.test()
    with pytest.raises(CheckpointError, match=keys):
        _test(
            tiny,
            tmp_path / 'test',
            hooks=['StrictCheckpointHook'],
            load_from=str(checkpoints['poseur']))
    config = str(HEADS[RUNNER_HEAD][0])
    # the export tool (the demo loads with the same function)
    with pytest.raises(CheckpointError, match=keys):
        export_onnx.main([
            config,
            str(checkpoints['poseur']), '--out',
            str(tmp_path / 'x.onnx')
        ])
    # the same keys, one of another shape (e.g. a head for another K)
    state = torch.load(checkpoints[RUNNER_HEAD])['state_dict']
    key = next(k for k in state if k.startswith('head.') and state[k].ndim > 1)
    state[key] = state[key][:-1]
    torch.save(dict(state_dict=state), tmp_path / 'other_k.pth')
    with pytest.raises(
            CheckpointError,
            match=rf'1 shape mismatch \({re.escape(key)}: checkpoint \('):
        load_checkpoint_strict(model, tmp_path / 'other_k.pth')


def test_truncated_checkpoint_is_an_error_naming_the_file(
        checkpoints, zoo, tiny, tmp_path):
    path = checkpoints[RUNNER_HEAD]
    bad = tmp_path / 'half.pth'
    bad.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    model = zoo.model(RUNNER_HEAD)
    with pytest.raises(
            CheckpointError,
            match=rf'{re.escape(str(bad))} is truncated or corrupt'):
        load_checkpoint_strict(model, bad)
    with pytest.raises(
            CheckpointError,
            match=rf'{re.escape(str(bad))} is truncated or corrupt'):
        _test(
            tiny,
            tmp_path / 'test',
            hooks=['StrictCheckpointHook'],
            load_from=str(bad))
    # bytes zeroed inside a tensor: torch itself loads this silently; the zip
    # CRC does not match
    flipped = bytearray(path.read_bytes())
    flipped[len(flipped) // 2:len(flipped) // 2 + 64] = bytes(64)
    (tmp_path / 'flipped.pth').write_bytes(bytes(flipped))
    with pytest.raises(
            CheckpointError,
            match='flipped.pth is corrupt: its entry .* fails the CRC check'):
        load_checkpoint_strict(model, tmp_path / 'flipped.pth')


# ----------------------------------------------------------------------------------------------------------
# through each head's loss() and predict()


@pytest.mark.parametrize('name', OURS)
def test_heads_on_people_without_usable_keypoints(name, zoo, tiny, tmp_path):
    """A batch whose people are all unlabelled (visibility 0) or have every
    keypoint outside the image:

    loss 0, not 0/0 = NaN (training goes on without a signal from them).
    """

    def unlabel_or_move_out(coco):
        for i, ann in enumerate(coco['annotations']):
            if i % 2:
                ann['keypoints'][2::3] = [0] * (len(ann['keypoints']) // 3)
            else:
                ann['keypoints'][0::3] = [
                    x + 1000 for x in ann['keypoints'][0::3]
                ]

    root = _variant(tiny, tmp_path / 'data', unlabel_or_move_out)
    loss = _loss(zoo.model(name), zoo.batch(name, root))
    assert loss.item() == 0.0, f'{name}: loss {loss.item()}'


@pytest.mark.parametrize('name', OURS)
def test_nan_input_stops_training_naming_the_head(name, zoo, tiny):
    """NaN images (e.g. a data preprocessor with std 0, an overflow upstream)
    must not reach the optimizer:

    NonFiniteError naming the head (RLE-flow: MMPose's RLEHead, our RLEFlowLoss
    names itself).
    """
    with pytest.raises(NonFiniteError, match=OWNER[name]):
        _loss(zoo.model(name), zoo.batch(name, tiny), inputs=_nan)


@pytest.mark.parametrize('name', OURS)
def test_nan_input_stops_testing_naming_the_head(name, zoo, tiny):
    with pytest.raises(NonFiniteError, match=OWNER[name]):
        _predict(
            zoo.model(name),
            zoo.batch(name, tiny, split='test', batch_size=1),
            inputs=_nan)


@pytest.mark.parametrize('name', OURS)
def test_keypoint_count_mismatch_stops_training_naming_it(name, zoo, crowd):
    """A K = 17 config on CrowdPose data (14 keypoints): a ValueError that
    names both counts, not a shape error deep in torch (MMPose's own heads:
    ``RuntimeError: The size of tensor a (17) must match ...``)."""
    with pytest.raises(ValueError, match=r'(?s)(14.*17|17.*14)'):
        _loss(zoo.model(name), zoo.batch(name, crowd, layout='crowdpose'))


@pytest.mark.parametrize(
    'name',
    _heads({
        'rle-flow':
        'MMPose RLEHead.predict (not ours): bare AssertionError in '
        'mmpose/models/utils/tta.py '
        'flip_coordinates; through the runner AnnotationCheckHook stops it '
        'first, naming both counts '
        '(test_keypoint_count_mismatch_through_the_runner_is_an_error_'
        'naming_both)',
    }))
def test_keypoint_count_mismatch_stops_testing_naming_it(name, zoo, crowd):
    with pytest.raises(ValueError, match=r'(?s)(14.*17|17.*14)'):
        _predict(
            zoo.model(name),
            zoo.batch(name, crowd, split='test', layout='crowdpose'))


@pytest.mark.parametrize('name', OURS)
def test_batch_size_one(name, zoo, tiny):
    """One person per batch trains (finite loss) and predicts (finite
    keypoints)."""
    model = zoo.model(name)
    loss = _loss(model, zoo.batch(name, tiny, batch_size=1))
    assert torch.isfinite(loss), f'{name}: loss {loss}'
    (sample, ) = _predict(model,
                          zoo.batch(name, tiny, split='test', batch_size=1))
    assert np.isfinite(sample.pred_instances.keypoints).all()


@pytest.mark.parametrize('name', OURS + ['mmpose-rle'])
def test_keypoint_count_mismatch_through_the_runner_is_an_error_naming_both(
        name, crowd, tmp_path):
    """With AnnotationCheckHook, a K = 17 model tested on 14-keypoint data
    stops before the first batch with both counts, for every head: also those
    that otherwise stop in MMPose's flip test with a bare AssertionError
    (MMPose's RLEHead under RLE-flow, SCAI's heatmap base)."""
    with pytest.raises(
            AnnotationError, match=r'predicts 17 keypoints .* has 14'):
        _test(
            crowd,
            tmp_path,
            name=name,
            layout='crowdpose',
            hooks=('AnnotationCheckHook', ))
