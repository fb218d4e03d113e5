"""Close the restart gap: fusion starts with no memory of which conditions were present.

After a restart the alarm engine restores open alarms (still active, latched
ones still owed an ack), but fusion only reports changes it sees from then on:
a gas that dropped while the daemon was down is never reported "gone", and its
alarm could never clear. This watch gives fusion, per alarm kind, the time it
needs to detect that condition again; a restored condition not re-confirmed by
then is reported inactive. Latching alarms still need their acknowledgement.
"""
from __future__ import annotations

from typing import Callable

from edge_runtime.alarms.model import SUPERVISOR_KINDS, Alarm, AlarmKind, ConditionUpdate, Subject
from edge_runtime.config import SiteConfig

MARGIN_S = 30.0
K = AlarmKind


def manual(alarm: Alarm) -> bool:
    """Raised by a supervisor (a siren sounded, an evacuation ordered): no sensor re-confirms it,
    so it stays until a supervisor ends it, across restarts too."""
    return alarm.kind in SUPERVISOR_KINDS or alarm.condition.startswith("manual:")


def redetect_s(kind: AlarmKind, config: SiteConfig) -> float:
    """How long fusion may take to report ``kind`` again if it is still present."""
    gas = max(2 * config.gas.faults.stale_after_s, 60.0)  # a reading, or a minute value for STEL/TWA
    man_down = config.man_down.no_motion_s + config.man_down.cancel_window_s
    table: dict[AlarmKind, float] = {
        K.NO_MOTION: man_down,
        K.FALL: man_down,
        K.MAN_DOWN: man_down,
        K.HR_HIGH: config.heart_rate.sustained_high_s,
        K.HR_LOW: config.heart_rate.sustained_low_s,
        K.HR_NO_SIGNAL: config.heart_rate.no_signal_s,
        K.CHECK_IN_MISSED: config.check_in.interval_s + config.check_in.cancel_window_s,
        K.LINK_LOST: config.battery.link_lost_s,
        K.NO_POSITION: config.positions.stale_after_s,
        K.GEOFENCE: config.positions.stale_after_s + max((z.dwell_s for z in config.zones), default=0.0),
        K.GAS_SENSOR_STALE: config.gas.faults.stale_after_s,
    }
    return table.get(kind, gas) + MARGIN_S


class RestoredConditionWatch:
    """Reports restored conditions inactive unless fusion re-confirms them in time."""

    def __init__(self, config: SiteConfig, update: Callable[[ConditionUpdate], None], clock: Callable[[], float]) -> None:
        self._config = config
        self._update = update
        self._clock = clock
        self._waiting: dict[tuple[Subject, str], tuple[float, Alarm]] = {}

    def arm(self, alarms: list[Alarm]) -> None:
        now = self._clock()
        for alarm in alarms:
            if alarm.condition_active and not manual(alarm):
                self._waiting[alarm.key] = (now + redetect_s(alarm.kind, self._config), alarm)

    def on_condition(self, update: ConditionUpdate) -> None:
        """Any report from fusion about a key settles it: fusion knows it again."""
        if self._waiting:
            self._waiting.pop(update.key, None)

    def tick(self, now: float) -> None:
        if not self._waiting:
            return
        due = [key for key, (deadline, _) in self._waiting.items() if deadline <= now]
        for key in due:
            _, alarm = self._waiting.pop(key)
            self._update(
                ConditionUpdate(
                    subject=alarm.subject, condition=alarm.condition, kind=alarm.kind, active=False,
                    priority=alarm.priority, ts=now, zone=alarm.zone, notify=alarm.notify,
                    message=f"{alarm.message} — not present since the restart",
                )
            )

    @property
    def waiting(self) -> int:
        return len(self._waiting)
