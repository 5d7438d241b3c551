"""Where the installed package keeps its configs and bundled data.

The configs, the model index and the bundled fixtures are package data under
``mmpose_ext/.mim/`` (where OpenMMLab packages keep theirs): in a wheel they
are files, in the source checkout symlinks to ``configs/``,
``model-index.yml`` and ``data/fixtures``. The tools find them through
:func:`config_path` and :func:`fixtures_dir`, never through the checkout, so a
non-editable install works from any directory. Output folders stay relative
to the caller's working directory.

Importing this module also lets MMEngine resolve ``mmpose_ext::`` names in a
config's ``_base_`` (MMEngine 0.10 accepts only packages it lists).
"""
import importlib.util
from pathlib import Path
from typing import Optional, Union

#: Prefix of a packaged config name: ``mmpose_ext::demo/NAME.py``.
SCOPE = 'mmpose_ext'


def package_root() -> Path:
    """The installed ``mmpose_ext`` package folder."""
    return Path(__file__).resolve().parent


def mim_dir() -> Path:
    """``mmpose_ext/.mim``: configs, ``model-index.yml`` and data."""
    return package_root() / '.mim'


def configs_dir() -> Path:
    """The packaged configs (``mmpose_ext/.mim/configs``)."""
    return mim_dir() / 'configs'


def fixtures_dir(layout: Optional[str] = None) -> Path:
    """The bundled real images and annotations (``coco``, ``crowdpose``)."""
    root = mim_dir() / 'data' / 'fixtures'
    return root / layout if layout else root


def package_configs_dir(package: str) -> Path:
    """``<package>/.mim/configs`` of an installed OpenMMLab package."""
    if package == SCOPE:
        return configs_dir()
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'{package} is not installed')
    return Path(spec.origin).parent / '.mim' / 'configs'


def config_path(name: Union[str, Path]) -> Path:
    """Resolve a config given as a file or by its packaged name.

    Accepted: an existing file (returned as given); ``PACKAGE::REL`` (e.g.
    ``mmpose_ext::demo/x.py``, ``mmpose::body_2d_keypoint/...``); ``REL`` or
    ``configs/REL`` under this package's configs.
    """
    text = str(name)
    if '::' in text:
        package, _, rel = text.partition('::')
        path = package_configs_dir(package) / rel
    elif Path(text).is_file():
        return Path(text)
    else:
        rel = text[len('configs/'):] if text.startswith('configs/') else text
        path = configs_dir() / rel
    if not path.is_file():
        raise FileNotFoundError(
            f'config {text!r} is neither a file nor a packaged config '
            f'(looked for {path})')
    return path


def register_mmengine_scope() -> None:
    """Let MMEngine read ``mmpose_ext::REL`` in ``_base_``."""
    try:
        from mmengine.config.utils import MODULE2PACKAGE
    except ImportError:  # pragma: no cover - MMEngine moved it
        return
    MODULE2PACKAGE.setdefault(SCOPE, SCOPE)


register_mmengine_scope()
