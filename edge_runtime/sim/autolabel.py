"""The demo's automatic labeller: answers the cloud's hard examples from the simulator's ground truth.

In the demo the cameras film a simulation, so the truth of every frame is
known (:mod:`.ground_truth`). :class:`AutoLabeller` plays the person at the
labelling console: it lists the unlabelled hard examples through the cloud's
label API, fetches each frame, finds which frame of its camera's video it is
and sends that frame's boxes — ``accepted`` when the model's detections
already matched them (same label, IoU >= 0.5, one to one), ``corrected``
otherwise. The edge plays the video in real time from when its camera worker
opened it, looping, so a snapshot's time does not say which frame it was;
the pixels do: each frame is compared with every frame of the video, both
shrunk to thumbnails (the video's cached), by the largest difference of any
thumbnail pixel — a person who moved or is missing changes a few pixels a
lot, JPEG noise changes all of them a little. A frame no video frame matches
closely, or that matches frames whose truths differ, is left for a person
(counted and logged), never guessed.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from .ground_truth import TruthBox, read_truth

log = logging.getLogger(__name__)

API = "/api/v1"
THUMB = (80, 60)
"""Thumbnail size (width, height): 8 x 8 pixel blocks of a VGA frame, over which JPEG noise averages out."""
MAX_DISTANCE = 12.0
"""Largest pixel difference (0..255) a frame may have from its video frame: the edge's JPEG (quality 90)
gives 2-3, the demo's frames differ from each other by 35 or more where a person moved."""
TIE_MARGIN = 4.0
"""Frames within this of the best match count as matches too (a still scene repeats): their truths must agree."""
MATCH_IOU = 0.5
MAX_FRAMES = 18_000
"""A bound on the frames read from one video (an hour at the demo's 5 fps: 260 MB of thumbnails)."""
PAGE = 100
TIMEOUT_S = 10.0

Status = Literal["accepted", "corrected"]


class AutoLabelError(RuntimeError):
    """The labeller cannot work: a video or its ground truth is unusable, or the API refused it."""


@dataclass(frozen=True, slots=True)
class Match:
    frame: int
    distance: float
    truth: tuple[TruthBox, ...]


class VideoIndex:
    """Every frame of one simulated video as a thumbnail, with its ground truth."""

    def __init__(self, video: Path) -> None:
        self.video = Path(video)
        self.truth = read_truth(self.video)
        capture = cv2.VideoCapture(str(self.video))
        thumbs: list[np.ndarray] = []
        try:
            if not capture.isOpened():
                raise AutoLabelError(f"{video}: cannot open the video")
            while len(thumbs) < MAX_FRAMES:
                ok, frame = capture.read()
                if not ok:
                    break
                thumbs.append(thumbnail(frame))
        finally:
            capture.release()
        if len(thumbs) != len(self.truth):
            raise AutoLabelError(f"{video}: {len(thumbs)} frames but ground truth for {len(self.truth)}")
        self.thumbs = np.stack(thumbs) if thumbs else np.zeros((0, THUMB[1], THUMB[0], 3), np.uint8)

    def match(self, image: np.ndarray) -> Match | None:
        """The frame ``image`` (BGR) is, or None when no frame is close or close frames disagree on the truth."""
        if not len(self.thumbs):
            return None
        difference = np.abs(self.thumbs.astype(np.int16) - thumbnail(image).astype(np.int16))
        distances = difference.mean(axis=3).max(axis=(1, 2))
        best = int(np.argmin(distances))
        if distances[best] > MAX_DISTANCE:
            return None
        truth = self.truth[best]
        for other in np.flatnonzero(distances <= distances[best] + TIE_MARGIN):
            if not same_boxes(self.truth[int(other)], truth):
                return None
        return Match(best, float(distances[best]), truth)


def thumbnail(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, THUMB, interpolation=cv2.INTER_AREA)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def same_boxes(a: Sequence[TruthBox], b: Sequence[TruthBox]) -> bool:
    """One to one, each box of ``a`` has a box of ``b`` with its label at IoU >= 0.5 (greedy, best first)."""
    if len(a) != len(b):
        return False
    pairs = sorted(((iou(_corners(x), _corners(y)), i, j) for i, x in enumerate(a) for j, y in enumerate(b)
                    if x.label == y.label), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    for overlap, i, j in pairs:
        if overlap >= MATCH_IOU and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a) == len(a)


def _corners(box: TruthBox) -> tuple[float, float, float, float]:
    return (box.x1, box.y1, box.x2, box.y2)


def detections_as_truth(detections: Sequence[dict[str, Any]], width: int, height: int) -> tuple[TruthBox, ...]:
    """The model's detections (frame pixels, as the hard example lists them) in 0..1 of the frame."""
    out = []
    for d in detections:
        x1, y1, x2, y2 = (float(v) for v in d["box"])
        out.append(TruthBox(str(d["label"]), x1 / width, y1 / height, x2 / width, y2 / height))
    return tuple(out)


class AutoLabeller:
    """Labels the cloud's unlabelled hard examples of the cameras in ``videos`` (camera id -> video file)."""

    def __init__(self, api_url: str, token: str, videos: dict[str, Path], *, timeout_s: float = TIMEOUT_S) -> None:
        self._url = api_url.rstrip("/") + API
        self._headers = {"Authorization": f"Bearer {token}"}
        self._videos = {camera: Path(path) for camera, path in videos.items()}
        self._indexes: dict[str, VideoIndex] = {}
        self._timeout = timeout_s
        self._given_up: set[int] = set()
        self.labelled = {"accepted": 0, "corrected": 0}
        self.left_for_people = 0

    def label_pending(self, limit: int = 50) -> int:
        """Look at up to ``limit`` unlabelled hard examples; returns how many it labelled.

        Examples of other cameras are passed over; frames it cannot match are
        left for a person, and not looked at again by this labeller. A cloud
        that cannot be reached raises ``OSError``.
        """
        done = seen = 0
        after = 0
        while seen < limit:
            query = urllib.parse.urlencode({"status": "unlabelled", "after_id": after, "limit": PAGE})
            page = self._get_json(f"/labels/hard-examples?{query}")["examples"]
            if not page:
                break
            for example in page:
                after = example["id"]
                if example["id"] in self._given_up or example["camera"] not in self._videos:
                    continue
                seen += 1
                done += self._label(example)
                if seen >= limit:
                    break
        return done

    def _label(self, example: dict[str, Any]) -> int:
        jpeg = self._get(f"/labels/hard-examples/{example['id']}/image")
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        match = None if image is None else self._index(example["camera"]).match(image)
        if match is None:
            self._given_up.add(example["id"])
            self.left_for_people += 1
            log.info("hard example left for a person: no frame of its video matches it confidently",
                     extra={"snapshot": example["id"], "camera": example["camera"]})
            return 0
        height, width = image.shape[:2]
        found = detections_as_truth(example.get("detections") or [], width, height)
        status: Status = "accepted" if same_boxes(found, match.truth) else "corrected"
        body = {"status": status, "boxes": [b.as_dict() for b in match.truth]}
        try:
            self._send("PUT", f"/labels/hard-examples/{example['id']}/label", body)
        except urllib.error.HTTPError as exc:
            if exc.code not in (404, 409):  # gone, or a person labelled it meanwhile: theirs stands
                raise AutoLabelError(f"the label API refused hard example {example['id']}: {exc.code} "
                                     f"{exc.read().decode(errors='replace')[:300]}") from None
            self._given_up.add(example["id"])
            return 0
        self.labelled[status] += 1
        log.info("hard example labelled from the simulation", extra={
            "snapshot": example["id"], "camera": example["camera"], "status": status, "frame": match.frame,
            "distance": round(match.distance, 2), "boxes": len(match.truth)})
        return 1

    def _index(self, camera: str) -> VideoIndex:
        if camera not in self._indexes:
            self._indexes[camera] = VideoIndex(self._videos[camera])
        return self._indexes[camera]

    def _get_json(self, path: str) -> dict[str, Any]:
        return dict(json.loads(self._get(path)))

    def _get(self, path: str) -> bytes:
        return self._send("GET", path, None)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        headers = {**self._headers, **({} if data is None else {"Content-Type": "application/json"})}
        request = urllib.request.Request(self._url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            return bytes(response.read())
