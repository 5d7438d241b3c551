"""What the command-line tools take as pictures, without torch: packaged names,
image folders, and files that cannot be read.

Shared by ``python -m mmpose_ext_runtime`` and
``python -m mmpose_ext.tools.infer``, so both treat the same input the same
way:

- ``mmpose_ext::fixtures/REL`` names the real images and annotation files
  bundled with the package (``mmpose_ext/.mim/data/fixtures/REL``, e.g.
  ``mmpose_ext::fixtures/coco`` and
  ``mmpose_ext::fixtures/coco/test_coco_det_AP_H_56.json``); they are found
  beside this package, where the wheel installs both, without importing
  ``mmpose_ext`` (and torch). Any other text is a path.
- A folder's pictures are its files with an image suffix (as MMPose's
  inferencer chooses them), sorted by name; its other files are listed as
  ignored.
- A picture OpenCV cannot decode (corrupt, truncated, not an image) is
  skipped with a warning that names it; the tools count it in their summary
  and still write the predictions of the others.
- A missing path, a folder without pictures, or pictures none of which can
  be read are an :class:`InputError`: the tools print its one line and exit
  with status 2.
"""
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional, Union

import cv2
import numpy as np

#: Prefix of the bundled data's names: ``mmpose_ext::fixtures/coco``.
FIXTURES_PREFIX = 'mmpose_ext::fixtures'
#: File suffixes read as pictures in a folder.
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


class InputError(ValueError):
    """Bad input to a tool; the message says what and where in one line."""


def fixtures_root() -> Path:
    """The bundled fixtures: ``mmpose_ext/.mim/data/fixtures`` beside this
    package (the wheel installs both packages side by side; in a checkout it is
    a symlink to ``data/fixtures``)."""
    return (Path(__file__).resolve().parent.parent / 'mmpose_ext' / '.mim' /
            'data' / 'fixtures')


def resolve_path(text: Union[str, Path], what: str = 'file') -> Path:
    """``text`` as a path: ``mmpose_ext::fixtures/REL`` → the bundled ``REL``;
    anything else as given.

    Raises :class:`InputError` when it does not exist (``what`` names it in the
    message).
    """
    text = str(text)
    if text.startswith(FIXTURES_PREFIX + '/') or text == FIXTURES_PREFIX:
        path = fixtures_root() / text[len(FIXTURES_PREFIX):].lstrip('/')
        if not path.exists():
            raise InputError(f'{what} not found: {text} (no {path} in the '
                             'installed package)')
        return path
    if '::' in text:
        raise InputError(
            f'{what} {text!r}: the only packaged name for data is '
            f'{FIXTURES_PREFIX}/... (the bundled images and annotations)')
    path = Path(text)
    if not path.exists():
        raise InputError(f'{what} not found: {path}')
    return path


class ImageList(NamedTuple):
    """Pictures to predict and the folder's other files."""
    #: Files to read, sorted by name (one when a file was given).
    images: List[Path]
    #: Files of the folder without an image suffix (not read).
    ignored: List[Path]


def list_images(text: Union[str, Path]) -> ImageList:
    """The pictures of an image file or a folder (see the module docstring).

    Raises :class:`InputError` for a missing path or a folder without pictures.
    """
    path = resolve_path(text, 'image or folder')
    if not path.is_dir():
        return ImageList([path], [])
    files = sorted(p for p in path.iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise InputError(
            f'no images ({", ".join(IMAGE_SUFFIXES)}) in the folder {path}' +
            (f' (it holds {few([p.name for p in files])})'
             if files else ' (it is empty)'))
    return ImageList(images, [p for p in files if p not in images])


def read_image(path: Path) -> Optional[np.ndarray]:
    """The picture as OpenCV decodes it (BGR uint8, EXIF orientation applied,
    as MMPose's loader), or None when it cannot be decoded."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


def warn_skipped(tool: str, path: Path) -> None:
    """The one-line warning of a picture that cannot be read."""
    print(
        f'{tool}: warning: skipped {path}: not a readable image (OpenCV '
        'cannot decode it)',
        file=sys.stderr)


def no_readable_image(images: List[Path]) -> InputError:
    """The error when every picture was skipped."""
    return InputError(f'none of the {len(images)} images could be read '
                      f'({few([str(p) for p in images])})')


def outcome(n_images: int, skipped: List[Path], ignored: List[Path]) -> str:
    """The end of a tool's summary line: what was read, skipped, ignored."""
    text = f'{n_images - len(skipped)} of {n_images} images read'
    if skipped:
        text += (f'; skipped {len(skipped)} unreadable: '
                 f'{few([p.name for p in skipped])}')
    if ignored:
        text += (f'; ignored {len(ignored)} non-image files: '
                 f'{few([p.name for p in ignored])}')
    return text


def few(items: List, n: int = 5) -> str:
    """The first ``n`` items, comma-separated, and how many in all."""
    items = list(items)
    return ', '.join(map(str, items[:n])) + (f', ... ({len(items)} in all)'
                                             if len(items) > n else '')
