"""Stop a step at the first non-finite loss term or prediction, naming the
module, the term and the iteration.

A NaN loss that reaches ``optimizer.step()`` silently destroys the weights; a
NaN prediction silently scores AP 0. Our heads call :func:`check_finite` on
their loss dict at the end of ``loss()`` (before MMEngine's
``OptimWrapper.update_params`` runs the backward and the step) and on their
decoded keypoints and scores in ``predict()``. The check costs one device
synchronisation per call: all terms are reduced into one small tensor first,
and only when that is non-finite are the terms inspected one by one for the
message.
"""
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor


class NonFiniteError(FloatingPointError):
    """A loss term or a prediction holds NaN or Inf (a ``FloatingPointError``,
    as numpy's ``errstate``)."""


def _current_iteration() -> Optional[int]:
    """MMEngine's training iteration, as ``RuntimeInfoHook`` records it in the
    message hub (None outside a runner)."""
    try:
        from mmengine.logging import MessageHub
        return MessageHub.get_current_instance().get_info('iter')
    # the iteration only decorates the message
    except Exception:  # noqa: BLE001
        return None


def check_finite(tensors: Mapping[str, Tensor],
                 owner: str,
                 what: str = 'loss',
                 hint: str = '') -> None:
    """Raise :class:`NonFiniteError` if any tensor in ``tensors`` holds NaN or
    Inf.

    Args:
        tensors: name → tensor (any shape; non-tensor values and empty tensors
            are ignored).
        owner: the module to name in the message, e.g. ``'PoseurHead'``.
        what: what the tensors are, e.g. ``'loss'``, ``'prediction'``,
            ``'input'``, ``'output'`` (a ``'loss'`` message adds that the
            optimizer step is stopped).
        hint: a likely cause to add to the message.

    Raises:
        NonFiniteError: naming ``owner``, every non-finite term with its
            NaN/Inf counts, and the training iteration when a runner is
            running.
    """
    items = [(k, v) for k, v in tensors.items()
             if isinstance(v, Tensor) and v.numel() > 0]
    if not items:
        return
    # one synchronisation: a sum is non-finite iff some element is NaN/Inf (or
    # the sum overflows, which the per-term pass below tells apart)
    total = torch.stack([v.detach().float().sum() for _, v in items])
    if bool(torch.isfinite(total).all()):
        return
    bad = []
    for name, value in items:
        v = value.detach()
        n_nan, n_inf = int(torch.isnan(v).sum()), int(torch.isinf(v).sum())
        if n_nan or n_inf:
            bad.append(f'{name} ({n_nan} NaN, {n_inf} Inf of {v.numel()})')
    # finite elements whose float32 sum overflows: not our business
    if not bad:
        return
    iteration = _current_iteration()
    where = f' at iteration {iteration}' if iteration is not None else ''
    stop = ('; the step is stopped before the optimizer update'
            if what == 'loss' else '')
    msg = f'{owner}: non-finite {what}{where}: {", ".join(bad)}{stop}.'
    if hint:
        msg += f' {hint}'
    raise NonFiniteError(msg)


def _levels(feats) -> list:
    """The tensors in ``feats``, flattened.

    ``feats`` is a tensor, a tuple of levels, or ``[feats, feats_flipped]``.
    """
    if isinstance(feats, Tensor):
        return [feats]
    return [t for item in feats for t in _levels(item)]


def check_head(tensors: Mapping[str, Tensor],
               owner: str,
               what: str,
               feats,
               hint: str = '') -> None:
    """:func:`check_finite` for a head (one device sync).

    When it fails, the message also says whether the features reaching the
    head (``feats``: a tensor, a tuple of levels, or ``[feats,
    feats_flipped]``) were already non-finite (look upstream: images,
    backbone, neck) or the head itself made them so.
    """
    try:
        check_finite(tensors, owner, what, hint)
    except NonFiniteError as err:
        levels = _levels(feats)
        bad = [
            i for i, t in enumerate(levels)
            if not bool(torch.isfinite(t).all())
        ]
        if bad:
            cause = ('the features reaching the head are already non-finite '
                     f'(maps {bad} of {len(levels)}): '
                     'look at the input images, the backbone and the neck')
        else:
            cause = ('the features reaching the head are finite, so the head '
                     'itself overflowed or diverged '
                     '(learning rate, fp16 loss scale, a bad checkpoint)')
        raise NonFiniteError(f'{err} Cause: {cause}.') from None


def check_instances(preds: Sequence, owner: str, feats) -> None:
    """:func:`check_head` on a head's ``predict()`` result.

    The decoded ``keypoints`` (1, K, 2) and ``keypoint_scores`` (1, K) of
    every instance (MMPose's ``InstanceData``, numpy), checked together.
    """
    if not preds:
        return
    # (B, K, 2)
    check_head(
        dict(
            keypoints=torch.from_numpy(
                np.concatenate([p.keypoints for p in preds])),
            keypoint_scores=torch.from_numpy(
                np.concatenate([p.keypoint_scores for p in preds]))), owner,
        'prediction', feats)
