"""Run a pose model exported by ``mmpose_ext.deploy.export_onnx`` with only
NumPy, OpenCV and onnxruntime.

    python -m mmpose_ext_runtime MODEL.onnx IMAGE_OR_DIR
        [--bboxes COCO_JSON] [--out DIR]

The ONNX file carries its own description (``metadata_props`` under
``mmpose_ext.*``: input size, mean/std, crop convention, codec, score rule,
keypoint names and skeleton); see :mod:`mmpose_ext_runtime.core` for the
processing and :mod:`mmpose_ext_runtime.app` for the command line. Importing
this package never imports torch, mmcv, mmengine or mmpose.
"""
from .app import draw, load_boxes, main, run
from .core import PoseModel, decode, get_warp_matrix, instance_score

__all__ = [
    'PoseModel', 'decode', 'draw', 'get_warp_matrix', 'instance_score',
    'load_boxes', 'main', 'run'
]
