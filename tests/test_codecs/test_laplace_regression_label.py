import numpy as np
import pytest
import torch
from mmpose.codecs import RegressionLabel
from mmpose.registry import KEYPOINT_CODECS

from mmpose_ext.models.common import LaplaceIntegralScorer


def _codec(**kw):
    return KEYPOINT_CODECS.build(
        dict(type='LaplaceRegressionLabel', input_size=(192, 256), **kw))


def test_round_trip_and_encoding_matches_mmpose():
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 180, size=(2, 17, 2)).astype(np.float32)
    visible = np.ones((2, 17), dtype=np.float32)
    ours, theirs = _codec(), RegressionLabel(input_size=(192, 256))
    enc, enc_ref = ours.encode(keypoints,
                               visible), theirs.encode(keypoints, visible)
    np.testing.assert_array_equal(enc['keypoint_labels'],
                                  enc_ref['keypoint_labels'])
    np.testing.assert_array_equal(enc['keypoint_weights'],
                                  enc_ref['keypoint_weights'])

    sigma = rng.uniform(0.01, 0.3, size=(2, 17, 2)).astype(np.float32)
    decoded, scores = ours.decode(
        np.concatenate([enc['keypoint_labels'], sigma], axis=-1))
    np.testing.assert_allclose(decoded, keypoints, rtol=0, atol=1e-4)
    expected = LaplaceIntegralScorer(
        radius=0.2)(torch.from_numpy(sigma)).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    # and unlike RLE's 1 − mean(σ):
    _, rle_scores = theirs.decode(
        np.concatenate([enc['keypoint_labels'], sigma], axis=-1))
    assert not np.allclose(scores, rle_scores)


def test_scores_by_hand():
    a = 0.2
    # p = 0.5 per axis
    sigma = np.array([[[a / np.log(2), a / np.log(2)]]], dtype=np.float32)
    _, scores = _codec(
        radius=a,
        weight=0.7).decode(np.concatenate([np.zeros((1, 1, 2)), sigma], -1))
    np.testing.assert_allclose(scores, [[0.7 * 0.25]], rtol=1e-6)


def test_needs_sigma():
    with pytest.raises(ValueError, match='needs σ'):
        _codec().decode(np.zeros((1, 17, 2), dtype=np.float32))


def test_decode_of_a_nan_prediction_is_an_error_naming_the_codec():
    """MMPose's RLEHead hands its output to the codec unchecked: NaN must not
    become AP 0 silently."""
    from mmpose_ext.models.common import NonFiniteError
    codec = _codec()
    encoded = np.full((1, 17, 4), 0.5, dtype=np.float32)
    encoded[0, 3, 1] = np.nan
    with pytest.raises(
            NonFiniteError,
            match=r'LaplaceRegressionLabel.decode.*coordinates \(1 NaN'):
        codec.decode(encoded)
