"""The coordinate-classification heads' non-finite guard: :func:`~mmpose_ext.models.common.check_finite`,
whose message on failure also says where to look (the features reaching the head, or the head itself)."""
from typing import Mapping, Sequence, Union

import torch
from torch import Tensor

from ..common.finite import NonFiniteError, check_finite

Feats = Union[Tensor, Sequence]


def _levels(feats: Feats) -> list:
    """The tensors in ``feats`` (a tensor, a tuple of levels, or ``[feats, feats_flipped]``), flattened."""
    if isinstance(feats, Tensor):
        return [feats]
    return [t for item in feats for t in _levels(item)]


def check_head(tensors: Mapping[str, Tensor], owner: str, what: str, feats: Feats, hint: str = '') -> None:
    """:func:`check_finite` (one device sync); when it fails, the message adds whether the features reaching
    the head were already non-finite (look upstream: images, backbone) or the head made them so."""
    try:
        check_finite(tensors, owner, what, hint)
    except NonFiniteError as err:
        levels = _levels(feats)
        bad = [i for i, t in enumerate(levels) if not bool(torch.isfinite(t).all())]
        if bad:
            cause = (f'The features reaching the head are already non-finite (maps {bad} of {len(levels)}): '
                     'look at the input images and the backbone.')
        else:
            cause = ('The features reaching the head are finite: the head itself overflowed or diverged '
                     '(learning rate, loss scale, a bad checkpoint).')
        raise NonFiniteError(f'{err} {cause}') from None
