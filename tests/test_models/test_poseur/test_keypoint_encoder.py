"""The keypoint encoder's sine encoding against mmdet's SinePositionalEncoding
(the one the official code uses for feature maps) and hand values; the coarse
stage's normalised-input Linear by hand."""
import math

import torch
from mmdet.models.layers import SinePositionalEncoding

from mmpose_ext.models.poseur import (KeypointEncoder, NormInputLinear,
                                      sine_encode_points)


def test_sine_encoding_matches_mmdet_on_pixel_centres():
    h, w, F = 4, 3, 16
    mmdet_pe = SinePositionalEncoding(
        num_feats=F, normalize=True, offset=-0.5, eps=0.0)
    # (2F, h, w) as [y-part, x-part]
    expected = mmdet_pe(torch.zeros(1, h, w, dtype=torch.bool))[0]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    # (h, w, 2) pixel centres in [0, 1]
    points = torch.stack([(xs + 0.5) / w, (ys + 0.5) / h], -1)
    # (h, w, 2F) as [x-part, y-part]
    ours = sine_encode_points(points, num_feats=F)
    ours = torch.cat([ours[..., F:], ours[..., :F]], -1).permute(2, 0, 1)
    assert torch.allclose(
        ours, expected, atol=1e-5), f'{(ours - expected).abs().max()}'


def test_sine_encoding_hand_values():
    pe = sine_encode_points(
        torch.tensor([[0.25, 0.1]]), num_feats=4, temperature=100.)
    # frequencies 100^(2*(i//2)/4) = 1, 1, 10, 10 → [sin(a), cos(a), sin(a/10),
    # cos(a/10)] per axis
    a, b = 0.25 * 2 * math.pi, 0.1 * 2 * math.pi
    expected = torch.tensor([[
        math.sin(a),
        math.cos(a),
        math.sin(a / 10),
        math.cos(a / 10),
        math.sin(b),
        math.cos(b),
        math.sin(b / 10),
        math.cos(b / 10)
    ]])
    assert torch.allclose(pe, expected, atol=1e-6)


def test_keypoint_encoder_uses_clipped_and_raw_points():
    enc = KeypointEncoder(embed_dims=16)
    inside = torch.tensor([[[0.3, 0.6]]])
    outside = torch.tensor([[[1.4, 0.6]]])
    raw = sine_encode_points(outside, 8)
    clipped = sine_encode_points(outside.clamp(0, 1), 8)
    expected = enc.norm(enc.proj(torch.cat([raw, clipped], -1)))
    assert torch.allclose(enc(outside), expected, atol=1e-6)
    assert enc(inside).shape == (1, 1, 16)


def test_norm_input_linear_by_hand():
    fc = NormInputLinear(3, 2)
    x = torch.tensor([[3.0, 0.0, 4.0]])  # ‖x‖ = 5
    assert torch.allclose(fc(x), x @ fc.weight.t() / 5 + fc.bias, atol=1e-6)
    assert torch.allclose(fc(x * 7), fc(x), atol=1e-6)  # scale-invariant input
