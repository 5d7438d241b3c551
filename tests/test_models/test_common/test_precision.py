import torch

from mmpose_ext.models.common.precision import at_least_fp32, fp32_region


def test_at_least_fp32_raises_half_types_only():
    for dtype, expected in ((torch.float16, torch.float32),
                            (torch.bfloat16, torch.float32), (torch.float32,
                                                              torch.float32),
                            (torch.float64, torch.float64), (torch.int64,
                                                             torch.int64)):
        assert at_least_fp32(torch.ones(2, dtype=dtype)).dtype == expected
    x = torch.ones(2)
    assert at_least_fp32(x) is x  # no copy when nothing changes


def test_fp32_region_switches_autocast_off():
    a = torch.randn(4, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
        with fp32_region(a.device):
            assert (a @ a).dtype == torch.float32
