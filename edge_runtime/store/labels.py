"""Training labels: the one query that says which verdict is an alarm's label.

The ``verdicts`` table is append-only: one row per revision (a supervisor who
changes another's verdict adds a row; both are kept), each with who, the
channel it came through and when. An alarm's label is its latest revision by
an authorised person. The alarm engine refuses verdicts from anyone who may
not label (``alarms.engine``), so every row stored since ``0004_provenance``
is one; older rows have no channel, their provenance is unknown (an MQTT ack
once named itself in its payload), and they label nothing: for training, a
missing label costs less than a wrong one.
"""
from __future__ import annotations

from typing import Any

from .connection import ReadConnection

_AUTHORISED = "channel IS NOT NULL"
_CURRENT_LABELS = f"""
SELECT v.id, v.alarm_id, v.verdict, v."by", v.channel, v.note, v.ts, v.kind, v.subject
FROM verdicts AS v
WHERE v.id > ? AND v.{_AUTHORISED}
  AND v.id = (SELECT max(r.id) FROM verdicts AS r WHERE r.alarm_id = v.alarm_id AND r.{_AUTHORISED})
ORDER BY v.id
LIMIT ?
"""


def current_labels(conn: ReadConnection, *, after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Each alarm's label whose current revision has an id above ``after_id``, in id order, at most ``limit``.

    Ids grow with every revision, so an exporter that remembers the last id it
    sent gets an alarm again when its label is revised, and keeps the newest.
    """
    return conn.query(_CURRENT_LABELS, (after_id, limit))
