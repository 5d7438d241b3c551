"""The ``mmpose_ext`` registry scope: one child of each of MMPose's registries.

MMEngine tags every dict a config inherits from ``mmpose_ext::NAME`` with
``_scope_='mmpose_ext'``. To build such a dict, MMEngine imports
``mmpose_ext.registry`` and looks for the registry node of that scope under
the root of the registry it builds from (``Registry.switch_scope_and_registry``
in ``mmengine/registry/registry.py``); without a node it falls back to the
root, MMEngine's own registry, where MMPose's and our modules are not. This
module gives the scope its nodes, as every OpenMMLab package does
(``mmdet/registry.py``, ``mmyolo/registry.py``), each a child of MMPose's
registry of the same kind.

Our modules stay registered in MMPose's registries (``mmpose.registry``), so
configs whose default scope is ``mmpose`` (``custom_imports =
dict(imports=['mmpose_ext'])``) find them as before. The nodes here hold no
modules of their own: a name looked up in them is found in MMPose's registry
above (MMEngine searches a node, then its parents), which holds MMPose's
modules and ours, and then in MMEngine's. Looking a name up imports the
node's locations first: MMPose's (as its own node does) and ``mmpose_ext``
(which registers our modules), so a config built under this scope needs no
``custom_imports``.
"""
from mmengine.registry import Registry
from mmpose.registry import BATCH_AUGMENTS as MMPOSE_BATCH_AUGMENTS
from mmpose.registry import DATA_SAMPLERS as MMPOSE_DATA_SAMPLERS
from mmpose.registry import DATASETS as MMPOSE_DATASETS
from mmpose.registry import EVALUATORS as MMPOSE_EVALUATORS
from mmpose.registry import HOOKS as MMPOSE_HOOKS
from mmpose.registry import INFERENCERS as MMPOSE_INFERENCERS
from mmpose.registry import KEYPOINT_CODECS as MMPOSE_KEYPOINT_CODECS
from mmpose.registry import LOG_PROCESSORS as MMPOSE_LOG_PROCESSORS
from mmpose.registry import LOOPS as MMPOSE_LOOPS
from mmpose.registry import METRICS as MMPOSE_METRICS
from mmpose.registry import MODEL_WRAPPERS as MMPOSE_MODEL_WRAPPERS
from mmpose.registry import MODELS as MMPOSE_MODELS
from mmpose.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMPOSE_OPTIM_WRAPPER_CONSTRUCTORS
from mmpose.registry import OPTIM_WRAPPERS as MMPOSE_OPTIM_WRAPPERS
from mmpose.registry import OPTIMIZERS as MMPOSE_OPTIMIZERS
from mmpose.registry import PARAM_SCHEDULERS as MMPOSE_PARAM_SCHEDULERS
from mmpose.registry import RUNNER_CONSTRUCTORS as MMPOSE_RUNNER_CONSTRUCTORS
from mmpose.registry import RUNNERS as MMPOSE_RUNNERS
from mmpose.registry import TASK_UTILS as MMPOSE_TASK_UTILS
from mmpose.registry import TRANSFORMS as MMPOSE_TRANSFORMS
from mmpose.registry import VISBACKENDS as MMPOSE_VISBACKENDS
from mmpose.registry import VISUALIZERS as MMPOSE_VISUALIZERS
from mmpose.registry import WEIGHT_INITIALIZERS as MMPOSE_WEIGHT_INITIALIZERS

#: The scope name: ``_scope_`` of dicts inherited from ``mmpose_ext::``.
SCOPE = 'mmpose_ext'


def _child(parent: Registry, *mmpose_locations: str) -> Registry:
    """A node of this scope under ``parent`` (one of MMPose's registries).

    ``mmpose_locations`` are the modules MMPose's own node imports before a
    lookup (``mmpose/registry.py``); ``mmpose_ext`` is imported after them.
    """
    return Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=[*mmpose_locations, SCOPE])


RUNNERS = _child(MMPOSE_RUNNERS)
RUNNER_CONSTRUCTORS = _child(MMPOSE_RUNNER_CONSTRUCTORS)
LOOPS = _child(MMPOSE_LOOPS)
HOOKS = _child(MMPOSE_HOOKS, 'mmpose.engine.hooks')
DATASETS = _child(MMPOSE_DATASETS, 'mmpose.datasets')
DATA_SAMPLERS = _child(MMPOSE_DATA_SAMPLERS, 'mmpose.datasets.samplers')
TRANSFORMS = _child(MMPOSE_TRANSFORMS, 'mmpose.datasets.transforms')
MODELS = _child(MMPOSE_MODELS, 'mmpose.models')
MODEL_WRAPPERS = _child(MMPOSE_MODEL_WRAPPERS, 'mmpose.models')
WEIGHT_INITIALIZERS = _child(MMPOSE_WEIGHT_INITIALIZERS, 'mmpose.models')
BATCH_AUGMENTS = _child(MMPOSE_BATCH_AUGMENTS, 'mmpose.models')
OPTIMIZERS = _child(MMPOSE_OPTIMIZERS, 'mmpose.engine')
OPTIM_WRAPPERS = _child(MMPOSE_OPTIM_WRAPPERS, 'mmpose.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMPOSE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'mmpose.engine.optim_wrappers')
PARAM_SCHEDULERS = _child(MMPOSE_PARAM_SCHEDULERS, 'mmpose.engine.schedulers')
METRICS = _child(MMPOSE_METRICS, 'mmpose.evaluation.metrics')
EVALUATORS = _child(MMPOSE_EVALUATORS, 'mmpose.evaluation.evaluators')
TASK_UTILS = _child(MMPOSE_TASK_UTILS, 'mmpose.models.task_modules')
VISUALIZERS = _child(MMPOSE_VISUALIZERS, 'mmpose.visualization')
VISBACKENDS = _child(MMPOSE_VISBACKENDS, 'mmpose.visualization')
LOG_PROCESSORS = _child(MMPOSE_LOG_PROCESSORS, 'mmpose.visualization')
KEYPOINT_CODECS = _child(MMPOSE_KEYPOINT_CODECS, 'mmpose.codecs')
INFERENCERS = _child(MMPOSE_INFERENCERS, 'mmpose.apis.inferencers')
