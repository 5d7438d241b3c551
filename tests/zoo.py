"""Every head we ship as a runnable MMEngine config at test scale, for the
cross-head tests (distributed training, mixed precision, batch size 1, bad
input, resume).

The models are the synthetic configs' own (EfficientNet-Lite0 + each method's
neck and head, unchanged); only the data is pointed at a tiny generated
dataset, the schedule at a few iterations, and the ImageNet initialisation is
kept (it is read from the installed wheel, no network). MMPose's own heads ride
along as references: whatever we require of ours, we check whether MMPose's do
it too.
"""
import copy
from pathlib import Path
from typing import Optional

from mmengine.config import Config

from mmpose_ext.benchmark import apply_budget, point_at_dataset
from mmpose_ext.datasets.synthetic.coco_writer import generate_dataset

REPO = Path(__file__).resolve().parents[1]
SYN = REPO / 'configs' / 'synthetic'

# : name → (config, overrides). Overrides are dotted keys as ``--cfg-options``
# takes them.
HEADS = {
    # ours
    'poseur': (SYN / 'poseur_effnet-lite0_synthetic-128x96.py', {}),
    'tokenpose': (SYN / 'tokenpose_effnet-lite0_synthetic-128x96.py', {}),
    'sinecc': (SYN / 'sinecc_effnet-lite0_synthetic-128x96.py', {}),
    'rle-flow':
    (SYN / 'td-reg_rle-flow-laplace_effnet-lite0_synthetic-128x96.py', {}),
    'scai-pg': (SYN / 'scai_td-hm-effnet-lite0_synthetic-128x96.py', {
        'model.base_checkpoint': None
    }),
    'scai-c': (SYN / 'scai_td-hm-effnet-lite0_synthetic-128x96.py', {
        'model.base_checkpoint': None,
        'model.train_cfg.stage': 'correction',
        'find_unused_parameters': False
    }),
    # MMPose's, for reference
    'mmpose-heatmap': (SYN / 'td-hm_effnet-lite0_synthetic-128x96.py', {}),
    'mmpose-simcc': (SYN / 'simcc_effnet-lite0_synthetic-128x96.py', {}),
    'mmpose-rle': (SYN / 'td-reg_rle_effnet-lite0_synthetic-128x96.py', {}),
}
OURS = [name for name in HEADS if not name.startswith('mmpose-')]


def make_tiny_dataset(root,
                      num_train: int = 8,
                      num_val: int = 4,
                      seed: int = 0) -> Path:
    """A few generated COCO-layout images (128-192 px, up to 3 people) under
    ``root``."""
    generate_dataset(
        root,
        num_train,
        num_val,
        seed=seed,
        size_range=(128, 192),
        max_people=3,
        progress=False)
    return Path(root)


def _set(cfg: Config, dotted: str, value) -> None:
    cfg.merge_from_dict({dotted: copy.deepcopy(value)})


def runner_cfg(name: str,
               data_root,
               work_dir,
               iters: int = 2,
               batch_size: int = 2,
               seed: int = 0,
               overrides: Optional[dict] = None) -> Config:
    """The config of head ``name`` training ``iters`` iterations at
    ``batch_size`` on the generated dataset at ``data_root`` (no validation, no
    checkpoints, in-process data loading)."""
    path, own = HEADS[name]
    cfg = Config.fromfile(str(path))
    for key, value in {**own, **(overrides or {})}.items():
        _set(cfg, key, value)
    point_at_dataset(cfg, data_root, workers=0, batch_size=batch_size)
    apply_budget(
        cfg, work_dir, seed=seed, iters=iters, warmup=1, log_interval=1)
    cfg.default_hooks.visualization = dict(
        type='PoseVisualizationHook', enable=False)
    return cfg
