"""Run a pose model exported by ``mmpose_ext.deploy.export_onnx`` with only
NumPy, OpenCV and onnxruntime.

    python -m mmpose_ext_runtime MODEL.onnx IMAGES
        [--bboxes COCO_JSON] [--out DIR] [--bbox-thr 0.3] [--nms-thr 0.3]
        [--kpt-thr 0.3] [--det-cat-id 1] [--no-draw] [--threads N]

The ONNX file carries its own description (``metadata_props`` under
``mmpose_ext.*``: input size, mean/std, crop convention, codec, score rule,
keypoint names and skeleton); see :mod:`mmpose_ext_runtime.core` for the
processing, :mod:`mmpose_ext_runtime.app` for the command line,
:mod:`mmpose_ext_runtime.inputs` for what it reads and
:mod:`mmpose_ext_runtime.boxes` for the detections it keeps. Importing
this package never imports torch, mmcv, mmengine or mmpose.
"""
from .app import cli, draw, load_boxes, main, run
from .boxes import box_nms, select_detections
from .core import PoseModel, decode, get_warp_matrix, instance_score
from .inputs import InputError, list_images, read_image, resolve_path

__all__ = [
    'InputError', 'PoseModel', 'box_nms', 'cli', 'decode', 'draw',
    'get_warp_matrix', 'instance_score', 'list_images', 'load_boxes', 'main',
    'read_image', 'resolve_path', 'run', 'select_detections'
]
