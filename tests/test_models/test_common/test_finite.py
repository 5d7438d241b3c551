import pytest
import torch
from mmengine.logging import MessageHub

from mmpose_ext.models.common import NonFiniteError, check_finite


def test_finite_terms_pass():
    check_finite(
        {
            'loss_a': torch.ones(3),
            'loss_b': torch.tensor(2.0),
            'acc': 0.5,
            'empty': torch.zeros(0)
        }, 'Head')


def test_nan_term_is_named_with_owner_counts_and_iteration():
    # as a runner's RuntimeInfoHook does
    MessageHub.get_current_instance().update_info('iter', 41)
    with pytest.raises(
            NonFiniteError,
            match=
            r'MyHead: non-finite loss at iteration 41: loss_kpt \(1 NaN, 0 '
            r'Inf of 3\)'):
        check_finite(
            {
                'loss_ok': torch.ones(2),
                'loss_kpt': torch.tensor([1.0, float('nan'), 2.0])
            }, 'MyHead')


def test_inf_prediction_is_named():
    with pytest.raises(
            FloatingPointError,
            match=r'non-finite prediction.*scores \(0 NaN, 1 Inf of 2\)'):
        check_finite(
            {
                'keypoints': torch.zeros(2, 2),
                'scores': torch.tensor([0.0, float('inf')])
            },
            'H',
            what='prediction')


def test_large_finite_values_whose_sum_overflows_pass():
    check_finite({'loss': torch.full((4, ), 3e38)}, 'H')


def test_check_head_says_whether_the_features_were_already_non_finite():
    from mmpose_ext.models.common import check_head
    feats = (torch.ones(1, 2, 3, 3), torch.full((1, 2, 2, 2), float('nan')))
    with pytest.raises(
            NonFiniteError, match=r'already non-finite \(maps \[1\] of 2\)'):
        check_head({'keypoints': torch.full((1, 2), float('nan'))}, 'H',
                   'prediction', feats)
    with pytest.raises(NonFiniteError, match='the head itself overflowed'):
        check_head({'keypoints': torch.full((1, 2), float('nan'))}, 'H',
                   'prediction', [feats[0], feats[0]])
