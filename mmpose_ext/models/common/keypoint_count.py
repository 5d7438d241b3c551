"""K, the number of keypoints, for a head: from its config or from the dataset
metainfo MMPose uses (``dict(from_file='configs/_base_/datasets/coco.py')``),
so that no head hard-codes COCO's 17."""
from typing import Optional

from mmpose.datasets.datasets.utils import parse_pose_metainfo


def resolve_num_keypoints(num_keypoints: Optional[int],
                          metainfo: Optional[dict],
                          owner: str = 'head') -> int:
    """K from ``num_keypoints`` or from a dataset ``metainfo``
    (``dict(from_file=...)`` or a parsed one); both given must agree.

    Raises:
        ValueError: neither is given, or they disagree (naming ``owner`` in the
            message).
    """
    from_meta = None
    if metainfo is not None:
        from_meta = int(parse_pose_metainfo(dict(metainfo))['num_keypoints'])
    if num_keypoints is None and from_meta is None:
        raise ValueError(
            f'{owner} needs the number of keypoints or a dataset metainfo, '
            'e.g. '
            "metainfo=dict(from_file='configs/_base_/datasets/coco.py')")
    if num_keypoints is not None and from_meta is not None and int(
            num_keypoints) != from_meta:
        raise ValueError(
            f'{owner}: {num_keypoints} keypoints configured but the '
            f'metainfo has {from_meta}')
    return int(num_keypoints if num_keypoints is not None else from_meta)
