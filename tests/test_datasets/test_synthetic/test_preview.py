"""The README's sample grid: generated images with their skeletons drawn by
MMPose's visualizer."""
import numpy as np
from PIL import Image

from mmpose_ext.datasets.synthetic import generate_split
from mmpose_ext.datasets.synthetic.preview import draw_samples


def test_draw_samples(tmp_path):
    generate_split(
        tmp_path,
        'train',
        2,
        seed=0,
        layout='crowdpose',
        size_range=(96, 128),
        progress=False)
    out = draw_samples(
        tmp_path,
        tmp_path / 'grid.png',
        num=2,
        cols=2,
        tile=64,
        layout='crowdpose')
    grid = np.asarray(Image.open(out).convert('RGB'))
    assert grid.shape == (64, 128, 3)
    assert grid.std() > 10  # images were drawn, not a blank canvas
