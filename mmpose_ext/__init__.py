"""mmpose_ext: Poseur, TokenPose, coordinate classification (SimCC/DCC) and SCAI as MMPose 1.x modules.

Importing this package registers every module into MMPose's registries and allow-lists, for
``torch.load(weights_only=True)``, exactly the globals MMEngine's checkpoints hold (see ``checkpoint``).
"""
from . import checkpoint, codecs, datasets, models, visualization  # noqa: F401  (registration happens on import)
from . import evaluation  # noqa: F401  (registers BoxNormalizedPoseMetric and MeanPoseBaseline)
from . import runtime  # noqa: F401  (registers IterationSeedHook)
from .version import __version__

__all__ = ['__version__']
