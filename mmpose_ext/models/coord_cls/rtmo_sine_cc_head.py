"""One-stage (RTMO-style) head whose keypoints come from our
``DynamicCoordinateClassifier``.

`RTMO: Towards High-Performance One-Stage Real-Time Multi-Person Pose
Estimation` (Lu et al., CVPR 2024): a YOLOX-Pose detector (per-grid-point class
score, box, keypoint offsets, visibilities, SimOTA assignment) whose per-point
pose vector is decoded by a dynamic coordinate classifier (DCC) with
sine-encoded bins over the predicted box, trained with a Laplace MLE loss.

Built by composition on MMPose 1.3.2's ``RTMOHead``: its head module
(``RTMOHeadModule``), prior generator, SimOTA assigner,
box/OKS/visibility/classification losses and target generation are MMPose's;
the DCC is our ``DynamicCoordinateClassifier`` and the MLE loss our
``CoordMLELoss`` (passed as ``dcc_cfg`` / ``loss_mle``; MMPose's own DCC is
never built). A state dict of an MMPose ``RTMOHead`` loads as is (same
parameter names). MMPose's ``RTMOModeSwitchHook`` keys (``proxy_target_cc``,
``loss_mle.loss_weight``, ``loss_oks.loss_weight``) work unchanged.

``forward`` is the exportable inference path: the ``num_dets`` highest-scoring
grid points per image (a fixed top-k, no score threshold and no NMS inside the
graph: apply both to its outputs), their boxes, scores, DCC keypoints and
keypoint scores. ``predict`` is MMPose's RTMO decoding (score threshold,
``nms_pre`` top-k, box NMS, DCC on the kept points). RTMO has no flip test;
neither has this head.

Under autocast (AMP) the head module's convs and the DCC's keypoint-feature
layers run in the autocast dtype; their outputs are taken to float32 before
box/keypoint decoding, SimOTA assignment, the losses and the DCC's code product
(in bfloat16 a 160 px coordinate is rounded by up to 0.5 px). A non-finite head
output or loss term raises :class:`~mmpose_ext.models.common.NonFiniteError`
naming this head before the assignment (in training: before the optimizer
update), and so does a non-finite prediction.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.utils import reduce_mean
from mmengine.structures import InstanceData
from mmpose.evaluation.functional import nms_torch
from mmpose.models.heads.hybrid_heads.rtmo_head import RTMOHead
from mmpose.models.utils import filter_scores_and_topk
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, Features, OptSampleList,
                                 Predictions)
from torch import Tensor

from ..common.finite import check_head
from ..common.precision import at_least_fp32


@MODELS.register_module()
class RTMOSineCCHead(RTMOHead):
    """RTMO one-stage head with our DCC (``DynamicCoordinateClassifier``) and
    MLE loss (``CoordMLELoss``).

    Note:
        - images: B
        - grid points (priors, all levels): P
        - detections kept by ``forward``: D = min(``num_dets``, P) (P when
          ``num_dets`` is None)
        - keypoints: K
        - pose-vector channels: C

    Args:
        num_keypoints (int): K.
        head_module_cfg (dict): MMPose ``RTMOHeadModule`` config (as
            ``RTMOHead``).
        dcc_cfg (dict): ``DynamicCoordinateClassifier`` arguments
            (``num_keypoints`` and ``bbox_padding`` are set from this head).
            MMPose's RTMO ``dcc_cfg`` keys are accepted as they are.
        loss_mle (dict): The MLE loss config. Defaults to ``CoordMLELoss``.
        bbox_padding (float): Boxes are expanded by it before the DCC places
            its bins. Defaults to 1.25.
        num_dets (int, optional): D, detections returned by ``forward`` (the
            exported graph). Defaults to 100. None keeps every grid point (D =
            P), so that a graph with threshold and NMS after it keeps the same
            people as :meth:`predict`, which also considers every point above
            its threshold.
        **kwargs: Everything else of MMPose's ``RTMOHead`` (featmap_strides,
            assigner, prior_generator, overlaps_power, proxy_target_cc,
            loss_cls, loss_bbox, loss_oks, loss_vis, loss_bbox_aux, ...).
    """

    def __init__(self,
                 num_keypoints: int,
                 head_module_cfg: ConfigType,
                 dcc_cfg: ConfigType,
                 loss_mle: ConfigType = dict(type='CoordMLELoss'),
                 bbox_padding: float = 1.25,
                 num_dets: Optional[int] = 100,
                 **kwargs) -> None:
        if num_keypoints < 1:
            raise ValueError(
                f'num_keypoints must be >= 1, got {num_keypoints}')
        if num_dets is not None and num_dets < 1:
            raise ValueError(f'num_dets must be >= 1 or None, got {num_dets}')
        # MMPose's DCC and MLE loss are not built (None); ours take their
        # attribute names below
        super().__init__(
            num_keypoints=num_keypoints,
            head_module_cfg=copy.deepcopy(head_module_cfg),
            bbox_padding=bbox_padding,
            dcc_cfg=None,
            loss_mle=None,
            **kwargs)
        self.dcc = MODELS.build(
            dict(
                dcc_cfg,
                type='DynamicCoordinateClassifier',
                num_keypoints=num_keypoints,
                bbox_padding=bbox_padding))
        self.loss_mle = MODELS.build(loss_mle)
        self.num_dets = None if num_dets is None else int(num_dets)

    # ------------------------------------------------------------------ shared
    # pieces
    def _priors(self, cls_scores: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """Grid points (P, 2) and their strides (P,) for the feature-map sizes
        of ``cls_scores`` (at least float32)."""
        featmap_sizes = [s.shape[2:] for s in cls_scores]
        dtype = torch.promote_types(cls_scores[0].dtype, torch.float32)
        mlvl = self.prior_generator.grid_priors(
            featmap_sizes,
            dtype=dtype,
            device=cls_scores[0].device,
            with_stride=True)
        priors = torch.cat(mlvl)  # (P, 4): x, y, stride_x, stride_y
        return priors[:, :2], priors[:, 2]

    def _flat_outputs(self, feats: Features) -> Dict[str, Tensor]:
        """Head module outputs flattened over levels, sigmoid scores, decoded
        boxes.

        Returns:
            dict: scores (B, P, num_classes), bboxes (B, P, 4) xyxy, kpt_vis
                (B, P, K) in [0, 1],
            pose_vecs (B, P, C), priors (P, 2), strides (P,).
        """
        cls_scores, bbox_preds, _, kpt_vis, pose_vecs = self.head_module(feats)
        priors, strides = self._priors(cls_scores)

        # levels of (B, X, H, W) → (B, P, X), at least float32
        def flat(t: List[Tensor]) -> Tensor:
            return at_least_fp32(self._flatten_predictions(t))

        return dict(
            scores=flat(cls_scores).sigmoid(),  # (B, P, num_classes)
            # (B, P, 4)
            bboxes=self.decode_bbox(flat(bbox_preds), priors, strides),
            kpt_vis=flat(kpt_vis).sigmoid(),  # (B, P, K)
            pose_vecs=flat(pose_vecs),  # (B, P, C)
            priors=priors,
            strides=strides)

    # ------------------------------------------------------------------
    # inference graph
    def forward(self,
                feats: Features) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The exportable inference path: top ``num_dets`` grid points per
        image, decoded.

        No score threshold and no NMS (apply them to the outputs); boxes are
        not clipped to the image.

        Args:
            feats (tuple[Tensor]): Multi-level features, one (B, C_l, H_l, W_l)
                per stride.

        Returns:
            tuple: boxes (B, D, 4) xyxy in input pixels, scores (B, D)
                (descending), keypoints (B, D, K, 2)
            and keypoint scores (B, D, K).
        """
        out = self._flat_outputs(feats)
        B, P, _ = out['bboxes'].shape
        scores = out['scores'].max(dim=-1).values  # (B, P): best class
        D = P if self.num_dets is None else min(self.num_dets, P)
        scores, idx = scores.topk(D, dim=1)  # (B, D)

        def take(t: Tensor) -> Tensor:  # (B, P, X) → (B, D, X)
            return t.gather(1, idx.unsqueeze(-1).expand(-1, -1, t.size(-1)))

        bboxes, kpt_vis, pose_vecs = take(out['bboxes']), take(
            out['kpt_vis']), take(out['pose_vecs'])
        grids = out['priors'][idx.flatten()]  # (B*D, 2)
        # (B*D, K, 2)
        _, _, keypoints, _ = self.dcc(
            pose_vecs.flatten(0, 1), bboxes.flatten(0, 1), grids)
        # (B, D, K, 2)
        keypoints = keypoints.reshape(B, D, self.num_keypoints, 2)
        return bboxes, scores, keypoints, kpt_vis

    # ------------------------------------------------------------------
    # training
    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """RTMO's losses (MMPose's ``RTMOHead.loss``) with our DCC and MLE
        loss.

        Returns:
            dict: loss_bbox, loss_vis, loss_mle (if its weight > 0), loss_oks,
                loss_cls (when there are
            positive points; else loss_cls only), plus MMPose's non-loss
            entries num_samples and overlaps.
        """
        for data_sample in batch_data_samples:
            kpts = data_sample.gt_instance_labels.get('keypoints', None)
            if kpts is not None and kpts.dim() == 3 and kpts.size(
                    1) != self.num_keypoints:
                raise ValueError(
                    f'RTMOSineCCHead: built for {self.num_keypoints} '
                    'keypoints, the data has '
                    f'{kpts.size(1)} (set num_keypoints from the dataset '
                    'metainfo)')
        owner = type(self).__name__
        (cls_scores, bbox_preds, kpt_offsets, kpt_vis,
         pose_vecs) = self.head_module(feats)
        # decoding, assignment and losses in (at least) float32 under autocast
        # (B, P, num_classes)
        flatten_cls_scores = at_least_fp32(
            self._flatten_predictions(cls_scores))
        # (B, P, 4)
        flatten_bbox_preds = at_least_fp32(
            self._flatten_predictions(bbox_preds))
        # (B, P, K*2)
        flatten_kpt_offsets = at_least_fp32(
            self._flatten_predictions(kpt_offsets))
        # (B, P, K)
        flatten_kpt_vis = at_least_fp32(self._flatten_predictions(kpt_vis))
        # (B, P, C)
        flatten_pose_vecs = at_least_fp32(self._flatten_predictions(pose_vecs))
        # a NaN would otherwise reach SimOTA's cost matrix (an obscure error
        # there) or the losses
        check_head(
            dict(
                cls_scores=flatten_cls_scores,
                bbox_preds=flatten_bbox_preds,
                kpt_offsets=flatten_kpt_offsets,
                kpt_vis=flatten_kpt_vis,
                pose_vecs=flatten_pose_vecs),
            owner,
            'output',
            feats,
            hint='The step is stopped before the assignment, the losses and '
            'the '
            'optimizer update.')
        featmap_sizes = [s.shape[2:] for s in cls_scores]
        flatten_priors = torch.cat(
            self.prior_generator.grid_priors(
                featmap_sizes,
                dtype=flatten_cls_scores.dtype,
                device=cls_scores[0].device,
                with_stride=True))  # (P, 4)
        # RTMO has no objectness branch: a constant logit 1e4 (sigmoid = 1), as
        # MMPose
        flatten_objectness = torch.ones_like(
            flatten_cls_scores).detach().narrow(-1, 0, 1) * 1e4
        flatten_bbox_decoded = self.decode_bbox(flatten_bbox_preds,
                                                flatten_priors[..., :2],
                                                flatten_priors[..., -1])
        flatten_kpt_decoded = self.decode_kpt_reg(flatten_kpt_offsets,
                                                  flatten_priors[..., :2],
                                                  flatten_priors[..., -1])

        (pos_masks, cls_targets, obj_targets, obj_weights, bbox_targets,
         bbox_aux_targets, kpt_targets, _, vis_targets, vis_weights, pos_areas,
         pos_priors, _,
         num_fg_imgs) = self._get_targets(flatten_priors,
                                          flatten_cls_scores.detach(),
                                          flatten_objectness.detach(),
                                          flatten_bbox_decoded.detach(),
                                          flatten_kpt_decoded.detach(),
                                          flatten_kpt_vis.detach(),
                                          batch_data_samples)

        num_pos = torch.tensor(
            sum(num_fg_imgs),
            dtype=torch.float,
            device=flatten_cls_scores.device)
        num_total_samples = max(reduce_mean(num_pos), 1.0)
        extra_info = dict(num_samples=num_total_samples)
        losses = dict()
        # (B*P, num_classes)
        cls_preds_all = flatten_cls_scores.view(-1, self.num_classes)

        if num_pos > 0:
            # (N, 4) positives
            bbox_preds = flatten_bbox_decoded.view(-1, 4)[pos_masks]
            losses['loss_bbox'] = self.loss_bbox(
                bbox_preds, bbox_targets) / num_total_samples
            if self.use_aux_loss and hasattr(self, 'loss_bbox_aux'):
                # (N, 4)
                bbox_preds_raw = flatten_bbox_preds.view(-1, 4)[pos_masks]
                losses['loss_bbox_aux'] = self.loss_bbox_aux(
                    bbox_preds_raw, bbox_aux_targets) / num_total_samples

            # (N, K)
            kpt_vis_preds = flatten_kpt_vis.view(-1,
                                                 self.num_keypoints)[pos_masks]
            losses['loss_vis'] = self.loss_vis(kpt_vis_preds, vis_targets,
                                               vis_weights)

            # (N, K, 2)
            kpt_reg_preds = flatten_kpt_decoded.view(-1, self.num_keypoints,
                                                     2)[pos_masks]
            kpt_cc_preds = None
            if self.loss_mle.loss_weight > 0 or self.proxy_target_cc:
                # (N, C)
                pos_vecs = flatten_pose_vecs.view(
                    -1, flatten_pose_vecs.size(-1))[pos_masks]
                # bins over the (not detached) predicted boxes, encoded
                # relative to the grid point
                x_logits, y_logits, kpt_cc_preds, sigmas = self.dcc(
                    pos_vecs, bbox_preds, pos_priors[..., :2])
                if self.loss_mle.loss_weight > 0:
                    x_bins, y_bins = self.dcc.bin_coords(bbox_preds)
                    losses['loss_mle'] = self.loss_mle(x_logits, y_logits,
                                                       x_bins, y_bins, sigmas,
                                                       kpt_targets,
                                                       vis_targets, pos_areas)

            if self.proxy_target_cc:
                # regression targets from the coordinate classifier where it is
                # closer to the annotation
                with torch.no_grad():
                    diff_cc = torch.norm(kpt_cc_preds - kpt_targets, dim=-1)
                    diff_reg = torch.norm(kpt_reg_preds - kpt_targets, dim=-1)
                    kpt_weights_reg = vis_targets * (diff_reg
                                                     > diff_cc).float()
                    cls_targets = self.assigner.oks_calculator(
                        kpt_cc_preds, kpt_targets, vis_targets,
                        pos_areas).unsqueeze(1)
                losses['loss_oks'] = self.loss_oks(kpt_reg_preds,
                                                   kpt_cc_preds.detach(),
                                                   kpt_weights_reg, pos_areas)
            else:
                losses['loss_oks'] = self.loss_oks(kpt_reg_preds, kpt_targets,
                                                   vis_targets, pos_areas)

            # positives' classification target: the OKS of their prediction
            # with the assigned instance
            extra_info['overlaps'] = cls_targets
            cls_targets = cls_targets.pow(self.overlaps_power).detach()
            obj_targets[pos_masks] = cls_targets.to(obj_targets)

        losses['loss_cls'] = self.loss_cls(cls_preds_all, obj_targets,
                                           obj_weights) / num_total_samples
        check_head(losses, owner, 'loss', feats)
        losses.update(extra_info)
        return losses

    # ------------------------------------------------------------------
    # prediction
    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """MMPose's RTMO decoding.

        Per image, score threshold (``score_thr``, default 0.01), top
        ``nms_pre``, box NMS (``nms_thr``, default 1.0 = none), then the DCC on
        the kept points; boxes clipped to ``input_size`` afterwards.

        Returns:
            list[InstanceData]: per image, scores, labels, bboxes, bbox_scores,
            keypoints (n, K, 2), keypoint_scores and keypoints_visible (n, K),
            as NumPy arrays.
        """
        owner = type(self).__name__
        cfg = copy.deepcopy(test_cfg)
        out = self._flat_outputs(feats)
        # before the score threshold, which would drop NaN scores silently
        check_head(
            {k: out[k]
             for k in ('scores', 'bboxes', 'kpt_vis', 'pose_vecs')}, owner,
            'prediction', feats)
        results_list = []
        for i, data_sample in enumerate(batch_data_samples):
            bboxes, kpt_vis, pose_vecs = out['bboxes'][i], out['kpt_vis'][
                i], out['pose_vecs'][i]
            scores, labels = out['scores'][i].max(1, keepdim=True)  # (P, 1)
            scores, _, keep, results = filter_scores_and_topk(
                scores,
                cfg.get('score_thr', 0.01),
                cfg.get('nms_pre', 100000),
                results=dict(labels=labels[:, 0]))
            labels = results['labels']
            bboxes, kpt_vis, pose_vecs = bboxes[keep], kpt_vis[
                keep], pose_vecs[keep]
            grids = out['priors'][keep]
            if bboxes.numel() > 0:
                nms_thr = cfg.get('nms_thr', 1.0)
                if nms_thr < 1.0:
                    keep = nms_torch(bboxes, scores, nms_thr)
                    bboxes, labels, kpt_vis, scores = bboxes[keep], labels[
                        keep], kpt_vis[keep], scores[keep]
                    pose_vecs, grids = pose_vecs[keep], grids[keep]
                keypoints = self.dcc(pose_vecs, bboxes, grids)[2]  # (n, K, 2)
            else:
                keypoints = bboxes.new_zeros((0, self.num_keypoints, 2))
            results = InstanceData(
                scores=scores,
                labels=labels,
                bboxes=bboxes,
                bbox_scores=scores,
                keypoints=keypoints,
                keypoint_scores=kpt_vis,
                keypoints_visible=kpt_vis)
            input_size = data_sample.metainfo['input_size']
            results.bboxes[:, 0::2].clamp_(0, input_size[0])
            results.bboxes[:, 1::2].clamp_(0, input_size[1])
            results_list.append(results)
        check_head(
            dict(keypoints=torch.cat([r.keypoints for r in results_list])),
            owner, 'prediction', feats)
        return [r.numpy() for r in results_list]

    def switch_to_deploy(self, test_cfg: Optional[Dict] = None) -> None:
        """Nothing to precompute: ``forward`` is already the exportable path
        (MMPose's ``RTMOHead`` caches priors here for its own deploy mode; this
        head computes them from the feature sizes)."""
