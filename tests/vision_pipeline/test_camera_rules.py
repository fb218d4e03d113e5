"""Camera rules with an injected clock: intruder, PPE, person down and camera offline into ConditionUpdates."""
from __future__ import annotations

from typing import Any

import pytest

from edge_runtime.alarms.model import AlarmKind, Priority
from edge_runtime.fusion.camera_rules import CameraRules
from edge_runtime.vision.detections import CameraStatus, Detection, FrameDetections
from edge_runtime.vision.geometry import Locator
from firmware_bridge.readings import Motion
from tests.fusion.support import Harness, site

SCALE = 4.0  # the test camera looks straight down: 4 px per metre, image (u, v) is site (u / 4, v / 4)
TOP_DOWN = [[1 / SCALE, 0, 0], [0, 1 / SCALE, 0], [0, 0, 1]]
TANK_PX = [[0, 0], [160, 0], [160, 160], [0, 160]]  # zone z1 (0..40 m) in the image


def camera(**kw: Any) -> dict[str, Any]:
    return {"id": "cam1", "source": "cam1.avi", "min_frames": 3, "tag_match_m": 3.0, **kw}


class Cameras(Harness):
    """The fusion harness plus camera rules on the same clock."""

    def __init__(self, **cam: Any) -> None:
        super().__init__(site(cameras=[camera(**cam)]))
        self.alarm_frames: list[tuple[int, AlarmKind]] = []
        self.rules = CameraRules(self.config, self.engine, self.updates.append, clock=lambda: self.t,
                                 on_alarm=lambda f, k: self.alarm_frames.append((f.frame_id, k)))
        self.locator = Locator(self.config.cameras[0])
        self.frame_id = 0

    def shot(self, *people: tuple[str, float, float], score: float = 0.9) -> None:
        """One frame with people standing at site (x, y) metres, drawn 1.7 m tall."""
        dets = []
        for label, x, y in people:
            u, v = x * SCALE, y * SCALE
            dets.append(Detection(label, score, (u - 2, v - 7, u + 2, v)))
        self.locator.place(dets)
        self.frame_id += 1
        self.rules.on_frame(FrameDetections("cam1", self.frame_id, self.t, 640, 480, dets, "m", "1", "0" * 64,
                                            "onnxruntime", 5.0, 20.0))
        self.t += 0.2

    def frames(self, n: int, *people: tuple[str, float, float], score: float = 0.9) -> None:
        for _ in range(n):
            self.shot(*people, score=score)


def test_person_in_restricted_zone_without_authorised_tag_is_an_intruder_after_min_frames() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.frames(2, ("person", 120, 20))
    assert not h.active("camera_intruder:cam1", "z2")
    h.shot(("person", 120, 20))
    u = h.last("camera_intruder:cam1", "z2")
    assert u.active and u.kind is AlarmKind.CAMERA_INTRUDER and u.zone == "z2"
    assert "s01" in u.notify.workers and "w07" in u.notify.workers  # supervisor and the authorised worker
    assert h.alarm_frames == [(3, AlarmKind.CAMERA_INTRUDER)]
    h.frames(5, ("person", 120, 20))
    assert len(h.of("camera_intruder:cam1")) == 1, "one event, one update"


def test_authorised_fresh_tag_explains_the_person_and_clears_the_intruder() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.frames(3, ("person", 120, 20))
    assert h.active("camera_intruder:cam1", "z2")
    h.fix("gp07", 121, 21)  # Ana, authorised for z2, is the person the camera sees
    h.frames(2, ("person", 120, 20))
    assert h.active("camera_intruder:cam1", "z2"), "cleared only after min_frames without an intruder"
    h.shot(("person", 120, 20))
    assert not h.active("camera_intruder:cam1", "z2")
    # a second person beside Ana is not explained by her tag
    h.fix("gp07", 121, 21)
    h.frames(3, ("person", 121, 21), ("no_helmet", 130, 30))
    assert h.active("camera_intruder:cam1", "z2")


def test_unauthorised_or_stale_tags_explain_nobody() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.fix("gp08", 120, 20)  # Ben is tagged but not authorised for z2
    h.frames(3, ("person", 120, 20))
    assert h.active("camera_intruder:cam1", "z2")
    h2 = Cameras(homography=TOP_DOWN)
    h2.fix("gp07", 120, 20)
    h2.t += 30  # Ana's position is now stale: it cannot vouch for anyone
    h2.frames(3, ("person", 120, 20))
    assert h2.active("camera_intruder:cam1", "z2")


def test_low_scores_never_count() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.frames(10, ("person", 120, 20), score=0.4)
    assert h.updates == []


def test_ppe_missing_near_a_tagged_worker_alerts_that_worker() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.fix("gp08", -170, -170)  # Ben in the yard
    h.frames(3, ("no_helmet", -171, -171))
    u = h.last("ppe:cam1", "w08")
    assert u.active and u.kind is AlarmKind.PPE_MISSING and u.notify.workers == ("w08",) and u.zone == "z3"
    assert "no helmet" in u.message
    h.frames(3, ("person", -171, -171))  # helmet back on
    assert not h.active("ppe:cam1", "w08")
    h.frames(5, ("no_vest", -180, -180))  # nobody tagged within 3 m: nobody to tell
    assert not h.of("ppe:cam1", "w08")[-1].active and len(h.of("ppe:cam1")) == 2


def test_ppe_with_two_tags_close_by_goes_to_the_zone_and_tells_both() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.fix("gp07", -170, -170)
    h.fix("gp08", -171, -170)
    h.frames(3, ("no_vest", -170.5, -170))
    u = h.last("ppe:cam1", "z3")
    assert u.active and set(u.notify.workers) == {"w07", "w08"}
    assert not h.of("ppe:cam1", "w07") and not h.of("ppe:cam1", "w08"), "never a guess at one of them"


def test_without_homography_the_zone_occupants_are_matched() -> None:
    h = Cameras(zones=[{"zone": "z1", "polygon": TANK_PX}])
    h.fix("gp08", 20, 20)
    h.advance(6)  # dwell: Ben is in the tank
    h.fix("gp08", 20, 20)
    h.frames(3, ("no_helmet", 20, 20))
    assert h.active("ppe:cam1", "w08")
    h.fix("gp07", 25, 25)
    h.advance(6)
    h.fix("gp07", 25, 25)
    h.fix("gp08", 20, 20)
    h.frames(3, ("no_vest", 20, 20))  # two occupants: the zone is told, not one of them at random
    u = h.last("ppe:cam1", "z1")
    assert u.active and set(u.notify.workers) == {"w07", "w08"}


def test_person_down_on_a_tagged_worker_in_a_confined_space_sounds_the_siren() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.fix("gp08", 20, 20)
    h.frames(3, ("person_down", 20, 20))
    u = h.last("person_down:cam1", "w08")
    assert u.active and u.kind is AlarmKind.PERSON_DOWN and u.notify.sirens == ("z1",)
    assert {"w08", "s01", "w09"} <= set(u.notify.workers)  # the worker, the supervisor, the attendant
    assert u.priority is Priority.HIGH


def test_person_down_corroborated_by_the_wearable_is_critical() -> None:
    h = Cameras(homography=TOP_DOWN)  # the harness site: no-motion after 120 s, a 30 s cancel window
    for _ in range(int(130 / 0.5)):  # Ben's wearable: lying still for over two minutes
        h.feed("wb08", Motion(0.0, 0.0, 1.0))
        h.advance(0.5, step=0.5)
    h.advance(31)  # through the pre-alarm's cancel window
    h.fix("gp08", -170, -170)
    h.frames(3, ("person_down", -170, -170))
    assert h.priority("person_down:cam1", "w08") is Priority.CRITICAL


def test_unidentified_person_down_is_raised_on_the_zone() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.frames(3, ("person_down", 130, 10))
    u = h.last("person_down:cam1", "z2")
    assert u.active and u.notify.sirens == () and "s01" in u.notify.workers


def test_camera_offline_and_back() -> None:
    h = Cameras(homography=TOP_DOWN)
    h.rules.on_status(CameraStatus("cam1", False, h.t, "no frame for 5 s"))
    u = h.last("camera", "cam1")
    assert u.active and u.kind is AlarmKind.CAMERA_OFFLINE and "no frame for 5 s" in u.message
    h.rules.on_status(CameraStatus("cam1", True, h.t))
    assert not h.active("camera", "cam1")


def test_cameras_only_add_their_own_conditions() -> None:
    """A learned model never clears or lowers a sensor alarm: every camera update is on a camera key."""
    h = Cameras(homography=TOP_DOWN)
    h.fix("gp08", 120, 20)
    h.advance(1)
    assert h.active("geofence:z2", "w08")  # the tag rule raised it
    sensor_updates = len(h.updates)
    h.frames(3, ("person", 120, 20))
    h.frames(10)
    camera_updates = h.updates[sensor_updates:]
    assert camera_updates and all(u.condition.endswith(":cam1") for u in camera_updates)
    assert h.active("geofence:z2", "w08")


@pytest.mark.parametrize("label", ["no_helmet", "person_down"])
def test_every_person_label_counts_as_a_person_for_the_intruder_rule(label: str) -> None:
    h = Cameras(homography=TOP_DOWN)
    h.frames(3, (label, 120, 20))
    assert h.active("camera_intruder:cam1", "z2")


def test_one_person_under_several_labels_counts_once() -> None:
    """Class-aware NMS can leave "person", "no_vest" and "no_helmet" boxes on one man: he is one
    person (no intruder beside the authorised tag) with the label of his best box."""
    h = Cameras(homography=TOP_DOWN)
    h.fix("gp07", 120, 20)  # Ana, authorised for z2
    for _ in range(4):
        dets = [Detection(label, score, (478, 73, 482, 80.5)) for label, score in
                (("person", 0.7), ("no_vest", 0.6), ("no_helmet", 0.55))]
        h.locator.place(dets)
        h.frame_id += 1
        h.rules.on_frame(FrameDetections("cam1", h.frame_id, h.t, 640, 480, dets, "m", "1", "0" * 64, "ort", 5.0, 20.0))
        h.t += 0.2
    assert not h.of("camera_intruder:cam1") and not h.of("ppe:cam1")
