"""The attention-map tool: keypoint-token attention maps from a TokenPose-S-v1
(config, random weights) on a bundled COCO image, and the PNG grid it writes
(rows = layers, columns = the K keypoints)."""
import json

import cv2
import numpy as np
import pytest
import torch

from mmpose_ext.tools import tokenpose_attention
from mmpose_ext.visualization import (draw_attention_grid,
                                      keypoint_attention_maps)

CONFIG = 'configs/tokenpose/tokenpose-s-v1_stem_4xb32-300e_coco-256x192.py'


@pytest.fixture(scope='module')
def person(coco_fixtures):
    """The bundled 000000196141.jpg and the xyxy box of one annotated person in
    it."""
    coco = json.loads((coco_fixtures / 'test_coco.json').read_text())
    img = next(im for im in coco['images']
               if im['file_name'] == '000000196141.jpg')
    ann = next(a for a in coco['annotations']
               if a['image_id'] == img['id'] and a['num_keypoints'] > 0)
    x, y, w, h = ann['bbox']
    return str(coco_fixtures / img['file_name']), [x, y, x + w, y + h]


def test_tool_writes_png_grid(tmp_path, repo_root, person):
    image, bbox = person
    out = tokenpose_attention.main([
        str(repo_root / CONFIG), image, '--bbox', *map(str, bbox), '--layers',
        '0', '-1', '--out',
        str(tmp_path / 'attn.png')
    ])
    png = cv2.imread(str(out))
    assert png is not None and out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # 2 layers x 17 COCO keypoints of 256x192 crops
    assert png.shape == (2 * 256, 17 * 192, 3)
    cells = png.reshape(2, 256, 17, 192, 3)
    # cells differ: one map per keypoint
    assert not np.array_equal(cells[0, :, 0], cells[0, :, 1])


def test_maps_are_attention_rows_over_the_patch_grid(repo_root):
    from mmpose.apis import init_model

    model = init_model(str(repo_root / CONFIG), None, device='cpu')
    inputs = torch.randn(1, 3, 256, 192)
    maps, layers = keypoint_attention_maps(model, inputs, layers=[0, -1])
    # 4x3 patches of the 64x48 map
    assert layers == [0, 11] and maps.shape == (2, 17, 16, 16)
    _, weights, _ = model.head.forward_with_attention(
        model.extract_feat(inputs))
    # attention to keypoint tokens
    to_keypoints = weights[11][0].mean(0)[:17, :17].sum(-1).detach().numpy()
    # softmax rows sum to 1
    assert np.allclose(maps[1].sum((1, 2)) + to_keypoints, 1, atol=1e-5)
    assert (maps >= 0).all()


def test_draw_attention_grid_checks_names():
    image = np.zeros((8, 6, 3), dtype=np.uint8)
    grid = draw_attention_grid(image, np.random.rand(2, 3, 4, 3), [0, 1],
                               ['a', 'b', 'c'])
    assert grid.shape == (16, 18, 3) and grid.dtype == np.uint8
    with pytest.raises(ValueError, match='keypoint names'):
        draw_attention_grid(image, np.random.rand(2, 3, 4, 3), [0, 1],
                            ['a', 'b'])
