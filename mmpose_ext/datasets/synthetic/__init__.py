"""Synthetic human-keypoint data: rendered figures with COCO (K=17) or
CrowdPose (K=14) annotations.

``body`` poses a figure within joint limits, ``render`` draws figures and reads
off visibility, ``scene`` composes random images, ``coco_writer`` writes COCO-
format datasets. Entry point: ``python -m mmpose_ext.tools.make_synthetic``.
"""
from .body import (KEYPOINTS, Figure, forward_kinematics, sample_figure,
                   sample_pose, sample_proportions)
from .coco_writer import (ensure_dataset, ensure_for_config, generate_dataset,
                          generate_split, layout_metainfo)
from .render import Outfit, Placement, RenderedFigure, render
from .scene import make_image, sample_outfit, sample_scene

__all__ = [
    'KEYPOINTS', 'Figure', 'forward_kinematics', 'sample_figure',
    'sample_pose', 'sample_proportions', 'ensure_dataset', 'ensure_for_config',
    'generate_dataset', 'generate_split', 'layout_metainfo', 'Outfit',
    'Placement', 'RenderedFigure', 'render', 'make_image', 'sample_outfit',
    'sample_scene'
]
