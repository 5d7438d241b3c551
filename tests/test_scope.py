"""The ``mmpose_ext`` registry scope: dicts tagged ``_scope_='mmpose_ext'``
(what MMEngine gives every dict a config inherits from ``mmpose_ext::NAME``)
build our modules and MMPose's from MMEngine's root registries, as the Runner
builds them, without MMEngine's fallback warnings."""
import logging
from pathlib import Path

import pytest
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.registry import (HOOKS, METRICS, MODELS, TRANSFORMS, Registry,
                               init_default_scope)
from mmpose import registry as mmpose_registry
from mmpose.registry import KEYPOINT_CODECS

from mmpose_ext import registry

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'


@pytest.fixture
def mmengine_log():
    """Warnings of MMEngine's current logger while the test runs."""
    records = []

    class Keep(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def _scoped(cfg) -> Config:
    """``cfg`` as a config inheriting it from ``mmpose_ext::`` holds it: every
    dict with a ``type`` tagged with the scope (MMEngine's own function)."""
    return Config._dict_to_config_dict(ConfigDict(cfg), scope='mmpose_ext')


def test_every_mmpose_registry_has_a_node_of_the_scope():
    nodes = {
        name: value
        for name, value in vars(mmpose_registry).items()
        if isinstance(value, Registry) and value.scope == 'mmpose'
    }
    assert len(nodes) == 23
    for name, parent in nodes.items():
        child = getattr(registry, name)
        assert child.scope == 'mmpose_ext' and child.parent is parent, name
        assert parent._get_root_registry()._search_child(
            'mmpose_ext') is child, name
        assert not child.module_dict, name  # ours stay in MMPose's registry


def test_scoped_dicts_build_ours_and_mmposes(mmengine_log):
    init_default_scope('mmpose')
    hook = HOOKS.build(_scoped(dict(type='IterationSeedHook')))
    assert type(hook).__name__ == 'IterationSeedHook'
    assert type(HOOKS.build(_scoped(dict(
        type='StrictCheckpointHook')))).__name__ == 'StrictCheckpointHook'
    assert type(METRICS.build(_scoped(dict(
        type='BoxNormalizedPoseMetric')))).__name__ == (
            'BoxNormalizedPoseMetric')
    assert type(METRICS.build(_scoped(dict(
        type='CocoMetric')))).__name__ == 'CocoMetric'
    assert type(TRANSFORMS.build(_scoped(dict(
        type='EllipseCutout')))).__name__ == 'EllipseCutout'
    assert type(TRANSFORMS.build(_scoped(dict(
        type='LoadImage')))).__name__ == 'LoadImage'
    codec = dict(type='LaplaceRegressionLabel', input_size=(192, 256))
    assert type(KEYPOINT_CODECS.build(
        _scoped(codec))).__name__ == 'LaplaceRegressionLabel'
    assert not [
        m for m in mmengine_log if 'Failed' in m or 'not installed' in m
    ], mmengine_log


@pytest.mark.parametrize('name', [
    'demo/poseur_res18_fixtures-256x192.py',
    'demo/td-reg_res18_rle-flow-laplace_fixtures-256x192.py'
])
def test_a_scoped_model_builds_its_nested_modules(name, mmengine_log):
    """The whole model dict tagged (nested backbones, heads, losses, codecs are
    built under the scope)."""
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.backbone.init_cfg = None  # no download
    model = MODELS.build(_scoped(cfg.model.to_dict()))
    reference = MODELS.build(cfg.model)
    assert isinstance(model.head, type(reference.head))
    assert model.state_dict().keys() == reference.state_dict().keys()
    assert not [
        m for m in mmengine_log if 'Failed' in m or 'not installed' in m
    ], mmengine_log
