"""A real, small pipeline kind for the training tests, and rows for the cloud tables it reads.

``hr-logreg`` fits a scikit-learn LogisticRegression telling heart-rate
readings above 120 bpm from the others by (hr, v2), on the rows of the cloud
``readings`` table: preprocessing reads them, training fits, evaluating
scores a held-out quarter, packaging writes the coefficients to the attempt's
work dir. ``step_s`` makes training take that long (reporting progress), and
``marker`` names a file where each training attempt appends ``start N`` and
``end N`` — what the killed-worker test counts; while the file ``hold`` names
exists, training waits (up to ``HOLD_MAX_S``), so a test can kill a worker
mid-step whatever the machine's speed. A worker child process
imports this module with ``--kinds tests.cloud.training.kinds``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sqlalchemy import Engine, func, insert, select

from cloud_sync.db.schema import DATA_TABLES
from cloud_sync.training import RunContext, register_kind
from cloud_sync.training.errors import StepRefused

KIND = "hr-logreg"
HOLD_MAX_S = 60.0
READINGS, VERDICTS = DATA_TABLES["readings"], DATA_TABLES["verdicts"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    c: float = Field(1.0, gt=0)
    step_s: float = Field(0.0, ge=0, le=60)
    marker: Optional[str] = None
    hold: Optional[str] = None
    min_accuracy: float = Field(0.0, ge=0, le=1.01, description="the gate: below it the run is refused, not retried")


def preprocessing(ctx: RunContext) -> None:
    query = select(READINGS.c.id, READINGS.c.v1, READINGS.c.v2).where(READINGS.c.kind == "hr")
    with ctx.engine.connect() as conn:
        rows = conn.execute(query.order_by(READINGS.c.id)).all()
    if not rows:
        raise ValueError("no hr readings to train on")
    data = np.array([(r.v1, r.v2) for r in rows], dtype=np.float64)
    ctx.scratch["X"], ctx.scratch["y"] = data, (data[:, 0] > 120).astype(int)
    ctx.data_snapshot_id = f"readings<= {rows[-1].id} ({len(rows)} rows)"
    ctx.reference = {"hr": data[:, 0], "v2": data[:, 1]}
    ctx.log(f"read {len(rows)} hr readings")
    ctx.progress(1.0, f"{len(rows)} rows")


def training(ctx: RunContext) -> None:
    options = ctx.options
    assert isinstance(options, Options)
    _mark(options.marker, f"start {ctx.attempt}")
    X_train, X_test, y_train, y_test = train_test_split(ctx.scratch["X"], ctx.scratch["y"], test_size=0.25,
                                                        random_state=0)
    held_until = time.monotonic() + HOLD_MAX_S
    while options.hold and Path(options.hold).exists() and time.monotonic() < held_until:
        ctx.progress(0.0, "held")
        time.sleep(0.05)
    steps = max(1, int(options.step_s / 0.1))
    for i in range(steps):
        if options.step_s:
            time.sleep(options.step_s / steps)
        ctx.progress((i + 1) / steps, f"epoch {i + 1}/{steps}")
    ctx.scratch["model"] = LogisticRegression(C=options.c, max_iter=500).fit(X_train, y_train)
    ctx.scratch["test"] = (X_test, y_test)
    ctx.log(f"fitted on {len(y_train)} rows")
    _mark(options.marker, f"end {ctx.attempt}")


def evaluating(ctx: RunContext) -> None:
    X_test, y_test = ctx.scratch["test"]
    model = ctx.scratch["model"]
    ctx.metrics["accuracy"] = float(accuracy_score(y_test, model.predict(X_test)))
    if len(set(y_test)) > 1:
        ctx.metrics["auc"] = float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    ctx.log(f"metrics {ctx.metrics}")
    if ctx.metrics["accuracy"] < ctx.options.min_accuracy:  # type: ignore[attr-defined]
        raise StepRefused(f"gate: accuracy {ctx.metrics['accuracy']:.3f} < {ctx.options.min_accuracy}")  # type: ignore[attr-defined]


def packaging(ctx: RunContext) -> None:
    model = ctx.scratch["model"]
    path = ctx.work_dir / "model.json"
    path.write_text(json.dumps({"coef": model.coef_.tolist(), "intercept": model.intercept_.tolist()}))
    ctx.result = {"artifact": str(path)}


def drift_sample(engine: Engine, since: float) -> dict[str, np.ndarray]:
    query = select(READINGS.c.v1, READINGS.c.v2).where(READINGS.c.kind == "hr", READINGS.c.received_ts > since)
    with engine.connect() as conn:
        rows = np.array(conn.execute(query).all(), dtype=np.float64).reshape(-1, 2)
    return {"hr": rows[:, 0], "v2": rows[:, 1]}


def _mark(path: Optional[str], line: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


register_kind(KIND, {"preprocessing": preprocessing, "training": training, "evaluating": evaluating,
                     "packaging": packaging}, options=Options, drift_sample=drift_sample,
              weights={"preprocessing": 1, "training": 6, "evaluating": 1, "packaging": 1})


# -- rows for the tests ----------------------------------------------------------------------------

def add_readings(engine: Engine, n: int, *, hr_mean: float = 110.0, hr_sd: float = 20.0, seed: int = 0,
                 received_ts: float | None = None, device: str = "edge-1") -> None:
    """``n`` hr readings (v1 ~ N(hr_mean, hr_sd), v2 noise) as ingest stores them."""
    rng = np.random.default_rng(seed)
    now = time.time() if received_ts is None else received_ts
    with engine.begin() as conn:
        first = int(conn.execute(select(func.coalesce(func.max(READINGS.c.edge_id), 0))
                                 .where(READINGS.c.device_id == device)).scalar_one()) + 1
        conn.execute(insert(READINGS), [
            {"device_id": device, "site": "plant-a", "edge_id": first + i, "device": "wb-1", "kind": "hr",
             "ts": now - n + i, "v1": float(rng.normal(hr_mean, hr_sd)), "v2": float(rng.normal()),
             "received_ts": now} for i in range(n)])


def add_verdicts(engine: Engine, verdicts: list[tuple[str, str]], *, received_ts: float | None = None,
                 device: str = "edge-1", first_edge_id: int = 1) -> None:
    """Verdict rows, one per ``(kind, verdict)``, each on its own alarm."""
    now = time.time() if received_ts is None else received_ts
    with engine.begin() as conn:
        conn.execute(insert(VERDICTS), [
            {"device_id": device, "site": "plant-a", "edge_id": first_edge_id + i,
             "alarm_id": f"a-{first_edge_id + i}", "verdict": verdict, "ts": now, "kind": kind,
             "subject": "worker:w1", "received_ts": now} for i, (kind, verdict) in enumerate(verdicts)])
