"""TokenPose's attention and encoder layers against PyTorch's own (same
weights, float64), a float64 gradcheck of the attention, and the position
embedding re-added before every layer."""
import pytest
import torch
from torch import nn

from mmpose_ext.models.tokenpose import (TokenAttention, TokenPoseEncoderLayer,
                                         TokenPoseTransformer)


def _mha_like(attn: TokenAttention, embed_dims: int,
              num_heads: int) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(
        embed_dims, num_heads, batch_first=True).double()
    with torch.no_grad():
        # [q; k; v] rows, heads contiguous in both
        mha.in_proj_weight.copy_(attn.qkv.weight)
        mha.in_proj_bias.copy_(attn.qkv.bias)
        mha.out_proj.weight.copy_(attn.proj.weight)
        mha.out_proj.bias.copy_(attn.proj.bias)
    return mha.eval()


@pytest.mark.parametrize('embed_dims,num_heads,num_tokens', [(12, 3, 7),
                                                             (32, 8, 20)])
def test_attention_matches_torch_multihead_attention(embed_dims, num_heads,
                                                     num_tokens):
    attn = TokenAttention(embed_dims, num_heads, qkv_bias=True).double().eval()
    mha = _mha_like(attn, embed_dims, num_heads)
    x = torch.randn(2, num_tokens, embed_dims, dtype=torch.float64)
    out, weights = attn(x, need_weights=True)
    ref, ref_weights = mha(
        x, x, x, need_weights=True, average_attn_weights=False)
    assert torch.allclose(out, ref, atol=1e-12), (out - ref).abs().max()
    assert torch.allclose(
        weights, ref_weights, atol=1e-12), (weights - ref_weights).abs().max()
    assert torch.allclose(weights.sum(-1), torch.ones_like(weights.sum(-1)))
    assert attn(x)[1] is None


def test_qk_scale_equals_rescaled_query_projection():
    """Official TokenPose-S scales logits by D**-0.5: the same as the standard
    head_dim**-0.5 attention with the query projection multiplied by
    sqrt(head_dim / D)."""
    D, M = 16, 4
    attn = TokenAttention(
        D, M, qkv_bias=True, qk_scale=D**-0.5).double().eval()
    mha = _mha_like(attn, D, M)
    with torch.no_grad():
        factor = (D // M)**0.5 * D**-0.5
        mha.in_proj_weight[:D] *= factor
        mha.in_proj_bias[:D] *= factor
    x = torch.randn(3, 9, D, dtype=torch.float64)
    out, w = attn(x, need_weights=True)
    ref, ref_w = mha(x, x, x, need_weights=True, average_attn_weights=False)
    assert torch.allclose(
        out, ref, atol=1e-12) and torch.allclose(
            w, ref_w, atol=1e-12)


def test_attention_gradcheck():
    attn = TokenAttention(10, 2, qkv_bias=False, qk_scale=0.3).double()
    x = torch.randn(2, 5, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: attn(t, need_weights=True), (x, ), eps=1e-6, atol=1e-6)


def test_encoder_layer_matches_torch_pre_norm_layer():
    D, M, ratio = 24, 4, 3
    layer = TokenPoseEncoderLayer(
        D, M, mlp_ratio=ratio, qkv_bias=True).double().eval()
    ref = nn.TransformerEncoderLayer(
        D,
        M,
        dim_feedforward=D * ratio,
        dropout=0.,
        activation='gelu',
        batch_first=True,
        norm_first=True).double().eval()
    for p in layer.parameters():  # non-trivial LayerNorm/bias values
        nn.init.normal_(p, std=0.3)
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(layer.attn.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(layer.attn.qkv.bias)
        ref.self_attn.out_proj.weight.copy_(layer.attn.proj.weight)
        ref.self_attn.out_proj.bias.copy_(layer.attn.proj.bias)
        ref.linear1.load_state_dict(layer.ffn.layers[0][0].state_dict())
        ref.linear2.load_state_dict(layer.ffn.layers[1].state_dict())
        ref.norm1.load_state_dict(layer.norm1.state_dict())
        ref.norm2.load_state_dict(layer.norm2.state_dict())
    x = torch.randn(2, 11, D, dtype=torch.float64)
    out, _ = layer(x)
    expected = ref(x)
    assert torch.allclose(
        out, expected, atol=1e-10), (out - expected).abs().max()


@pytest.mark.parametrize('pos_every_layer', [True, False])
def test_position_embedding_added_before_layers(pos_every_layer):
    D = 8
    transformer = TokenPoseTransformer(
        depth=3, pos_every_layer=pos_every_layer, embed_dims=D,
        num_heads=2).double().eval()
    x = torch.randn(2, 6, D, dtype=torch.float64)
    pos = torch.randn(1, 6, D, dtype=torch.float64)
    pos[:, :2] = 0  # two keypoint tokens: no position
    out, weights = transformer(x, pos, need_weights=True)

    expected = x
    for i, layer in enumerate(transformer.layers):
        expected = layer(expected +
                         pos if (i == 0 or pos_every_layer) else expected)[0]
    assert torch.allclose(out, expected, atol=1e-12)
    assert len(weights) == 3 and all(w.shape == (2, 2, 6, 6) for w in weights)

    once = x
    for i, layer in enumerate(transformer.layers):
        once = layer(once + pos if i == 0 else once)[0]
    # the flag matters: re-adding changes the result, adding once is the 'sine'
    # mode
    assert torch.allclose(out, once, atol=1e-12) != pos_every_layer
