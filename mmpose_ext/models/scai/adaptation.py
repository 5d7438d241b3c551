"""SCAI's test-time adaptation of the correction network C (Kan et al., CVPR
2023), one instance at a time.

For each instance, starting from C's trained weights, minimise

    J(θ) = e(θ) + μ · ‖H̃_D(θ) − H_D‖,   e(θ) = ‖Γ(H_B, H_C, H̃_D(θ)) − H_A‖,
    H̃_D(θ) = Ĥ_D + C_θ(Ĥ_D, e_s)

over a copy θ of C's parameters for ``steps`` steps (Φ and Γ frozen), and
return, per chain, the output with the lowest self-referential error e among
C's trained weights (step 0) and every step. The first term is the paper's
self-referential error; the second (ours; ``anchor_weight`` μ, 0 = the paper's
objective) keeps H̃_D near the frozen model's own distal heatmap H_D: without
it C can lower Γ's error with a map that is no keypoint heatmap (measured; see
the project README). Whether a result is used at all is decided by the caller
(:class:`~.scai_estimator.SCAIPoseEstimator` keeps it only where its feedback
error is below that of the frozen model's H_D).

The paper gives lr 0.013, decay 0.96 and up to 20 steps, and resets C to its
trained weights "for each test batch" without saying how large a test batch
is. Minimising a batch's mean error with one shared copy made a person's
keypoints depend on whom they were batched with (on the benchmark's model, 24
people each alone and with one batch-mate: moved by 115 px on average, up to
216 px; now 0), so every instance adapts its own copy on its own objective:
the paper's rule at test batch size 1, whatever the batch size used.

The instances are adapted one after the other on tensors of one instance each,
not side by side (e.g. with ``torch.func.vmap`` over stacked copies): the
adaptation amplifies rounding differences — on the benchmark's model, Adam at
lr 0.013 turned a 1e-7 change of C's input into heatmap changes of order 1
within ten steps (measured) — and a convolution over a batch of one rounds
differently from the same instance inside a larger batch. Run one by one, an
instance's adaptation is the same computation whether it came alone or with
batch-mates. Memory: one copy of C and its optimiser state at a time.

``which`` restricts the adaptation to some instances (selective adaptation:
the others get C's trained output at the cost of one forward pass). An
instance whose objective becomes non-finite stops adapting at that step and
keeps its best finite output (``nonfinite`` says so); one whose step-0 output
is already non-finite returns it unchanged, for the caller to fall back.

The optimiser and what is tracked are ours: Adam (the paper trains every
network with Adam) or SGD, the learning rate multiplied by ``decay`` after
every step. C's module is never modified: the adapted weights are copies, so
nothing carries over from one instance or batch to the next and the same
instance always gives the same output.
"""
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .losses import heatmap_error

OPTIMIZERS = {'adam': torch.optim.Adam, 'sgd': torch.optim.SGD}


def adapt_correction(correction: nn.Module,
                     correction_input: Tensor,
                     uncorrected: Tensor,
                     feedback: Callable[[Tensor, int], Tensor],
                     root: Tensor,
                     steps: int = 20,
                     lr: float = 0.013,
                     decay: float = 0.96,
                     optimizer: str = 'adam',
                     norm: str = 'mse',
                     anchor: Optional[Tensor] = None,
                     anchor_weight: float = 0.0,
                     which: Optional[Tensor] = None
                     ) -> Tuple[Tensor, Dict[str, Tensor]]:
    """Adapt a copy of C's parameters to each instance and return the best
    corrected heatmaps.

    Note:
        - instances: B
        - chains: M
        - heatmap size: h, w

    Args:
        correction (nn.Module): C, in eval mode (its BatchNorm uses the trained
            statistics); its parameters and buffers are read, never written.
        correction_input (Tensor): C's input (Ĥ_D and e_s interleaved per
            chain), (B, 2M, h, w).
        uncorrected (Tensor): Ĥ_D, (B, M, h, w).
        feedback (callable): ``feedback(d, i)``: instance i's H̃_D (1, M, h, w)
            → its Γ(H_B, H_C, H̃_D) (1, M, h, w), frozen.
        root (Tensor): H_A from the frozen model, (B, M, h, w).
        steps (int): The optimisation steps; 0 returns C's trained output.
        lr (float): Initial learning rate.
        decay (float): Learning rate factor per step.
        optimizer (str): ``'adam'`` or ``'sgd'``.
        norm (str): Error norm, see :func:`~.losses.heatmap_error`.
        anchor (Tensor, optional): H_D, the frozen model's distal heatmaps
            (B, M, h, w); required when ``anchor_weight`` > 0.
        anchor_weight (float): μ ≥ 0, weight of ``‖H̃_D − H_D‖`` (same norm).
        which (Tensor, optional): (B,) bool, the instances to adapt (None:
            all); the others get C's trained output.

    Returns:
        tuple: the kept corrected heatmaps H̃_D (B, M, h, w) and a dict of
        (B, M) tensors: the self-referential error at C's trained weights
        (``'error_trained'``) and of the kept output (``'error'``), the step
        each kept output comes from (``'step'``, 0 = trained weights), and
        (B,) ``'adapted'`` (the instance went through the optimisation) and
        ``'nonfinite'`` (its objective became non-finite on the way).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError('adapt_correction: optimizer must be one of '
                         f'{sorted(OPTIMIZERS)}, got {optimizer!r}')
    if steps < 0:
        raise ValueError(f'adapt_correction: steps must be ≥ 0, got {steps}')
    if anchor_weight < 0:
        raise ValueError('adapt_correction: anchor_weight must be ≥ 0, got '
                         f'{anchor_weight}')
    if anchor_weight > 0 and anchor is None:
        raise ValueError('adapt_correction: anchor_weight > 0 needs the '
                         'anchor (the frozen model\'s H_D)')
    if correction.training:
        raise RuntimeError(
            'adapt_correction: C must be in eval mode (adaptation starts '
            'from its trained '
            'BatchNorm statistics); call model.eval() before predicting')
    num = correction_input.shape[0]
    if which is None:
        which = torch.ones(num, dtype=torch.bool)
    which = which.detach().cpu().bool()
    if which.shape != (num, ):
        raise ValueError(f'adapt_correction: which must be ({num},), got '
                         f'{tuple(which.shape)}')
    outputs = [
        _adapt_one(
            correction,
            correction_input[i:i + 1].detach(),
            uncorrected[i:i + 1].detach(),
            lambda d, i=i: feedback(d, i),
            root[i:i + 1].detach(),
            steps if bool(which[i]) else 0,
            lr,
            decay,
            OPTIMIZERS[optimizer],
            norm,
            None if anchor is None else anchor[i:i + 1].detach(),
            anchor_weight) for i in range(num)
    ]
    if not outputs:
        empty = uncorrected.new_zeros(uncorrected.shape[:2])
        flags = torch.zeros(0, dtype=torch.bool, device=uncorrected.device)
        return uncorrected.detach(), dict(
            error_trained=empty,
            error=empty,
            step=empty.long(),
            adapted=flags,
            nonfinite=flags)
    best = torch.cat([o[0] for o in outputs])  # (B, M, h, w)
    info = {
        k: torch.cat([o[1][k] for o in outputs])
        for k in ('error_trained', 'error', 'step', 'nonfinite')
    }
    info['adapted'] = (which & (steps > 0)).to(best.device)
    return best, info


def _adapt_one(correction: nn.Module, correction_input: Tensor,
               uncorrected: Tensor, feedback: Callable[[Tensor], Tensor],
               root: Tensor, steps: int, lr: float, decay: float,
               optimizer: type, norm: str, anchor: Optional[Tensor],
               anchor_weight: float) -> Tuple[Tensor, Dict[str, Tensor]]:
    """:func:`adapt_correction` for one instance.

    Tensors (1, …), ``feedback(d)`` on (1, M, h, w).
    """
    # a copy of C's weights: the module itself is never changed (the
    # per-instance reset)
    params = {
        n: p.detach().clone().requires_grad_(steps > 0)
        for n, p in correction.named_parameters()
    }
    buffers = {n: b.detach().clone() for n, b in correction.named_buffers()}
    opt = optimizer(list(params.values()), lr=lr) if steps > 0 else None

    best = best_err = best_step = err0 = None
    nonfinite = torch.zeros(1, dtype=torch.bool, device=uncorrected.device)
    with torch.set_grad_enabled(steps > 0):
        for step in range(steps + 1):
            corrected = uncorrected + functional_call(correction,
                                                      (params, buffers),
                                                      (correction_input, ))
            # (1, M) self-referential error and objective
            err = heatmap_error(feedback(corrected), root, norm)
            obj = err
            if anchor_weight > 0:
                obj = err + anchor_weight * heatmap_error(
                    corrected, anchor, norm)
            if step == 0:
                best, best_err = corrected.detach(), err.detach()
                best_step = torch.zeros_like(best_err, dtype=torch.long)
                err0 = best_err
                if not bool(torch.isfinite(obj).all()):
                    # nothing to adapt from: the caller falls back
                    nonfinite[:] = True
                    break
            else:
                if not bool(torch.isfinite(obj).all()):
                    # diverged: keep the best finite step so far
                    nonfinite[:] = True
                    break
                # (1, M): keep per chain the lowest error so far (the
                # anchor shapes the path, the error picks the step)
                better = err.detach() < best_err
                best = torch.where(better[..., None, None], corrected.detach(),
                                   best)
                best_err = torch.where(better, err.detach(), best_err)
                best_step = torch.where(better,
                                        torch.full_like(best_step,
                                                        step), best_step)
            if step == steps:
                break
            opt.zero_grad()
            obj.mean().backward()
            opt.step()
            for group in opt.param_groups:
                group['lr'] *= decay
    return best, dict(
        error_trained=err0,
        error=best_err,
        step=best_step,
        nonfinite=nonfinite)
