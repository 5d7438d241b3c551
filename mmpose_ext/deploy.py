"""ONNX export of a top-down model's inference path (backbone → neck → head.forward) and its check
against onnxruntime.

MMPose heads return tensors from ``forward`` (decoding happens in ``predict``), so the exported graph is
the network itself; decoding (codec) stays in Python/NumPy, as in MMDeploy's SDK.
"""
import warnings
from pathlib import Path
from typing import Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn


class InferencePath(nn.Module):
    """``backbone → neck → head.forward`` of an MMPose ``TopdownPoseEstimator`` as one module (for a model
    without ``extract_feat`` that wraps one, its ``forward(inputs, None, mode='tensor')``).

    ``forward(inputs (B, 3, H, W)) → head outputs`` (a tensor or a tuple of tensors), no data samples,
    no flip test, no decoding: what an exported graph should contain.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor):
        if not hasattr(self.model, 'extract_feat'):
            # a wrapper around a top-down model (e.g. SCAIPoseEstimator): its own tensor mode
            return self.model(inputs, None, mode='tensor')
        feats = self.model.extract_feat(inputs)
        return self.model.head.forward(feats)


def _as_tuple(outputs) -> Tuple[Tensor, ...]:
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs, )


def export_onnx(model: nn.Module,
                path: Union[str, Path],
                input_shape: Sequence[int] = (1, 3, 256, 192),
                opset: int = 17,
                dynamic_batch: bool = True) -> Path:
    """Export ``model``'s inference path to ONNX.

    Args:
        model: An MMPose top-down estimator (anything with ``extract_feat`` and ``head``), in eval mode.
        path: Output ``.onnx`` file.
        input_shape: (B, 3, H, W) of the example input (H, W = the codec's input size, h first).
        opset: ONNX opset (≥ 13).
        dynamic_batch: Export the batch dimension as dynamic.

    Returns:
        Path: the written file.
    """
    if opset < 13:
        raise ValueError(f'opset must be >= 13, got {opset}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = InferencePath(model).eval()
    dummy = torch.randn(*input_shape)
    with torch.no_grad():
        n_out = len(_as_tuple(wrapper(dummy)))
    output_names = [f'output{i}' for i in range(n_out)]
    dynamic_axes = {name: {0: 'batch'} for name in ['input', *output_names]} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # TorchScript-exporter deprecation and tracer warnings
        torch.onnx.export(
            wrapper, (dummy, ), str(path), dynamo=False, opset_version=opset,
            input_names=['input'], output_names=output_names, dynamic_axes=dynamic_axes)
    return path


def check_onnx(model: nn.Module, path: Union[str, Path], inputs: Tensor) -> float:
    """Run the ONNX file with onnxruntime and PyTorch on ``inputs``; return the max absolute difference
    over all outputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    ort_outs = session.run(None, {'input': inputs.numpy()})
    with torch.no_grad():
        torch_outs = _as_tuple(InferencePath(model).eval()(inputs))
    if len(ort_outs) != len(torch_outs):
        raise RuntimeError(f'ONNX graph has {len(ort_outs)} outputs, PyTorch {len(torch_outs)}')
    return max(float(np.abs(o - t.numpy()).max()) for o, t in zip(ort_outs, torch_outs))
