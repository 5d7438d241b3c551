"""Our RTMO-t/s/m/l configs (``RTMOSineCCHead``) against MMPose 1.3.2's RTMO
configs of the same size.

The reference is MMPose's own config, loaded from the installed package (RTMO-t
exists in MMPose only as a body7 config,
``rtmo/body7/rtmo-t_8xb32-600e_body7-416x416.py``; s/m/l are the COCO ones).
For each size:

- the numbers that make the size (deepen/widen factors, channels, input size,
  batch) are those of the table below, in MMPose's config and in ours, and
  everything outside the head is MMPose's config unchanged;
- the head differs only in its type, its MLE loss (``CoordMLELoss`` for
  ``MLECCLoss``), ``num_dets`` and where K comes from (the dataset metainfo; no
  literal 17 in our config);
- parameter counts: backbone and neck equal, and the head difference is zero
  (our ``DynamicCoordinateClassifier`` has MMPose's ``DCC`` parameter names and
  shapes; neither MLE loss has parameters), so the whole state dicts have the
  same keys and shapes and the totals are equal.

Models are built without pretrained init (no hub here) and not run
(tests/test_configs.py runs them).
"""
import ast
import io
import tokenize
from pathlib import Path

import mmpose
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import MODELS

REPO = Path(__file__).resolve().parents[3]
OURS = REPO / 'configs' / 'coord_cls'
MMPOSE_CONFIGS = Path(mmpose.__file__).parent / '.mim' / 'configs'
RTMO = 'body_2d_keypoint/rtmo'

# size: (our config, MMPose's config, deepen, widen, backbone out channels =
# neck in_channels,
#        projector out = pose-vector = DCC in channels, input size, images per
#        GPU, total parameters)
VARIANTS = {
    't': ('rtmo-t-sinecc_cspdarknet_8xb32-600e_body7-416x416.py',
          f'{RTMO}/body7/rtmo-t_8xb32-600e_body7-416x416.py', 0.33, 0.375,
          [96, 192, 384], 192, (416, 416), 32, 6_829_875),
    's': ('rtmo-s-sinecc_cspdarknet_8xb32-600e_coco-640x640.py',
          f'{RTMO}/coco/rtmo-s_8xb32-600e_coco-640x640.py', 0.33, 0.5,
          [128, 256, 512], 256, (640, 640), 32, 9_868_899),
    'm': ('rtmo-m-sinecc_cspdarknet_16xb16-600e_coco-640x640.py',
          f'{RTMO}/coco/rtmo-m_16xb16-600e_coco-640x640.py', 0.67, 0.75,
          [192, 384, 768], 384, (640, 640), 16, 22_526_307),
    'l': ('rtmo-l-sinecc_cspdarknet_16xb16-600e_coco-640x640.py',
          f'{RTMO}/coco/rtmo-l_16xb16-600e_coco-640x640.py', 1.0, 1.0,
          [256, 512, 1024], 512, (640, 640), 16, 44_693_315),
}
# the only head keys ours sets differently from MMPose's RTMOHead config
HEAD_DIFF = {'type', 'loss_mle', 'num_dets'}


def _load(size):
    ours, ref = VARIANTS[size][:2]
    return Config.fromfile(str(OURS / ours)), Config.fromfile(
        str(MMPOSE_CONFIGS / ref))


def _plain(x):
    """A config value without the ``_scope_`` keys that MMEngine adds to dicts
    inherited through ``mmpose::`` (MMPose's config loaded directly has
    none)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k != '_scope_'}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _num_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _build(cfg):
    # no hub reachable; init is irrelevant to counting
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('size', list(VARIANTS))
def test_inherits_mmposes_config_of_the_same_size(size):
    ours, ref = VARIANTS[size][:2]
    text = (OURS / ours).read_text()
    # the module-level ``_base_`` assignment, however it is line-wrapped
    bases = [
        ast.literal_eval(node.value) for node in ast.parse(text).body
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets)
    ]
    assert bases == [[f'mmpose::{ref}']]
    assert text.startswith(
        '# RTMO-'), 'the header comment names the source and what differs'


@pytest.mark.parametrize('size', list(VARIANTS))
def test_widths_and_depths_equal_mmposes(size):
    _, _, deepen, widen, channels, proj, input_size, batch, _ = VARIANTS[size]
    ours, ref = _load(size)
    # the reference numbers hold in MMPose's config and in ours
    for cfg in (ours, ref):
        m = cfg.model
        assert (m.backbone.deepen_factor, m.backbone.widen_factor) == (deepen,
                                                                       widen)
        assert (m.neck.deepen_factor, m.neck.widen_factor) == (deepen, widen)
        assert m.neck.in_channels == channels
        assert m.neck.projector.out_channels == proj
        assert m.head.head_module_cfg.pose_vec_channels == proj
        assert m.head.dcc_cfg.in_channels == proj
        assert m.head.head_module_cfg.widen_factor == widen
        assert tuple(cfg.codec.input_size) == input_size
        assert tuple(m.test_cfg.input_size) == input_size
        assert cfg.train_dataloader.batch_size == batch
    # everything outside the head is MMPose's, unchanged
    for key in ('backbone', 'neck', 'data_preprocessor', 'train_cfg',
                'test_cfg', 'init_cfg'):
        assert _plain(ours.model.get(key)) == _plain(ref.model.get(key)), key
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler',
                'auto_scale_lr', 'custom_hooks', 'train_dataloader',
                'val_dataloader', 'val_evaluator', 'codec'):
        assert _plain(ours[key]) == _plain(ref[key]), key
    # the head: MMPose's module, assigner, DCC config and other losses; ours
    # differs in HEAD_DIFF only
    oh, rh = _plain(ours.model.head), _plain(ref.model.head)
    assert {k
            for k in set(oh) | set(rh) if oh.get(k) != rh.get(k)} == HEAD_DIFF
    assert (oh['type'], rh['type']) == ('RTMOSineCCHead', 'RTMOHead')
    assert (oh['loss_mle']['type'], rh['loss_mle']['type']) == ('CoordMLELoss',
                                                                'MLECCLoss')
    assert oh['loss_mle']['loss_weight'] == rh['loss_mle']['loss_weight']


@pytest.mark.parametrize('size', list(VARIANTS))
def test_num_keypoints_from_the_metainfo(size):
    ours, ref = _load(size)
    # the file MMPose's OKS loss and SimOTA assigner read
    assert ours.metafile == ref.metafile
    k = parse_pose_metainfo(dict(from_file=ours.metafile))['num_keypoints']
    assert ours.model.head.num_keypoints == k == ref.model.head.num_keypoints
    code = [
        t.string for t in tokenize.generate_tokens(
            io.StringIO((OURS / VARIANTS[size][0]).read_text()).readline)
        if t.type == tokenize.NUMBER
    ]
    assert '17' not in code, 'K must come from the metainfo, not a literal'


@pytest.mark.parametrize('size', list(VARIANTS))
def test_parameter_count_differs_from_mmposes_by_the_head_only(size):
    init_default_scope('mmpose')
    expected_total = VARIANTS[size][-1]
    ours_cfg, ref_cfg = _load(size)
    ours, ref = _build(ours_cfg), _build(ref_cfg)
    assert type(ours.head).__name__ == 'RTMOSineCCHead' and type(
        ref.head).__name__ == 'RTMOHead'
    assert _num_params(ours.backbone) == _num_params(ref.backbone)
    assert _num_params(ours.neck) == _num_params(ref.neck)
    head_diff = _num_params(ours.head) - _num_params(ref.head)
    # our DCC mirrors MMPose's DCC; CoordMLELoss and MLECCLoss have no
    # parameters
    assert head_diff == 0
    assert _num_params(ours) - _num_params(ref) == head_diff
    assert _num_params(ours) == expected_total
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert {
        k: v.shape
        for k, v in ours_sd.items()
    } == {
        k: v.shape
        for k, v in ref_sd.items()
    }
