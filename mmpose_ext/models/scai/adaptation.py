"""SCAI's test-time adaptation of the correction network C (Kan et al., CVPR
2023), one instance at a time.

For each instance, starting from C's trained weights, minimise the
self-referential error

    e(θ) = mean over the M chains of ‖Γ(H_B, H_C, Ĥ_D + C_θ(Ĥ_D, e_s)) − H_A‖

over a copy θ of C's parameters for up to N steps (Φ and Γ frozen), and keep a
correction only where it lowered that error. The paper gives lr 0.013, decay
0.96 and 20 steps, and resets C to its trained weights "for each test batch"
without saying how large a test batch is. Minimising a batch's mean error with
one shared copy made a person's keypoints depend on whom they were batched with
(on the benchmark's model, 24 people each alone and with one batch-mate: moved
by 115 px on average, up to 216 px; now 0), so every instance adapts its own
copy on its own error: the paper's rule at test batch size 1, whatever the
batch size used.

The instances are adapted one after the other on tensors of one instance each,
not side by side (e.g. with ``torch.func.vmap`` over stacked copies): the
adaptation amplifies rounding differences enormously — on the benchmark's
model, Adam at lr 0.013 turns a 1e-7 change of C's input into heatmap changes
of order 1 within ten steps (measured) — and a convolution over a batch of one
rounds differently from the same instance inside a larger batch. Run one by
one, an instance's adaptation is the same computation whether it came alone or
with batch-mates. Cost on the CPU: about 1.4× that of adapting the batch with
one shared copy (measured on the benchmark's SCAI, test batch 32, 20 steps, one
thread: 13-15 s of CPU time shared, 17-22 s one by one, where the mean
self-referential error also falls further, 1.3e-3 → 1.0e-3); memory: one copy
of C and its Adam state at a time. On a GPU the loop of small kernels will cost
relatively more.

The optimiser and what "keep" compares are ours: Adam (the paper trains every
network with Adam), the learning rate multiplied by ``decay`` after every step,
and per chain the output with the lowest error among the trained weights (step
0) and every adapted step. C's module is never modified: the adapted weights
are copies, so nothing carries over from one instance or batch to the next and
the same instance always gives the same output.
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
                     feedback: Callable[[Tensor, int], Tensor],
                     root: Tensor,
                     steps: int = 20,
                     lr: float = 0.013,
                     decay: float = 0.96,
                     optimizer: str = 'adam',
                     norm: str = 'mse') -> Tuple[Tensor, Dict[str, Tensor]]:
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
        steps (int): N, the most optimisation steps; 0 returns C's trained
            output.
        lr (float): Initial learning rate.
        decay (float): Learning rate factor per step.
        optimizer (str): ``'adam'`` or ``'sgd'``.
        norm (str): Error norm, see :func:`~.losses.heatmap_error`.

    Returns:
        tuple: the kept corrected heatmaps H̃_D (B, M, h, w) and a dict with
            the self-referential error
        (B, M) at C's trained weights (``'error_trained'``) and of the kept
        output (``'error'``), and the step each kept output comes from
        (``'step'``, 0 = trained weights).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError('adapt_correction: optimizer must be one of '
                         f'{sorted(OPTIMIZERS)}, got {optimizer!r}')
    if steps < 0:
        raise ValueError(f'adapt_correction: steps must be ≥ 0, got {steps}')
    if correction.training:
        raise RuntimeError(
            'adapt_correction: C must be in eval mode (adaptation starts '
            'from its trained '
            'BatchNorm statistics); call model.eval() before predicting')
    outputs = [
        _adapt_one(
            correction,
            correction_input[i:i + 1].detach(),
            uncorrected[i:i + 1].detach(),
            lambda d, i=i: feedback(d, i),
            root[i:i + 1].detach(),
            steps,
            lr,
            decay,
            OPTIMIZERS[optimizer],
            norm) for i in range(correction_input.shape[0])
    ]
    if not outputs:
        empty = uncorrected.new_zeros(uncorrected.shape[:2])
        return uncorrected.detach(), dict(
            error_trained=empty, error=empty, step=empty.long())
    best = torch.cat([o[0] for o in outputs])  # (B, M, h, w)
    return best, {
        k: torch.cat([o[1][k] for o in outputs])
        for k in ('error_trained', 'error', 'step')
    }


def _adapt_one(correction: nn.Module, correction_input: Tensor,
               uncorrected: Tensor, feedback: Callable[[Tensor], Tensor],
               root: Tensor, steps: int, lr: float, decay: float,
               optimizer: type, norm: str) -> Tuple[Tensor, Dict[str, Tensor]]:
    """:func:`adapt_correction` for one instance.

    Tensors (1, …), ``feedback(d)`` on (1, M, h, w).
    """
    # a copy of C's weights: the module itself is never changed (the
    # per-instance reset)
    params = {
        n: p.detach().clone().requires_grad_(True)
        for n, p in correction.named_parameters()
    }
    buffers = {n: b.detach().clone() for n, b in correction.named_buffers()}
    opt = optimizer(list(params.values()), lr=lr)

    best = best_err = best_step = err0 = None
    with torch.enable_grad():
        for step in range(steps + 1):
            corrected = uncorrected + functional_call(correction,
                                                      (params, buffers),
                                                      (correction_input, ))
            # (1, M) self-referential error
            err = heatmap_error(feedback(corrected), root, norm)
            if step == 0:
                best, best_err = corrected.detach(), err.detach()
                best_step = torch.zeros_like(best_err, dtype=torch.long)
                err0 = best_err
            else:
                # (1, M): keep only where the error fell
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
            err.mean().backward()
            opt.step()
            for group in opt.param_groups:
                group['lr'] *= decay
    return best, dict(error_trained=err0, error=best_err, step=best_step)
