"""A small TokenPose exports to ONNX (opset 13 and 17, dynamic batch) and
onnxruntime matches PyTorch."""
import onnx
import pytest
import torch
from tokenpose_helpers import build_small_model

from mmpose_ext.deploy import check_onnx, export_onnx


@pytest.mark.parametrize('opset', [13, 17])
def test_tokenpose_onnx_matches_onnxruntime(tmp_path, opset):
    model = build_small_model(17).eval()
    path = export_onnx(
        model,
        tmp_path / 'tokenpose.onnx',
        input_shape=(1, 3, 64, 48),
        opset=opset)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert max(
        o.version for o in graph.opset_import
        if o.domain in ('', 'ai.onnx')) == opset
    # standard ops only
    assert all(n.domain in ('', 'ai.onnx') for n in graph.graph.node)
    inputs = torch.randn(3, 3, 64, 48)  # another batch size than the export's
    assert check_onnx(model, path, inputs) <= 1e-4
