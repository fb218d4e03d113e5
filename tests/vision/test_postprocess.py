"""Decoders on hand-built tensors: YOLO both layouts with and without objectness, SSD with anchors, NMS."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge_runtime.vision.postprocess import (
    DecodeError,
    Postprocessor,
    decode_anchor_boxes,
    nms,
    pairwise_iou,
    ssd_anchors,
    to_xyxy,
)
from edge_runtime.vision.preprocess import LetterboxTransform
from models.package import Decoder, Manifest, TensorSpec

LABELS = ("person", "helmet", "vest")
W = H = 100
IDENTITY = LetterboxTransform(1.0, 1.0, 0.0, 0.0, W, H)


def _names(n: int) -> tuple[str, ...]:
    return {1: ("out",), 2: ("boxes", "scores"), 4: ("boxes", "classes", "scores", "count")}[n]


def _manifest(decoder: dict | None, outputs=((1, 10, 7),), labels=LABELS, task="detection", size=(W, H)) -> Manifest:
    return Manifest(
        name="t",
        version="1",
        task=task,
        labels=labels,
        inputs=(TensorSpec(name="x", shape=(1, size[1], size[0], 3), dtype="float32"),),
        outputs=tuple(TensorSpec(name=n, shape=s, dtype="float32") for n, s in zip(_names(len(outputs)), outputs)),
        decoder=Decoder(**decoder) if decoder else None,
        artifacts=({"path": "m.onnx", "format": "onnx", "sha256": "0" * 64},),
    )


def _yolo_rows(objectness: bool = False) -> np.ndarray:
    """Three candidates, cxcywh normalised: two overlapping persons, one helmet; [N, 4(+1)+C]."""
    rows = [
        # cx,   cy,   w,    h,   (obj,)  person helmet vest
        [0.30, 0.30, 0.20, 0.40, 0.9, 0.90, 0.05, 0.01],
        [0.31, 0.31, 0.20, 0.40, 0.9, 0.80, 0.05, 0.01],  # overlaps the first: suppressed
        [0.70, 0.60, 0.10, 0.10, 0.5, 0.10, 0.70, 0.01],  # a helmet
        [0.50, 0.50, 0.10, 0.10, 0.9, 0.10, 0.10, 0.20],  # below the threshold
    ]
    a = np.asarray(rows, np.float32)
    return a if objectness else np.delete(a, 4, axis=1)


def _dets(manifest: Manifest, outputs, transform=IDENTITY):
    return Postprocessor(manifest, W, H)(outputs, transform)


def test_yolo_rows_and_transposed_give_the_same_detections():
    m = _manifest({"type": "yolo", "conf_threshold": 0.3, "iou_threshold": 0.5})
    rows = _yolo_rows()[None]  # [1, N, 4+C]
    transposed = np.ascontiguousarray(rows.transpose(0, 2, 1))  # [1, 4+C, N] as YOLOv8 exports give
    a, b = _dets(m, [rows]), _dets(m, [transposed])
    assert a == b
    assert [(d.label, round(d.score, 3)) for d in a] == [("person", 0.9), ("helmet", 0.7)]
    assert a[0].box == pytest.approx((20, 10, 40, 50))
    assert a[1].box == pytest.approx((65, 55, 75, 65))


def test_yolo_with_objectness_multiplies_scores():
    m = _manifest({"type": "yolo", "conf_threshold": 0.3, "iou_threshold": 0.5, "has_objectness": True},
                  outputs=((1, 4, 8),))
    dets = _dets(m, [_yolo_rows(objectness=True)[None]])
    assert [(d.label, round(d.score, 3)) for d in dets] == [("person", 0.81), ("helmet", 0.35)]


def test_yolo_pixel_and_xyxy_boxes():
    rows = np.array([[[20, 10, 40, 50, 0.9, 0.0, 0.0]]], np.float32)
    m = _manifest({"type": "yolo", "box_format": "xyxy", "normalized": False})
    assert _dets(m, [rows])[0].box == pytest.approx((20, 10, 40, 50))
    cxcywh = np.array([[[30, 30, 20, 40, 0.9, 0.0, 0.0]]], np.float32)
    m = _manifest({"type": "yolo", "normalized": False})
    assert _dets(m, [cxcywh])[0].box == pytest.approx((20, 10, 40, 50))


def test_boxes_go_back_through_the_letterbox():
    # a 200x100 frame letterboxed into 100x100: scale 0.5, 25 px of padding above
    tf = LetterboxTransform(0.5, 0.5, 0.0, 25.0, 200, 100)
    rows = np.array([[[0.5, 0.5, 0.2, 0.2, 0.9, 0.0, 0.0]]], np.float32)  # (40,40)-(60,60) in input pixels
    det = _dets(_manifest({"type": "yolo"}), [rows], tf)[0]
    assert det.box == pytest.approx((80, 30, 120, 70))


def test_yolo_threshold_and_max_detections():
    n = 50
    rows = np.zeros((1, n, 7), np.float32)
    rows[0, :, 0] = np.linspace(0.05, 0.95, n)  # spread out: no overlaps
    rows[0, :, 1] = 0.5
    rows[0, :, 2:4] = 0.01
    rows[0, :, 4] = np.linspace(0.0, 0.98, n)
    m = _manifest({"type": "yolo", "conf_threshold": 0.5, "max_detections": 10})
    dets = _dets(m, [rows])
    assert len(dets) == 10 and all(d.score >= 0.5 for d in dets)
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_yolo_shape_that_does_not_fit_the_labels():
    m = _manifest({"type": "yolo"})
    with pytest.raises(DecodeError, match="no axis of 4 \\+ 3 classes = 7"):
        _dets(m, [np.zeros((1, 10, 9), np.float32)])


# --------------------------------------------------------------------------- NMS


def test_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, np.array([0, 0, 1]), 0.5, 100).tolist() == [0, 2]  # the other class survives
    assert nms(boxes, scores, None, 0.5, 100).tolist() == [0]  # class-agnostic


def test_nms_iou_threshold_boundary():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 50 / 150 = 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert pairwise_iou(boxes[:1], boxes[1:])[0, 0] == pytest.approx(1 / 3)
    assert nms(boxes, scores, None, 0.3, 10).tolist() == [0]
    assert nms(boxes, scores, None, 0.4, 10).tolist() == [0, 1]


def test_nms_matches_opencv_on_random_boxes():
    rng = np.random.RandomState(0)
    for n in (1, 2, 7, 16, 17, 300, 1200):  # up to 16 the plain-Python path; 1200 spans several IoU blocks
        xy = rng.uniform(0, 600, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 150, (n, 2))], 1).astype(np.float32)
        scores = rng.uniform(0.3, 1.0, n).astype(np.float32)
        classes = rng.randint(0, 3, n)
        ours = nms(boxes, scores, classes, 0.45, 10_000)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
        ref = np.asarray(cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), 0.0, 0.45)).ravel()
        assert ours.tolist() == ref.tolist()


def test_small_and_blocked_nms_agree(monkeypatch):
    """The plain-Python path for a few boxes and the numpy path keep the same boxes in the same order."""
    import edge_runtime.vision.postprocess as post

    rng = np.random.RandomState(2)
    cases = []
    for _ in range(200):
        n = rng.randint(1, 17)
        xy = rng.uniform(0, 200, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 120, (n, 2))], 1).astype(np.float32)
        scores = rng.choice([0.5, 0.6, 0.9], n).astype(np.float32)  # ties: both keep input order
        classes = rng.randint(0, 2, n) if rng.rand() < 0.5 else None
        cases.append((boxes, scores, classes, float(rng.choice([0.3, 0.5])), int(rng.randint(1, 20))))
    small = [nms(*c).tolist() for c in cases]
    monkeypatch.setattr(post, "NMS_SMALL", 0)
    assert small == [nms(*c).tolist() for c in cases]


def test_nms_empty_and_speed():
    assert nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5, 10).tolist() == []
    rng = np.random.RandomState(1)
    xy = rng.uniform(0, 600, (200, 2))
    boxes = np.concatenate([xy, xy + 60], 1).astype(np.float32)
    scores, classes = rng.uniform(size=200).astype(np.float32), rng.randint(0, 4, 200)
    t = time.perf_counter()
    for _ in range(20):
        nms(boxes, scores, classes, 0.5, 100)
    ms = (time.perf_counter() - t) / 20 * 1e3
    print(f"nms 200 boxes: {ms:.3f} ms")
    assert ms < 20


# --------------------------------------------------------------------------- SSD


SSD = {"type": "ssd", "box_format": "yxyx", "conf_threshold": 0.5, "anchors": [[0.5, 0.5]], "strides": [50]}


def test_ssd_anchor_grid():
    anchors = ssd_anchors(Decoder(**SSD), W, H)  # 2x2 cells of 50 px, one anchor each
    np.testing.assert_allclose(anchors, [[0.25, 0.25, 0.5, 0.5], [0.75, 0.25, 0.5, 0.5],
                                         [0.25, 0.75, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]])
    two_levels = Decoder(**{**SSD, "anchors": [[0.2, 0.2], [0.4, 0.2], [0.8, 0.8], [0.9, 0.9]], "strides": [50, 100]})
    a = ssd_anchors(two_levels, W, H)
    assert a.shape == (2 * 2 * 2 + 1 * 1 * 2, 4)
    np.testing.assert_allclose(a[:2, 2:], [[0.2, 0.2], [0.4, 0.2]])  # cell 0, both anchors of level 0
    np.testing.assert_allclose(a[-1], [0.5, 0.5, 0.9, 0.9])
    pixels = Decoder(**{**SSD, "anchors": [[50, 25]], "normalized": False})
    np.testing.assert_allclose(ssd_anchors(pixels, W, H)[0], [0.25, 0.25, 0.5, 0.25])


def test_ssd_encodings_with_variances():
    anchors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    zero = decode_anchor_boxes(np.zeros((1, 4)), anchors, "yxyx")
    np.testing.assert_allclose(zero, anchors)
    # (ty, tx, th, tw): tx = 1 moves the centre by 0.1 * anchor width; tw = 1 scales the width by e^0.2
    enc = np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(decode_anchor_boxes(enc, anchors, "yxyx"), [[0.52, 0.5, 0.2 * np.exp(0.2), 0.4]],
                               rtol=1e-6)
    np.testing.assert_allclose(decode_anchor_boxes(enc[:, [1, 0, 3, 2]], anchors, "cxcywh"),
                               decode_anchor_boxes(enc, anchors, "yxyx"))


def test_ssd_decode_with_anchors():
    m = _manifest(SSD, outputs=((1, 4, 4), (1, 4, 3)))
    boxes = np.zeros((1, 4, 4), np.float32)  # encodings 0: the boxes are the anchors
    scores = np.full((1, 4, 3), 0.1, np.float32)
    scores[0, 3, 2] = 0.8  # cell (1, 1): a vest
    scores[0, 0, 0] = 0.6  # cell (0, 0): a person
    dets = _dets(m, [boxes, scores])
    assert [(d.label, round(d.score, 2)) for d in dets] == [("vest", 0.8), ("person", 0.6)]
    assert dets[0].box == pytest.approx((50, 50, 100, 100))
    assert dets[1].box == pytest.approx((0, 0, 50, 50))
    # the same outputs in the other order: told apart by shape (names here say nothing)
    m_swapped = _manifest(SSD, outputs=((1, 4, 3), (1, 4, 4))).model_copy(
        update={"outputs": (TensorSpec(name="a", shape=(1, 4, 3), dtype="float32"),
                            TensorSpec(name="b", shape=(1, 4, 4), dtype="float32"))})
    assert Postprocessor(m_swapped, W, H)([scores, boxes], IDENTITY) == dets


def test_ssd_logits_and_background_column():
    m = _manifest(SSD, outputs=((1, 4, 4), (1, 4, 4)))  # C + 1 columns: background first
    logits = np.full((1, 4, 4), -4.0, np.float32)
    logits[0, :, 0] = 4.0  # background everywhere ...
    logits[0, 1, 0], logits[0, 1, 1] = -4.0, 4.0  # ... but a person in cell (0, 1)
    dets = _dets(m, [np.zeros((1, 4, 4), np.float32), logits])
    assert len(dets) == 1 and dets[0].label == "person" and dets[0].score > 0.99
    assert dets[0].box == pytest.approx((50, 0, 100, 50))


def test_ssd_decoded_boxes_without_anchors():
    m = _manifest({"type": "ssd", "box_format": "yxyx", "conf_threshold": 0.5}, outputs=((1, 2, 4), (1, 2, 3)))
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]]], np.float32)  # ymin, xmin, ymax, xmax
    scores = np.array([[[0.1, 0.9, 0.0], [0.2, 0.1, 0.3]]], np.float32)
    dets = _dets(m, [boxes, scores])
    assert len(dets) == 1 and dets[0].label == "helmet" and dets[0].box == pytest.approx((20, 10, 60, 50))


def test_ssd_postprocessed_four_outputs():
    m = _manifest({"type": "ssd", "box_format": "yxyx", "conf_threshold": 0.5},
                  outputs=((1, 3, 4), (1, 3), (1, 3), (1,)))
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.5, 0.5, 0.9, 0.9], [0, 0, 1, 1]]], np.float32)
    classes = np.array([[2.0, 0.0, 1.0]], np.float32)
    scores = np.array([[0.9, 0.7, 0.95]], np.float32)
    count = np.array([2.0], np.float32)  # the third is padding
    dets = _dets(m, [boxes, classes, scores, count])
    assert [(d.label, d.score) for d in dets] == [("vest", pytest.approx(0.9)), ("person", pytest.approx(0.7))]


def test_ssd_anchor_count_must_match():
    m = _manifest(SSD, outputs=((1, 5, 4), (1, 5, 3)))
    with pytest.raises(DecodeError, match="4 anchors from the manifest, the model gives 5 boxes"):
        _dets(m, [np.zeros((1, 5, 4), np.float32), np.ones((1, 5, 3), np.float32)])


# --------------------------------------------------------------------------- classification and setup


def test_classification_top_k_full_frame():
    m = _manifest({"type": "classification", "conf_threshold": 0.2, "max_detections": 2}, outputs=((1, 3),),
                  task="classification")
    tf = LetterboxTransform(0.5, 0.5, 0.0, 25.0, 200, 100)
    dets = _dets(m, [np.array([[0.1, 0.3, 0.6]], np.float32)], tf)
    assert [(d.label, d.score) for d in dets] == [("vest", pytest.approx(0.6)), ("helmet", pytest.approx(0.3))]
    assert dets[0].box == (0.0, 0.0, 200.0, 100.0)
    logits = _dets(m, [np.array([[0.0, 0.0, 5.0]], np.float32)])
    assert logits[0].label == "vest" and logits[0].score == pytest.approx(np.exp(5) / (2 + np.exp(5)))


def test_decoder_table_and_missing_decoder():
    with pytest.raises(DecodeError, match="decoder 'grid' is not supported"):
        Postprocessor(_manifest({"type": "grid"}), W, H)
    with pytest.raises(DecodeError, match="no decoder"):
        Postprocessor(_manifest(None), W, H)
    assert Postprocessor(_manifest(None, task="classification", outputs=((1, 3),)), W, H).ctx.decoder.type == (
        "classification")


def test_box_formats():
    b = np.array([[10, 20, 30, 40]], np.float32)
    assert to_xyxy(b, "xyxy").tolist() == [[10, 20, 30, 40]]
    assert to_xyxy(b, "yxyx").tolist() == [[20, 10, 40, 30]]
    assert to_xyxy(b, "cxcywh").tolist() == [[-5, 0, 25, 40]]


def test_unknown_class_id_gets_a_name():
    m = _manifest({"type": "ssd", "box_format": "yxyx"}, outputs=((1, 1, 4), (1, 1), (1, 1), (1,)))
    dets = _dets(m, [np.array([[[0, 0, 1, 1]]], np.float32), np.array([[7.0]]), np.array([[0.9]]), np.array([1.0])])
    assert dets[0].label == "class7"
