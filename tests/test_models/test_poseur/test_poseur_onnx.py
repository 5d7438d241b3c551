"""A small Poseur's inference path exports to ONNX (opset 17) and matches
onnxruntime (≤ 1e-4)."""
import pytest
import torch
from mmpose.registry import MODELS

from mmpose_ext.deploy import check_onnx, export_onnx

pytest.importorskip('onnxruntime')


@pytest.mark.parametrize('K', [17, 14])
def test_poseur_exports_and_matches_onnxruntime(poseur_cfg, tmp_path, K):
    model = MODELS.build(poseur_cfg(num_keypoints=K)).eval()
    path = export_onnx(
        model, tmp_path / 'poseur.onnx', input_shape=(1, 3, 64, 48), opset=17)
    # dynamic batch: check on a different batch size than the exported one
    max_diff = check_onnx(model, path, torch.randn(3, 3, 64, 48))
    assert max_diff <= 1e-4, max_diff
