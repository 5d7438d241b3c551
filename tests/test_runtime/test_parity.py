"""mmpose_ext_runtime (numpy + OpenCV + onnxruntime) on an exported model
equals MMPose's ``inference_topdown`` on the bundled real images (the 12
annotated people of ``data/fixtures/coco``), for every exportable top-down
head, with the raw graph (decoded in numpy from the metadata) and the decoded
graph; and the one-stage head's decoded graph (threshold + ONNX
NonMaxSuppression) equals its ``predict``, and the runtime on it MMPose's
``inference_bottomup``.

Models are tiny and random: parity needs no training, but the keypoints must
not be degenerate (all equal) for it to mean anything.
"""
import warnings

import numpy as np
import pytest
import torch

import mmpose_ext_runtime as rt
from mmpose_ext.deploy import decodable_in_graph, export_onnx, read_metadata
from ._models import (ANN, FIXTURES, TOPDOWN, reference, rtmo_model,
                      scai_model, topdown_model)

pytest.importorskip('onnxruntime')
# the brief's tolerance; measured differences are ~1e-4 px (float32 rounding of
# ORT vs torch)
PX = 0.5
# IoU threshold of the one-stage tests: the random boxes overlap little, 0.65
# would drop none
NMS = 0.2
FILES = sorted(FIXTURES.glob('*.jpg'))


def _compare(model, path, refs):
    """(max keypoint |Δ| px, max score |Δ|) of the runtime on ``path`` vs
    ``refs``; checks non-degeneracy."""
    run = rt.run(rt.PoseModel(str(path), threads=1), FILES, ANN, None)
    assert len(run['results']) == 12 and {
        r['image_id']
        for r in run['results']
    } == {785, 40083, 196141, 197388}
    px, sc, distinct = 0.0, 0.0, []
    for item in run['images']:
        ref_k, ref_s = refs[item['file']]
        assert item['keypoints'].shape == ref_k.shape
        px = max(px, float(np.abs(item['keypoints'] - ref_k).max()))
        sc = max(sc, float(np.abs(item['keypoint_scores'] - ref_s).max()))
        distinct.append(ref_k.reshape(-1, 2))
    # not degenerate: most of the 12 x 17 keypoints sit at distinct places (a
    # random model may still give a person one place for all its keypoints, as
    # TokenPose here for 2 of 12 people)
    distinct = np.unique(np.round(np.concatenate(distinct), 1), axis=0)
    assert len(distinct) >= 0.5 * 12 * 17, len(distinct)
    return px, sc


@pytest.mark.parametrize('name', [*TOPDOWN, 'scai'])
def test_runtime_equals_inference_topdown(name, tmp_path):
    """SCAI: its corrected heatmaps without test-time adaptation (the
    adaptation is not in any graph)."""
    model, cfg = scai_model() if name == 'scai' else topdown_model(name)
    w, h = cfg.codec.input_size
    refs = reference(model, FILES)
    crops = []
    for decode in (False, True):
        path = export_onnx(
            model,
            tmp_path / f'{name}_{decode}.onnx', (1, 3, h, w),
            decode=decode)
        meta = read_metadata(path)
        assert meta['model']['decoded'] is decode and decodable_in_graph(model)
        px, sc = _compare(model, path, refs)
        print(f'{name} {"decoded" if decode else "raw"}: max |keypoint delta| '
              f'{px:.2e} px, score {sc:.1e}')
        assert px <= PX and sc <= 1e-4, (px, sc)
        # the decoded graph's own outputs: crop pixels, people differ
        if decode:
            crops = rt.PoseModel(str(path), threads=1)
            sample = crops.crop(
                __import__('cv2').imread(str(FILES[2])),
                np.array([100, 50, 300, 400], np.float32))[0]
            k, _ = crops.session.run(None,
                                     {'input': crops.normalise([sample])})
            assert k.shape == (1, 17, 2) and np.isfinite(k).all()


def test_dark_heatmaps(tmp_path):
    """DARK (MSRAHeatmap unbiased): decoded in the graph with decode=True, in
    numpy/OpenCV by the runtime from a raw graph.

    The runtime's numpy DARK equals MMPose's codec exactly on the same
    heatmaps; end to end against ``inference_topdown`` both agree except where
    DARK's Newton step is ill-conditioned: on a random model's flat heatmaps
    the float32 rounding difference of onnxruntime vs PyTorch (~1e-6) moves 1-3
    of the 204 keypoints by 3-4 px (measured), so the end-to-end bound is on 97
    % of them (the in-graph DARK on well-conditioned maps:
    :func:`test_in_graph_dark_equals_mmpose_codec`).
    """
    import cv2

    model, cfg = topdown_model('heatmap', unbiased=True, blur_kernel_size=11)
    w, h = cfg.codec.input_size
    assert decodable_in_graph(model)
    refs = reference(model, FILES)
    for decode in (False, True):
        path = export_onnx(
            model,
            tmp_path / f'dark_{decode}.onnx', (1, 3, h, w),
            decode=decode)
        meta = read_metadata(path)
        assert meta['model']['decoded'] is decode and meta['codec'][
            'unbiased'] is True
        pm = rt.PoseModel(str(path), threads=1)
        if not decode:
            image = cv2.imread(str(FILES[2]))
            for box in ([100, 50, 300, 400], [0, 0, 640,
                                              480], [350, 100, 420, 300]):
                crop = pm.crop(image, np.array(box, np.float32))[0]
                heatmaps = pm.session.run(None,
                                          {'input': pm.normalise([crop])})[0]
                ours, our_scores = rt.decode([heatmaps], pm.meta)
                ref, ref_scores = model.head.decoder.decode(heatmaps[0])
                np.testing.assert_array_equal(ours, ref)
                np.testing.assert_array_equal(our_scores, ref_scores)
        run = rt.run(pm, FILES, ANN, None)
        delta = np.concatenate([
            np.abs(i['keypoints'] - refs[i['file']][0]).max(-1).ravel()
            for i in run['images']
        ])
        print(f'heatmap DARK {"decoded" if decode else "raw"}: '
              f'{np.mean(delta <= PX):.3f} of keypoints within '
              f'{PX} px, max {delta.max():.2f} px')
        assert np.mean(delta <= PX) >= 0.97


def _rtmo_predict(model, x, thr, nms):
    from mmpose.structures import PoseDataSample
    samples = [
        PoseDataSample(metainfo=dict(input_size=(160, 160)))
        for _ in range(len(x))
    ]
    with torch.no_grad():
        return model.head.predict(
            model.extract_feat(x), samples, dict(score_thr=thr, nms_thr=nms))


def test_rtmo_decoded_graph_equals_predict(tmp_path):
    """Score threshold + ONNX NonMaxSuppression in the graph: the same kept
    instances, in the same order, as MMPose's RTMO ``predict`` (threshold, NMS,
    DCC on the kept points, boxes clipped), batch of two."""
    import onnxruntime as ort

    model = rtmo_model()
    x = torch.rand(2, 3, 160, 160) * 255
    with torch.no_grad():
        scores = model.head(model.extract_feat(x))[1]
    # half the grid points pass: NMS has work to do
    thr = float(np.quantile(scores.numpy(), 0.5))
    path = export_onnx(
        model,
        tmp_path / 'rtmo.onnx', (1, 3, 160, 160),
        decode=True,
        score_thr=thr,
        nms_thr=NMS)
    meta = read_metadata(path)
    assert meta['model']['kind'] == 'bottomup' and meta['postprocess'][
        'in_graph'] is True
    assert meta['postprocess']['score_thr'] == pytest.approx(
        thr) and meta['postprocess']['nms_thr'] == NMS
    batch, boxes, kept_scores, kpts, kpt_scores = ort.InferenceSession(
        str(path),
        providers=['CPUExecutionProvider']).run(None, {'input': x.numpy()})
    preds = _rtmo_predict(model, x, thr, NMS)
    total = 0
    for i, pred in enumerate(preds):
        m = batch == i
        # NMS dropped some
        assert m.sum() == len(
            pred.scores) and 0 < len(pred.scores) < (scores[i] > thr).sum()
        total += len(pred.scores)
        np.testing.assert_allclose(kept_scores[m], pred.scores, atol=1e-5)
        np.testing.assert_allclose(boxes[m], pred.bboxes, atol=1e-3)
        np.testing.assert_allclose(kpts[m], pred.keypoints, atol=1e-2)
        np.testing.assert_allclose(
            kpt_scores[m], pred.keypoint_scores, atol=1e-5)
    assert len(batch) == total


def test_runtime_equals_inference_bottomup(tmp_path):
    """The runtime's BottomupResize + mapping back, on the decoded graph and on
    the raw top-k graph (threshold and NMS in numpy), equals MMPose's
    ``inference_bottomup`` on the real images."""
    from mmpose.apis import inference_bottomup

    model = rtmo_model(score_thr=0.02, nms_thr=NMS)
    refs = {
        f: inference_bottomup(model, str(f))[0].pred_instances
        for f in FILES
    }
    import cv2
    for decode in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            pm = rt.PoseModel(
                str(
                    export_onnx(
                        model,
                        tmp_path / f'rtmo_{decode}.onnx', (1, 3, 160, 160),
                        decode=decode)),
                threads=1)
        n = 0
        for f, ref in refs.items():
            pred = pm.predict(cv2.imread(str(f)))
            assert len(pred['keypoints']) == len(ref.keypoints)
            n += len(ref.keypoints)
            np.testing.assert_allclose(
                pred['keypoints'], ref.keypoints, atol=PX)
            np.testing.assert_allclose(pred['bboxes'], ref.bboxes, atol=PX)
            np.testing.assert_allclose(
                pred['bbox_scores'], ref.bbox_scores, atol=1e-5)
        assert n > 0


def test_in_graph_dark_equals_mmpose_codec(tmp_path):
    """The decoded graph's DARK (blur as a convolution, closed-form Newton
    step) run by onnxruntime on well-conditioned heatmaps (Gaussian bumps plus
    noise, maxima on the border and ≤ 0 included) equals MMPose's
    ``MSRAHeatmap(unbiased=True).decode`` on the same maps."""
    import onnxruntime as ort
    from mmpose.codecs import MSRAHeatmap

    from mmpose_ext.deploy import _cv2_gaussian_taps, _dark_decode

    codec = MSRAHeatmap(
        input_size=(96, 128),
        heatmap_size=(24, 32),
        sigma=2,
        unbiased=True,
        blur_kernel_size=11)
    taps = _cv2_gaussian_taps(11)

    class Decode(torch.nn.Module):

        def forward(self, heatmaps):
            return _dark_decode(heatmaps, (4.0, 4.0), taps)

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :24]
    maps = rng.normal(size=(3, 17, 32, 24)).astype(np.float32) * 1e-3
    centres = rng.uniform((-1, -1), (25, 33), size=(3, 17, 2))
    maps += np.exp(-((xx - centres[..., :1, None])**2 +
                     (yy - centres[..., 1:, None])**2) / 8).astype(np.float32)
    maps[0, 0] = -np.abs(maps[0, 0])  # maximum <= 0: location -1
    path = tmp_path / 'dark.onnx'
    torch.onnx.export(
        Decode(), (torch.from_numpy(maps), ),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=['input'],
        dynamic_axes={'input': {
            0: 'batch'
        }})
    kpts, scores = ort.InferenceSession(
        str(path),
        providers=['CPUExecutionProvider']).run(None, {'input': maps})
    for n in range(3):
        ref_k, ref_s = codec.decode(maps[n].copy())
        np.testing.assert_allclose(kpts[n], ref_k[0], atol=2e-3)  # crop pixels
        np.testing.assert_array_equal(scores[n], ref_s[0])
    assert (kpts[0, 0] == -4).all()
