"""Shared fixtures: the repository root, the bundled COCO/CrowdPose fixtures and their metainfo."""
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
