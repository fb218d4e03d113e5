"""Output tensors -> detections in frame pixels, as the manifest's ``decoder`` says.

Decoders live in a table keyed by ``decoder.type`` (one row per model family,
no ``if type == ...`` chains): each turns the raw outputs into candidates
(xyxy boxes in input pixels, scores, class ids); the :class:`Postprocessor`
then applies class-aware NMS, keeps ``max_detections`` and maps the boxes back
to the frame through the letterbox transform.

- ``yolo``: one output ``[1, N, 4+C]`` (v5/v8 style rows) or ``[1, 4+C, N]``
  (YOLOv8 exports, transposed), with an objectness column after the box when
  ``has_objectness`` (v5: ``[1, N, 5+C]``, score = objectness x class score).
  Scores are probabilities (exports apply the sigmoid in the graph). The axis
  holding the attributes is the one of size 4+C(+1), so both layouts decode
  without configuration.
- ``ssd``: ``boxes`` ``[1, N, 4]`` and ``scores`` ``[1, N, C]`` or
  ``[1, N, 1+C]`` (background first, dropped). With ``anchors`` the boxes are
  encodings decoded against an anchor grid with the usual variances (0.1, 0.1,
  0.2, 0.2 - TF's scale factors 10, 10, 5, 5); without, they are boxes already.
  ``yxyx`` in [0, 1] is what TF SSD exports give. Scores outside [0, 1] are
  logits: softmax when a background column is present, else sigmoid. The
  post-processed TFLite form (boxes, classes, scores, count) is read too.
- ``classification``: ``[1, C]`` probabilities (or logits: softmaxed), top-k
  above the threshold, each as a detection covering the whole frame.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge_runtime.vision.detections import Detection
from edge_runtime.vision.preprocess import LetterboxTransform
from models.package import Decoder, Manifest

SSD_VARIANCES = (0.1, 0.1, 0.2, 0.2)  # centre x, centre y, width, height
MAX_NMS_CANDIDATES = 4096  # the highest-scoring candidates that enter NMS (bounds its cost)


class DecodeError(ValueError):
    """The outputs do not have the shape the manifest's decoder expects."""


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder needs besides the tensors."""

    decoder: Decoder
    labels: tuple[str, ...]
    input_w: int
    input_h: int
    output_names: tuple[str, ...] = ()


@dataclass(slots=True)
class Candidates:
    """Decoded boxes before NMS: ``boxes`` xyxy in input pixels."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int64

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


# --------------------------------------------------------------------------- boxes and NMS


def to_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """``(N, 4)`` boxes in ``cxcywh``, ``xyxy`` or ``yxyx`` -> xyxy (a new float32 array)."""
    b = np.asarray(boxes, np.float32)
    out = np.empty(b.shape, np.float32)
    if box_format == "cxcywh":
        half_w, half_h = b[:, 2] * 0.5, b[:, 3] * 0.5
        out[:, 0], out[:, 1] = b[:, 0] - half_w, b[:, 1] - half_h
        out[:, 2], out[:, 3] = b[:, 0] + half_w, b[:, 1] + half_h
    elif box_format == "yxyx":
        out[:, 0], out[:, 1], out[:, 2], out[:, 3] = b[:, 1], b[:, 0], b[:, 3], b[:, 2]
    elif box_format == "xyxy":
        out[:] = b
    else:
        raise DecodeError(f"unknown box format {box_format!r}")
    return out


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes``."""
    return pairwise_iou(np.asarray(box, np.float32).reshape(1, 4), np.asarray(boxes, np.float32))[0]


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU matrix of xyxy boxes."""
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


NMS_BLOCK = 256  # rows per IoU block: a 256 x N matrix at most at a time
NMS_SMALL = 16  # up to this many boxes plain Python beats numpy's per-call overhead (~10x at 3 boxes)


def nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None, iou_threshold: float, max_detections: int
) -> np.ndarray:
    """Greedy class-aware NMS; indices of the kept boxes, best first.

    Class-aware by shifting each class's boxes apart (boxes of different
    classes then never overlap) and running one pass. The IoU of the
    score-sorted boxes is computed in blocks of rows against all boxes, so the
    greedy walk is a cheap loop over precomputed "overlaps too much" rows.
    Equal scores keep their input order (stable sort); a box suppresses
    another when their IoU is above ``iou_threshold``.
    """
    n = len(scores)
    if n == 0 or max_detections <= 0:
        return np.zeros(0, np.int64)
    if n <= NMS_SMALL:
        return _nms_small(boxes, scores, class_ids, iou_threshold, max_detections)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    b = np.asarray(boxes, np.float32)[order]
    if class_ids is not None and n > 1:
        span = float(b.max() - b.min()) + 1.0
        b = b + (np.asarray(class_ids, np.float32)[order] * span)[:, None]
    suppressed = np.zeros(n, bool)
    keep: list[int] = []
    for start in range(0, n, NMS_BLOCK):
        stop = min(start + NMS_BLOCK, n)
        over = pairwise_iou(b[start:stop], b) > iou_threshold
        for i in range(start, stop):
            if suppressed[i]:
                continue
            keep.append(i)
            if len(keep) >= max_detections:
                return order[np.asarray(keep, np.int64)]
            suppressed |= over[i - start]
    return order[np.asarray(keep, np.int64)]


def _nms_small(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None, iou_threshold: float, max_detections: int
) -> np.ndarray:
    """The same greedy NMS for a handful of boxes (what a site camera sees), in plain Python:
    the camera rules run it on the daemon's event loop for every frame."""
    score = [float(v) for v in scores]
    box = [tuple(float(v) for v in b) for b in np.asarray(boxes, np.float32).reshape(-1, 4)]
    cls = [int(c) for c in class_ids] if class_ids is not None else [0] * len(score)
    keep: list[int] = []
    for i in sorted(range(len(score)), key=lambda k: -score[k]):  # sorted() is stable
        if all(cls[i] != cls[j] or _iou(box[i], box[j]) <= iou_threshold for j in keep):
            keep.append(i)
            if len(keep) >= max_detections:
                break
    return np.asarray(keep, np.int64)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    return inter / max(area_a + area_b - inter, 1e-9)


# --------------------------------------------------------------------------- decoders


def _batchless(tensor: np.ndarray, ndim: int, what: str) -> np.ndarray:
    t = np.asarray(tensor)
    while t.ndim > ndim and t.shape[0] == 1:
        t = t[0]
    if t.ndim != ndim:
        raise DecodeError(f"{what}: expected {ndim} dimensions after the batch, got shape {np.shape(tensor)}")
    return t


def _select(scores: np.ndarray, conf: float) -> np.ndarray:
    """Indices with score >= conf, at most MAX_NMS_CANDIDATES of the best."""
    idx = np.flatnonzero(scores >= conf)
    if idx.size > MAX_NMS_CANDIDATES:
        idx = idx[np.argpartition(-scores[idx], MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES]]
    return idx


def _scale_to_input(xyxy: np.ndarray, ctx: DecodeContext) -> np.ndarray:
    if ctx.decoder.normalized:
        xyxy[:, 0::2] *= ctx.input_w
        xyxy[:, 1::2] *= ctx.input_h
    return xyxy


def decode_yolo(outputs: Sequence[np.ndarray], ctx: DecodeContext) -> Candidates:
    d = ctx.decoder
    obj = 1 if d.has_objectness else 0
    k = 4 + obj + len(ctx.labels)
    a = _batchless(outputs[0], 2, "yolo output")
    if a.shape[1] == k:  # [N, K] rows
        att = a.T
    elif a.shape[0] == k:  # [K, N] (YOLOv8 export)
        att = a
    else:
        raise DecodeError(
            f"yolo output shape {np.shape(outputs[0])} has no axis of 4{' + 1 objectness' if obj else ''} + "
            f"{len(ctx.labels)} classes = {k}"
        )
    cls = att[4 + obj :]
    ids = cls.argmax(axis=0)
    scores = cls.max(axis=0).astype(np.float32)
    if obj:
        scores = scores * att[4]
    keep = _select(scores, d.conf_threshold)
    boxes = _scale_to_input(to_xyxy(att[:4, keep].T, d.box_format), ctx)
    return Candidates(boxes, scores[keep], ids[keep].astype(np.int64))


def ssd_anchors(decoder: Decoder, input_w: int, input_h: int) -> np.ndarray:
    """``(N, 4)`` anchors (cx, cy, w, h) in [0, 1] of the input.

    ``strides`` gives one grid per level (cells of stride x stride input pixels,
    centred); ``anchors`` (w, h) are split evenly over the levels, in order, in
    [0, 1] of the input when ``normalized``, else in input pixels. Order: level,
    then cell row-major, then anchor - the order SSD heads flatten their outputs.
    """
    if not decoder.strides:
        raise DecodeError("ssd decoder lists anchors but no strides to lay them on")
    if len(decoder.anchors) % len(decoder.strides):
        raise DecodeError(f"{len(decoder.anchors)} anchors do not split evenly over {len(decoder.strides)} strides")
    per_level = len(decoder.anchors) // len(decoder.strides)
    sizes = np.asarray(decoder.anchors, np.float32).reshape(len(decoder.strides), per_level, 2)
    if not decoder.normalized:
        sizes = sizes / np.asarray([input_w, input_h], np.float32)
    levels = []
    for stride, wh in zip(decoder.strides, sizes):
        gw, gh = math.ceil(input_w / stride), math.ceil(input_h / stride)
        cy, cx = np.meshgrid((np.arange(gh) + 0.5) * stride / input_h, (np.arange(gw) + 0.5) * stride / input_w,
                             indexing="ij")
        centres = np.stack([cx.ravel(), cy.ravel()], 1).astype(np.float32)  # (cells, 2)
        level = np.empty((centres.shape[0], per_level, 4), np.float32)
        level[:, :, :2] = centres[:, None, :]
        level[:, :, 2:] = wh[None, :, :]
        levels.append(level.reshape(-1, 4))
    return np.concatenate(levels)


def decode_anchor_boxes(encodings: np.ndarray, anchors: np.ndarray, box_format: str) -> np.ndarray:
    """SSD encodings -> cxcywh in [0, 1]; ``yxyx`` models encode (ty, tx, th, tw), others (tx, ty, tw, th)."""
    e = np.asarray(encodings, np.float32)
    tx, ty, tw, th = (e[:, 1], e[:, 0], e[:, 3], e[:, 2]) if box_format == "yxyx" else (e[:, 0], e[:, 1], e[:, 2], e[:, 3])
    vx, vy, vw, vh = SSD_VARIANCES
    out = np.empty(e.shape, np.float32)
    out[:, 0] = anchors[:, 0] + tx * vx * anchors[:, 2]
    out[:, 1] = anchors[:, 1] + ty * vy * anchors[:, 3]
    out[:, 2] = anchors[:, 2] * np.exp(tw * vw)
    out[:, 3] = anchors[:, 3] * np.exp(th * vh)
    return out


def _name_has(name: str, words: tuple[str, ...]) -> bool:
    return any(w in name.lower() for w in words)


def _ssd_postprocessed(outputs: Sequence[np.ndarray], ctx: DecodeContext) -> Candidates:
    """TFLite_Detection_PostProcess: boxes [1,K,4] yxyx, classes [1,K], scores [1,K], count [1]."""
    names = ctx.output_names if len(ctx.output_names) == len(outputs) else ("",) * len(outputs)
    boxes_i = next((i for i, o in enumerate(outputs) if np.ndim(o) == 3 and np.shape(o)[-1] == 4), None)
    count_i = next((i for i, o in enumerate(outputs) if np.ndim(o) <= 1 and np.size(o) == 1), None)
    flat = [i for i, o in enumerate(outputs) if i not in (boxes_i, count_i) and np.ndim(o) == 2]
    if boxes_i is None or len(flat) != 2:
        raise DecodeError(f"ssd outputs {[np.shape(o) for o in outputs]}: expected boxes [1,K,4], classes [1,K], "
                          "scores [1,K] and a count")
    cls_i = next((i for i in flat if _name_has(names[i], ("class",))), None)
    score_i = next((i for i in flat if _name_has(names[i], ("score",)) and i != cls_i), None)
    if cls_i is None or score_i is None:  # TF's order: boxes, classes, scores, count
        cls_i, score_i = flat
    boxes = _batchless(outputs[boxes_i], 2, "ssd boxes")
    scores = np.asarray(outputs[score_i], np.float32).reshape(-1)
    ids = np.rint(np.asarray(outputs[cls_i])).astype(np.int64).reshape(-1)
    n = int(np.asarray(outputs[count_i]).reshape(-1)[0]) if count_i is not None else len(scores)
    boxes, scores, ids = boxes[:n], scores[:n], ids[:n]
    keep = _select(scores, ctx.decoder.conf_threshold)
    xyxy = _scale_to_input(to_xyxy(boxes[keep], ctx.decoder.box_format), ctx)
    return Candidates(xyxy, scores[keep], ids[keep])


def decode_ssd(outputs: Sequence[np.ndarray], ctx: DecodeContext) -> Candidates:
    d, c = ctx.decoder, len(ctx.labels)
    if len(outputs) >= 3:
        return _ssd_postprocessed(outputs, ctx)
    if len(outputs) != 2:
        raise DecodeError(f"ssd decoder needs a boxes and a scores output, got {len(outputs)} outputs")
    names = ctx.output_names if len(ctx.output_names) == 2 else ("", "")
    boxes_i = next((i for i in (0, 1) if _name_has(names[i], ("box", "loc"))), None)
    if boxes_i is None:
        boxes_i = next((i for i in (0, 1) if np.shape(outputs[i])[-1] == 4 and np.shape(outputs[1 - i])[-1] != 4), 0)
    boxes = _batchless(outputs[boxes_i], 2, "ssd boxes")
    scores = _batchless(outputs[1 - boxes_i], 2, "ssd scores").astype(np.float32, copy=False)
    if boxes.shape[1] != 4 or boxes.shape[0] != scores.shape[0]:
        raise DecodeError(f"ssd outputs: boxes {boxes.shape} and scores {scores.shape} do not pair up")
    background = scores.shape[1] == c + 1
    if scores.shape[1] not in (c, c + 1):
        raise DecodeError(f"ssd scores have {scores.shape[1]} columns for {c} labels (expected {c} or {c + 1})")
    if scores.size and (scores.min() < 0 or scores.max() > 1):  # logits
        if background:
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = e / e.sum(axis=1, keepdims=True)
        else:
            scores = 1.0 / (1.0 + np.exp(-scores))
    if background:
        scores = scores[:, 1:]
    ids = scores.argmax(axis=1)
    best = scores[np.arange(len(ids)), ids]
    keep = _select(best, d.conf_threshold)
    if d.anchors:
        anchors = ssd_anchors(d, ctx.input_w, ctx.input_h)
        if len(anchors) != boxes.shape[0]:
            raise DecodeError(f"ssd: {len(anchors)} anchors from the manifest, the model gives {boxes.shape[0]} boxes")
        cxcywh = decode_anchor_boxes(boxes[keep], anchors[keep], d.box_format)
        xyxy = to_xyxy(cxcywh, "cxcywh")
        xyxy[:, 0::2] *= ctx.input_w
        xyxy[:, 1::2] *= ctx.input_h
    else:
        xyxy = _scale_to_input(to_xyxy(boxes[keep], d.box_format), ctx)
    return Candidates(xyxy, best[keep].astype(np.float32), ids[keep].astype(np.int64))


def decode_classification(outputs: Sequence[np.ndarray], ctx: DecodeContext) -> Candidates:
    probs = np.asarray(outputs[0], np.float32).reshape(-1)
    if probs.size and (probs.min() < 0 or probs.max() > 1):  # logits
        e = np.exp(probs - probs.max())
        probs = e / e.sum()
    k = min(ctx.decoder.max_detections, probs.size)
    top = np.argsort(-probs, kind="stable")[:k]
    top = top[probs[top] >= ctx.decoder.conf_threshold]
    full = np.tile(np.asarray([[0, 0, ctx.input_w, ctx.input_h]], np.float32), (len(top), 1))
    return Candidates(full, probs[top], top.astype(np.int64))


@dataclass(frozen=True, slots=True)
class DecoderSpec:
    decode: Callable[[Sequence[np.ndarray], DecodeContext], Candidates]
    nms: bool = True


DECODERS: dict[str, DecoderSpec] = {
    "yolo": DecoderSpec(decode_yolo),
    "ssd": DecoderSpec(decode_ssd),
    "classification": DecoderSpec(decode_classification, nms=False),
}


# --------------------------------------------------------------------------- the stage


class Postprocessor:
    """Outputs (manifest order) -> ``list[Detection]`` in frame pixels."""

    def __init__(self, manifest: Manifest, input_w: int, input_h: int) -> None:
        decoder = manifest.decoder
        if decoder is None:
            if manifest.task != "classification":
                raise DecodeError(f"{manifest.name}: the manifest has no decoder for task {manifest.task!r}")
            decoder = Decoder(type="classification")
        spec = DECODERS.get(decoder.type)
        if spec is None:
            raise DecodeError(f"{manifest.name}: decoder {decoder.type!r} is not supported (have: {', '.join(DECODERS)})")
        self.spec = spec
        self.ctx = DecodeContext(decoder, manifest.labels, input_w, input_h, tuple(o.name for o in manifest.outputs))

    def candidates(self, outputs: Sequence[np.ndarray]) -> Candidates:
        """Decoded and NMS-filtered candidates, best first, boxes still in input pixels."""
        cand = self.spec.decode(outputs, self.ctx)
        d = self.ctx.decoder
        if self.spec.nms:
            keep = nms(cand.boxes, cand.scores, cand.class_ids, d.iou_threshold, d.max_detections)
        else:
            keep = np.arange(min(len(cand.scores), d.max_detections))
        return Candidates(cand.boxes[keep], cand.scores[keep], cand.class_ids[keep])

    def __call__(self, outputs: Sequence[np.ndarray], transform: LetterboxTransform) -> list[Detection]:
        cand = self.candidates(outputs)
        boxes = transform.to_frame(cand.boxes)
        labels = self.ctx.labels
        return [
            Detection(
                label=labels[c] if 0 <= c < len(labels) else f"class{c}",
                score=float(s),
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            )
            for b, s, c in zip(boxes.tolist(), cand.scores.tolist(), cand.class_ids.tolist())
        ]
