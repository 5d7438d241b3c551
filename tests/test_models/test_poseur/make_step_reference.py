"""Write the reference numbers of one Poseur training step and one inference
forward (``step_reference.pt`` next to this file) for
``test_poseur_step_reference.py``.

    python tests/test_models/test_poseur/make_step_reference.py

The stored file was written by the code before the head's speed-ups
(commit acfbf40, whose float32 numbers are those of 31bf218), so the test
checks that the faster code computes the same losses, gradients and
predictions. Rewrite it only when the model's maths
changes on purpose, and say so in the commit.

The head is small (C = 16, 4 heads, 4 levels, 2 points, 3 layers, 3 noisy
groups, K = 5, dropout 0) and runs in float64, so the stored numbers do not
depend on the machine's float32 summation order; they are stored in float32
(ample for a 1e-5 comparison). The head's parameters are drawn from a seeded
generator with a spread that makes every branch matter, not from its
initialisation. The two RealNVP flows' gradients (two thirds of the
parameters, code this issue does not touch) are stored as three numbers per
parameter (:func:`summary`); everything else in full.
"""
from pathlib import Path

import torch

OUT = Path(__file__).with_name('step_reference.pt')

HEAD = dict(
    in_channels=16,
    num_keypoints=5,
    num_levels=4,
    embed_dims=16,
    num_heads=4,
    num_points=2,
    num_decoder_layers=3,
    feedforward_channels=32,
    dropout=0.0,
    noise_cfg=dict(num_groups=3, num_noisy_points=2))
LEVELS = ((12, 9), (6, 5), (3, 3), (2, 2))
BATCH = 3


def build_inputs():
    """The head (float64, parameters from seed 0), features (B, C, h, w) per
    level and the targets, all from fixed seeds."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    from mmpose_ext.models.poseur import PoseurHead

    head = PoseurHead(**HEAD).double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in sorted(head.named_parameters()):
            scale = 0.5 / max(p.shape[-1], 1)**0.5 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    feats = [
        torch.randn(BATCH, 16, h, w, generator=g, dtype=torch.float64)
        for h, w in LEVELS
    ]
    samples = []
    for b in range(BATCH):
        s = PoseDataSample()
        weights = torch.ones(1, 5)
        weights[0, b] = 0  # an invisible keypoint in every sample
        s.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, 5, 2, generator=g) * 0.8 + 0.1,
            keypoint_weights=weights)
        samples.append(s)
    return head, feats, samples


def summary(grad: torch.Tensor) -> torch.Tensor:
    """(3,): sum, L2 norm and a projection on a fixed random direction."""
    g = torch.Generator().manual_seed(grad.numel())
    direction = torch.randn(grad.shape, generator=g, dtype=grad.dtype)
    return torch.stack([grad.sum(), grad.norm(), (grad * direction).sum()])


def run_step(head, feats, samples):
    """Losses, the gradient of their sum for every parameter (flows:

    :func:`summary`) and feature level, the training-mode forward outputs
    (the same noisy groups) and the eval-mode ones, all float64.
    """
    head.train()
    feats = [f.clone().requires_grad_(True) for f in feats]
    torch.manual_seed(1)  # the noisy groups
    head.zero_grad()
    losses = head.loss(feats, samples)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    grads = {
        name: summary(p.grad) if '.flow_model.' in name else p.grad.clone()
        for name, p in head.named_parameters() if p.grad is not None
    }
    feat_grads = [f.grad.clone() for f in feats]
    with torch.no_grad():
        torch.manual_seed(1)
        train_outputs = head([f.detach() for f in feats])
        head.eval()
        outputs = head([f.detach() for f in feats])
    return dict(
        losses={
            k: v.detach().double()
            for k, v in losses.items()
        },
        grads=grads,
        feat_grads=feat_grads,
        train_outputs=list(train_outputs),
        outputs=list(outputs))


def to_float32(tree):
    if isinstance(tree, dict):
        return {k: to_float32(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_float32(v) for v in tree]
    return tree.float()


def main():
    from mmengine.registry import init_default_scope

    import mmpose_ext  # noqa: F401  (registers our modules)

    init_default_scope('mmpose')
    torch.set_num_threads(1)
    ref = run_step(*build_inputs())
    torch.save(to_float32(ref), OUT)
    print(f'wrote {OUT} ({OUT.stat().st_size} bytes): '
          f'{len(ref["grads"])} parameter gradients')


if __name__ == '__main__':
    main()
