"""Fixtures for the TokenPose tests: fixed batches of the bundled COCO (K=17)
and CrowdPose (K=14) images."""
from pathlib import Path

import pytest
from tokenpose_helpers import load_batch


@pytest.fixture(scope='session')
def fixtures_root(coco_fixtures) -> Path:
    return coco_fixtures.parent


@pytest.fixture(
    scope='session', params=[17, 14], ids=['coco-K17', 'crowdpose-K14'])
def fixture_batch(request, fixtures_root):
    data = load_batch(request.param, fixtures_root)
    data['num_keypoints'] = request.param
    return data
