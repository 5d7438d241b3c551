"""Draw generated images with their annotated skeletons (MMPose's
PoseLocalVisualizer) into one PNG grid.

Visible keypoints (v = 2) are drawn opaque, occluded ones (v = 1)
half-transparent (the visualizer's ``show_keypoint_weight`` with weight v / 2);
keypoints outside the image (v = 0) are not drawn.
"""
import json
from pathlib import Path

import cv2
import numpy as np


def draw_samples(root,
                 out_file,
                 split: str = 'train',
                 num: int = 6,
                 cols: int = 3,
                 tile: int = 224,
                 layout: str = 'coco',
                 palette_colours: int = 256) -> Path:
    """Save the first ``num`` images of ``root``/``split`` with skeletons and
    boxes as a ``cols``-wide grid of ``tile``-pixel squares; the PNG is
    quantised to ``palette_colours`` colours to stay small."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    from mmpose.visualization import PoseLocalVisualizer
    from PIL import Image

    from .coco_writer import layout_metainfo

    root = Path(root)
    coco = json.loads(
        (root / 'annotations' / f'person_keypoints_{split}.json').read_text())
    by_image = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    vis = PoseLocalVisualizer(
        name=f'synthetic_preview_{id(coco)}',
        radius=2,
        line_width=1,
        show_keypoint_weight=True)
    vis.set_dataset_meta(layout_metainfo(layout))
    tiles = []
    for image in coco['images'][:num]:
        # BGR -> RGB
        img = cv2.imread(str(root / split /
                             image['file_name']))[..., ::-1].copy()
        anns = [
            a for a in by_image.get(image['id'], []) if a['num_keypoints'] > 0
        ]
        # (N, K, 3)
        kpts = np.array([a['keypoints'] for a in anns],
                        np.float32).reshape(len(anns), -1, 3)
        boxes = np.array([a['bbox'] for a in anns], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        sample = PoseDataSample(
            gt_instances=InstanceData(
                keypoints=kpts[..., :2],
                keypoints_visible=kpts[..., 2] / 2,
                bboxes=boxes))
        vis.add_datasample(
            'sample',
            img,
            sample,
            draw_gt=True,
            draw_pred=False,
            draw_bbox=True,
            kpt_thr=0.1,
            show=False)
        drawn = vis.get_image()
        h, w = drawn.shape[:2]
        scale = tile / max(h, w)
        drawn = cv2.resize(
            drawn, (round(w * scale), round(h * scale)),
            interpolation=cv2.INTER_AREA)
        canvas = np.full((tile, tile, 3), 255, np.uint8)
        canvas[:drawn.shape[0], :drawn.shape[1]] = drawn
        tiles.append(canvas)
    while len(tiles) % cols:
        tiles.append(np.full((tile, tile, 3), 255, np.uint8))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    grid = Image.fromarray(np.vstack(rows)).quantize(palette_colours)
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out_file, optimize=True)
    return out_file
