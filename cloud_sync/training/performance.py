"""Live performance of a pipeline's model, from what supervisors said about alarms (the synced ``verdicts``).

Only a verdict's latest revision per alarm counts (a supervisor may change
their mind). **Precision** is confirmed / (confirmed + false alarm) over the
model's own alarm kinds. **Recall on confirmed alarms** is the share of
confirmed alarms of other kinds (threshold alarms a person said were real)
that one of the model's alarms on the same device and subject came within
``match_s`` of: a risk model that stops seeing what precedes real alarms
shows here first. Both over the verdicts received in the window.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, select

from cloud_sync.db.schema import DATA_TABLES

MAX_ROWS = 100_000  # verdicts read per check; a window holding more is cut to its newest


@dataclass(frozen=True, slots=True)
class Performance:
    precision: float | None
    precision_n: int  # the model's alarms with a verdict
    recall: float | None
    recall_n: int  # confirmed alarms of other kinds


def live_performance(engine: Engine, since: float, model_kinds: list[str], match_s: float) -> Performance:
    verdicts, alarms = DATA_TABLES["verdicts"], DATA_TABLES["alarms"]
    latest: dict[tuple[str, str], tuple[float, str, str, str]] = {}
    query = (select(verdicts.c.device_id, verdicts.c.alarm_id, verdicts.c.ts, verdicts.c.verdict, verdicts.c.kind,
                    verdicts.c.subject).where(verdicts.c.received_ts >= since)
             .order_by(verdicts.c.id.desc()).limit(MAX_ROWS))
    with engine.connect() as conn:
        for row in conn.execute(query):
            key = (row.device_id, row.alarm_id)
            if key not in latest or row.ts > latest[key][0]:
                latest[key] = (row.ts, row.verdict, row.kind, row.subject)
        own = [v for v in latest.values() if v[2] in model_kinds]
        confirmed = [(device, alarm_id, v[3]) for (device, alarm_id), v in latest.items()
                     if v[2] not in model_kinds and v[1] == "confirmed"]
        caught = judged = 0
        for device, alarm_id, subject in confirmed:
            raised = conn.execute(select(alarms.c.raised_ts).where(
                alarms.c.device_id == device, alarms.c.alarm_id == alarm_id)).scalar()
            if raised is None:  # the alarm's record has not arrived (yet): it cannot be judged
                continue
            judged += 1
            near = conn.execute(select(alarms.c.id).where(and_(
                alarms.c.device_id == device, alarms.c.subject == subject, alarms.c.kind.in_(model_kinds),
                alarms.c.raised_ts.between(raised - match_s, raised + match_s))).limit(1)).first()
            caught += near is not None
    true_positive = sum(1 for v in own if v[1] == "confirmed")
    return Performance(precision=true_positive / len(own) if own else None, precision_n=len(own),
                       recall=caught / judged if judged else None, recall_n=judged)
