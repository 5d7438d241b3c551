"""The benchmark builds its models from the configs; TokenPose-S-v1 has the
paper's 6.6 M parameters."""
from mmpose_ext.tools.benchmark_tokenpose import MODELS, build


def test_tokenpose_s_v1_has_the_papers_parameter_count():
    model = build(MODELS['s-v1'])
    params = sum(p.numel() for p in model.parameters())
    # paper: 6.6 M (we count 6.62 M)
    assert abs(params / 1e6 - 6.6) < 0.05, params
