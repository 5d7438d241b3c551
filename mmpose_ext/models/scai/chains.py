"""Kinematic chains for SCAI (`Self-Correctable and Adaptable Inference`, Kan
et al., CVPR 2023).

SCAI works on chains of four nodes ``A → B → C → D`` from a proximal node ``A``
to a distal keypoint ``D``. The prediction network Φ predicts ``D`` from
``(A, B, C)``; the feedback network Γ predicts ``A`` back from ``(B, C, D)``. A
node is either a keypoint of the dataset or a *virtual node*: a point defined
from several keypoints (the COCO chains start at a virtual neck, the midpoint
of the two shoulders).

This module turns a configuration (keypoint names or indices, virtual nodes)
into index tensors and builds the node heatmaps the networks consume, for any
keypoint set.

Presets:
    - ``'coco'`` (K=17): six chains from a virtual neck (mid-shoulders): neck →
      shoulder → elbow → wrist (×2), neck → hip → knee → ankle (×2), neck →
      nose → eye → ear (×2). Corrected: wrists, ankles, ears.
    - ``'crowdpose'`` (K=14): CrowdPose has a real ``neck`` keypoint, so no
      virtual node: neck → shoulder → elbow → wrist (×2), neck → hip → knee →
      ankle (×2). ``top_head`` starts no 4-node chain and is left as the base
      model predicts it.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from torch import Tensor

Node = Union[str, int]

_LIMBS = [
    ['neck', 'left_shoulder', 'left_elbow', 'left_wrist'],
    ['neck', 'right_shoulder', 'right_elbow', 'right_wrist'],
    ['neck', 'left_hip', 'left_knee', 'left_ankle'],
    ['neck', 'right_hip', 'right_knee', 'right_ankle'],
]

#: name → (chains, virtual nodes, dataset metainfo file naming the keypoints)
PRESETS: Dict[str, dict] = {
    'coco':
    dict(
        chains=_LIMBS + [['neck', 'nose', 'left_eye', 'left_ear'],
                         ['neck', 'nose', 'right_eye', 'right_ear']],
        virtual_nodes=dict(neck=['left_shoulder', 'right_shoulder']),
        dataset_info='configs/_base_/datasets/coco.py'),
    'crowdpose':
    dict(
        chains=_LIMBS,
        virtual_nodes=dict(),
        dataset_info='configs/_base_/datasets/crowdpose.py'),
}

CHAIN_LENGTH = 4
ROOT_MODES = ('gaussian', 'mean')


def keypoint_names_from(dataset_info: Union[str, dict]) -> List[str]:
    """Keypoint names, in id order, of an MMPose dataset metainfo (file path or
    dict)."""
    meta = parse_pose_metainfo(
        dict(from_file=dataset_info) if isinstance(dataset_info, str
                                                   ) else dataset_info)
    return [meta['keypoint_id2name'][i] for i in range(meta['num_keypoints'])]


def heatmap_argmax(heatmaps: Tensor) -> Tensor:
    """Integer (x, y) location of each map's maximum.

    Args:
        heatmaps (Tensor): (..., h, w)

    Returns:
        Tensor: (..., 2) float (x, y) in heatmap pixels.
    """
    h, w = heatmaps.shape[-2:]
    idx = heatmaps.flatten(-2).argmax(-1)  # (...,) index into h*w
    return torch.stack([idx % w, idx // w], dim=-1).to(heatmaps.dtype)


def render_gaussian(centers: Tensor, size: Tuple[int, int],
                    sigma: float) -> Tensor:
    """Unnormalised Gaussian heatmaps (peak 1) like MMPose's ``MSRAHeatmap``
    (without its 3σ cut-off).

    Args:
        centers (Tensor): (..., 2) (x, y) in heatmap pixels.
        size (tuple): (h, w) of the maps.
        sigma (float): Standard deviation in heatmap pixels.

    Returns:
        Tensor: (..., h, w)
    """
    h, w = size
    ys = torch.arange(h, dtype=centers.dtype, device=centers.device)
    xs = torch.arange(w, dtype=centers.dtype, device=centers.device)
    dx = xs - centers[..., 0:1]  # (..., w)
    dy = ys - centers[..., 1:2]  # (..., h)
    # (..., h, w)
    return torch.exp(-(dy.unsqueeze(-1)**2 + dx.unsqueeze(-2)**2) /
                     (2 * sigma**2))


class KinematicChains:
    """The chains SCAI corrects, resolved against a dataset's keypoints.

    Note:
        - instances: B
        - keypoints: K
        - chains: M (each of :data:`CHAIN_LENGTH` = 4 nodes A, B, C, D)
        - virtual nodes: V
        - heatmap size: h, w

    Node heatmaps are the K keypoint heatmaps followed by the V virtual-node
    heatmaps, so node index ``k < K`` is keypoint ``k`` and ``K + v`` is
    virtual node ``v``.

    Args:
        chains (list[list[str | int]]): M chains, each 4 nodes from proximal
            ``A`` to distal ``D``, given by keypoint name, virtual-node name or
            keypoint index. ``D`` must be a keypoint; no two chains may end at
            the same keypoint (each corrected keypoint has one correction).
        keypoint_names (list[str], optional): The K keypoint names in id order;
            required when nodes are named. ``num_keypoints`` is taken from it.
        virtual_nodes (dict[str, list], optional): Name → member keypoints
            (names or indices). Its location is the mean of its members'
            locations; its visibility weight the minimum of theirs.
        num_keypoints (int, optional): K when no names are given.
        root_mode (str): How a virtual node's heatmap is made: ``'gaussian'``
            (default) renders a Gaussian of ``root_sigma`` at the mean of the
            members' heatmap maxima (a single peak, like a keypoint's target);
            ``'mean'`` averages the members' heatmaps (differentiable, but
            multi-modal).
        root_sigma (float): σ of the rendered virtual-node Gaussian, in heatmap
            pixels (MSRAHeatmap's 2).
    """

    def __init__(self,
                 chains: Sequence[Sequence[Node]],
                 keypoint_names: Optional[Sequence[str]] = None,
                 virtual_nodes: Optional[Dict[str, Sequence[Node]]] = None,
                 num_keypoints: Optional[int] = None,
                 root_mode: str = 'gaussian',
                 root_sigma: float = 2.0) -> None:
        if keypoint_names is None and num_keypoints is None:
            raise ValueError(
                'KinematicChains: give keypoint_names or num_keypoints')
        if keypoint_names is not None and num_keypoints is not None and len(
                keypoint_names) != num_keypoints:
            raise ValueError(
                f'KinematicChains: {len(keypoint_names)} keypoint names but '
                f'num_keypoints={num_keypoints}')
        if root_mode not in ROOT_MODES:
            raise ValueError(
                f'KinematicChains: root_mode must be one of {ROOT_MODES}, '
                f'got {root_mode!r}')
        if not chains:
            raise ValueError('KinematicChains: at least one chain is needed')
        self.keypoint_names = list(
            keypoint_names) if keypoint_names is not None else None
        self.num_keypoints = len(
            keypoint_names) if keypoint_names is not None else int(
                num_keypoints)
        self.root_mode = root_mode
        self.root_sigma = float(root_sigma)

        virtual_nodes = dict(virtual_nodes or {})
        self.virtual_names = list(virtual_nodes)
        self.virtual_members = [[self._keypoint_index(m) for m in members]
                                for members in virtual_nodes.values()]
        for name, members in zip(self.virtual_names, self.virtual_members):
            if not members:
                raise ValueError(
                    f'KinematicChains: virtual node {name!r} has no members')
            if name in (self.keypoint_names or []):
                raise ValueError(
                    f'KinematicChains: virtual node {name!r} shadows a '
                    'keypoint name')

        index = []
        for chain in chains:
            if len(chain) != CHAIN_LENGTH:
                raise ValueError(
                    f'KinematicChains: a chain has {CHAIN_LENGTH} nodes (A, '
                    'B, C, D), '
                    f'got {list(chain)}')
            index.append([self._node_index(n) for n in chain])
        # (M, 4) node indices
        self.index = torch.tensor(index, dtype=torch.long)
        distal = self.index[:, 3]
        if (distal >= self.num_keypoints).any():
            raise ValueError(
                'KinematicChains: the distal node D of a chain must be a '
                'keypoint, not a '
                'virtual node')
        if len(set(distal.tolist())) != len(distal):
            raise ValueError(
                'KinematicChains: two chains end at the same keypoint '
                f'({distal.tolist()})')

    @classmethod
    def from_config(cls,
                    cfg: Union[str, dict],
                    num_keypoints: Optional[int] = None) -> 'KinematicChains':
        """Build from a preset name (``'coco'``, ``'crowdpose'``) or a dict of
        this class's arguments, where ``preset`` picks defaults and
        ``dataset_info`` (a metainfo file) may supply the names."""
        cfg = dict(preset=cfg) if isinstance(cfg, str) else dict(cfg)
        preset = cfg.pop('preset', None)
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(
                    f'KinematicChains: unknown preset {preset!r}; known: '
                    f'{sorted(PRESETS)}')
            cfg = {**PRESETS[preset], **cfg}
        dataset_info = cfg.pop('dataset_info', None)
        if dataset_info is not None and 'keypoint_names' not in cfg:
            cfg['keypoint_names'] = keypoint_names_from(dataset_info)
        if 'keypoint_names' not in cfg and 'num_keypoints' not in cfg:
            cfg['num_keypoints'] = num_keypoints
        chains = cls(**cfg)
        if num_keypoints is not None and chains.num_keypoints != num_keypoints:
            raise ValueError('KinematicChains: the chains are defined on '
                             f'{chains.num_keypoints} keypoints '
                             f'but the model predicts {num_keypoints}')
        return chains

    # ----------------------------------------------------------------------------------------------
    def _keypoint_index(self, node: Node) -> int:
        if isinstance(node, int):
            if not 0 <= node < self.num_keypoints:
                raise ValueError(
                    f'KinematicChains: keypoint index {node} outside [0, '
                    f'{self.num_keypoints})')
            return node
        if self.keypoint_names is None or node not in self.keypoint_names:
            raise ValueError(f'KinematicChains: unknown keypoint {node!r}')
        return self.keypoint_names.index(node)

    def _node_index(self, node: Node) -> int:
        if isinstance(node, str) and node in self.virtual_names:
            return self.num_keypoints + self.virtual_names.index(node)
        return self._keypoint_index(node)

    @property
    def num_chains(self) -> int:
        return self.index.shape[0]

    @property
    def distal(self) -> List[int]:
        """Keypoint index of each chain's distal node D (the keypoints SCAI
        corrects), length M."""
        return self.index[:, 3].tolist()

    def __repr__(self) -> str:
        names = (self.keypoint_names
                 or [str(k)
                     for k in range(self.num_keypoints)]) + self.virtual_names
        chains = ', '.join('→'.join(names[i] for i in row)
                           for row in self.index.tolist())
        return (f'KinematicChains(K={self.num_keypoints}, '
                f'M={self.num_chains}: {chains})')

    # ----------------------------------------------------------------------------------------------
    def node_heatmaps(self, heatmaps: Tensor) -> Tensor:
        """Append the virtual nodes' heatmaps to the keypoint heatmaps.

        Args:
            heatmaps (Tensor): (B, K, h, w)

        Returns:
            Tensor: (B, K + V, h, w)
        """
        if heatmaps.shape[1] != self.num_keypoints:
            raise ValueError(
                f'KinematicChains: heatmaps have {heatmaps.shape[1]} '
                'channels, the chains '
                f'are defined on K={self.num_keypoints}')
        virtual = []
        for members in self.virtual_members:
            maps = heatmaps[:, members]  # (B, n, h, w)
            if self.root_mode == 'mean':
                virtual.append(maps.mean(1))
            else:
                # (B, 2) mean of the members' maxima
                center = heatmap_argmax(maps.detach()).mean(1)
                virtual.append(
                    render_gaussian(center, heatmaps.shape[-2:],
                                    self.root_sigma))
        if not virtual:
            return heatmaps
        # (B, K+V, h, w)
        return torch.cat([heatmaps, torch.stack(virtual, 1)], dim=1)

    def node_weights(self, keypoint_weights: Tensor) -> Tensor:
        """Visibility weights of all nodes: a virtual node is as visible as its
        least visible member.

        Args:
            keypoint_weights (Tensor): (B, K)

        Returns:
            Tensor: (B, K + V)
        """
        if not self.virtual_members:
            return keypoint_weights
        # V × (B,)
        virtual = [
            keypoint_weights[:, m].min(1).values for m in self.virtual_members
        ]
        return torch.cat([keypoint_weights, torch.stack(virtual, 1)], dim=1)

    def gather(self, nodes: Tensor, positions: str) -> Tensor:
        """Pick chain nodes by position letters, chain-major.

        Args:
            nodes (Tensor): (B, K + V, ...) node heatmaps or (B, K + V)
                weights.
            positions (str): Letters among ``'ABCD'``, e.g. ``'ABC'`` for Φ's
                input.

        Returns:
            Tensor: (B, M·len(positions), ...), chain m's nodes at
                ``m·len(positions) + j``.
        """
        cols = ['ABCD'.index(p) for p in positions]
        # (M·P,) chain-major
        idx = self.index[:, cols].reshape(-1).to(nodes.device)
        return nodes.index_select(1, idx)
