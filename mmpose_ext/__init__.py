"""mmpose_ext: Poseur, TokenPose, coordinate classification (SimCC/DCC) and
SCAI as MMPose 1.x modules.

Importing this package registers every module into MMPose's registries and
allow-lists, for ``torch.load(weights_only=True)``, exactly the globals
MMEngine's checkpoints hold (see ``checkpoint``).
"""
# Importing the submodules registers their modules into MMPose's registries
# (evaluation: BoxNormalizedPoseMetric and MeanPoseBaseline; runtime:
# IterationSeedHook; resources: the ``mmpose_ext::`` names in ``_base_``;
# registry: the ``mmpose_ext`` scope that dicts inherited from them carry).
from . import (checkpoint, codecs, datasets, evaluation, models, registry,
               resources, runtime, visualization)
from .version import __version__

__all__ = ['__version__']
