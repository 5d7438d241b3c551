"""SCAI's test-time adaptation of the correction network C (Kan et al., CVPR 2023).

For each test batch, starting from C's trained weights, minimise the self-referential error

    e(θ) = ‖Γ(H_B, H_C, Ĥ_D + C_θ(Ĥ_D, e_s)) − H_A‖

over C's parameters θ (Φ and Γ frozen) for up to N steps, and keep a correction only where it lowered that
error. The paper gives lr 0.013, decay 0.96 and 20 steps; the optimiser and what "keep" compares are ours:
Adam (the paper trains every network with Adam), the learning rate multiplied by ``decay`` after every
step, and per instance and chain the output with the lowest error among the trained weights (step 0) and
every adapted step. C's module is never modified: the adapted weights are copies, so nothing carries over
from one batch to the next and the same batch always gives the same output.
"""
from typing import Callable, Dict, Tuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .losses import heatmap_error

OPTIMIZERS = {'adam': torch.optim.Adam, 'sgd': torch.optim.SGD}


def adapt_correction(correction: nn.Module,
                     correction_input: Tensor,
                     uncorrected: Tensor,
                     feedback: Callable[[Tensor], Tensor],
                     root: Tensor,
                     steps: int = 20,
                     lr: float = 0.013,
                     decay: float = 0.96,
                     optimizer: str = 'adam',
                     norm: str = 'mse') -> Tuple[Tensor, Dict[str, Tensor]]:
    """Adapt copies of C's parameters to one batch and return the best corrected heatmaps.

    Note:
        - instances: B
        - chains: M
        - heatmap size: h, w

    Args:
        correction (nn.Module): C (its parameters and buffers are read, never written).
        correction_input (Tensor): C's input (Ĥ_D and e_s interleaved per chain), (B, 2M, h, w).
        uncorrected (Tensor): Ĥ_D, (B, M, h, w).
        feedback (callable): H̃_D (B, M, h, w) → Γ(H_B, H_C, H̃_D) (B, M, h, w), frozen.
        root (Tensor): H_A from the frozen model, (B, M, h, w).
        steps (int): N, the most optimisation steps; 0 returns C's trained output.
        lr (float): Initial learning rate.
        decay (float): Learning rate factor per step.
        optimizer (str): ``'adam'`` or ``'sgd'``.
        norm (str): Error norm, see :func:`~.losses.heatmap_error`.

    Returns:
        tuple: the kept corrected heatmaps H̃_D (B, M, h, w) and a dict with the self-referential error
        (B, M) at C's trained weights (``'error_trained'``) and of the kept output (``'error'``), and the
        step each kept output comes from (``'step'``, 0 = trained weights).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f'adapt_correction: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}')
    if steps < 0:
        raise ValueError(f'adapt_correction: steps must be ≥ 0, got {steps}')
    correction_input = correction_input.detach()
    uncorrected = uncorrected.detach()
    root = root.detach()
    # copies of C's weights: the module itself is never changed (the per-batch reset)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in correction.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in correction.named_buffers()}
    opt = OPTIMIZERS[optimizer](list(params.values()), lr=lr)

    best = best_err = best_step = err0 = None
    with torch.enable_grad():
        for step in range(steps + 1):
            corrected = uncorrected + functional_call(correction, (params, buffers), (correction_input, ))
            err = heatmap_error(feedback(corrected), root, norm)  # (B, M) self-referential error
            if step == 0:
                best, best_err = corrected.detach(), err.detach()
                best_step = torch.zeros_like(best_err, dtype=torch.long)
                err0 = best_err
            else:
                better = err.detach() < best_err  # (B, M): keep only where the error fell
                best = torch.where(better[..., None, None], corrected.detach(), best)
                best_err = torch.where(better, err.detach(), best_err)
                best_step = torch.where(better, torch.full_like(best_step, step), best_step)
            if step == steps:
                break
            opt.zero_grad()
            err.mean().backward()
            opt.step()
            for group in opt.param_groups:
                group['lr'] *= decay
    return best, dict(error_trained=err0, error=best_err, step=best_step)
