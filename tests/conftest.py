"""Shared fixtures: the repository root, the bundled COCO/CrowdPose fixtures
and their metainfo."""
from pathlib import Path

import pytest
import torch

import mmpose_ext  # noqa: F401  (registers our modules once for every test)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / 'data' / 'fixtures'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope='session')
def coco_fixtures() -> Path:
    return FIXTURES / 'coco'


@pytest.fixture(scope='session')
def crowdpose_fixtures() -> Path:
    return FIXTURES / 'crowdpose'


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope='session')
def _one_intra_op_thread():
    """The models under test are tiny: one intra-op thread is as fast, and on a
    busy 2-core machine two threads contending made some tests 10-40x slower
    (measured).

    Subprocesses are unaffected.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory) -> Path:
    """A few generated COCO-layout images (train 8 / val 4) for the cross-head
    tests of tests/zoo.py."""
    from zoo import make_tiny_dataset
    return make_tiny_dataset(tmp_path_factory.mktemp('tiny_synthetic'))


@pytest.fixture(autouse=True)
def _fresh_message_hub(request):
    """Each test starts with an empty current MessageHub.

    A Runner of an earlier test leaves its own hub current, holding its last
    iteration, which NonFiniteError messages would otherwise quote.
    """
    from mmengine.logging import MessageHub
    name = f'test:{request.node.nodeid}'
    MessageHub.get_instance(name)
    yield
    MessageHub._instance_dict.pop(name, None)
