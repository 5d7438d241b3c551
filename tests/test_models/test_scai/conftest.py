"""Fixtures of the SCAI tests: the bundled COCO / CrowdPose images as collated
batches."""
import pytest
import torch
from scai_testing import fixture_batch


@pytest.fixture(scope='session')
def coco_batch(coco_fixtures):
    return fixture_batch(coco_fixtures, 'CocoDataset', 'test_coco.json')


@pytest.fixture(scope='session')
def crowdpose_batch(crowdpose_fixtures):
    return fixture_batch(crowdpose_fixtures, 'CrowdPoseDataset',
                         'test_crowdpose.json')


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread for the SCAI tests: on a shared 2-core machine,
    torch's two OpenMP threads spin-wait on each other and made these small
    convolutions ~10-40x slower (measured); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
