"""Fixtures for store tests: real SQLite files in tmp_path, real store processes, alarm and reading factories."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Notify,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
)
from edge_runtime.config.devices import SerialPort, StorageSettings
from edge_runtime.store import Store
from firmware_bridge.readings import Gas, GasSample, Observation

StoreFactory = Callable[..., Store]


def gas(device: str = "det-1", value: float = 1.0, ts: float | None = None) -> Observation:
    return Observation(device, GasSample(Gas.H2S, value, "ppm"), time.time() if ts is None else ts)


def make_alarm(alarm_id: str = "a1", **changes: Any) -> Alarm:
    alarm = Alarm(
        alarm_id=alarm_id,
        subject=Subject(SubjectKind.WORKER, "w7"),
        condition="gas:H2S",
        kind=AlarmKind.GAS_HIGH,
        priority=Priority.HIGH,
        state=AlarmState.UNACK,
        message="H2S 15 ppm",
        raised_ts=1000.0,
        updated_ts=1000.0,
        value=15.0,
        threshold=10.0,
        zone="tank-3",
        notify=Notify(workers=("w7", "w8"), sirens=("tank-3",)),
    )
    return replace(alarm, **changes)


def transition(
    alarm: Alarm,
    cause: TransitionCause = TransitionCause.RAISED,
    from_state: AlarmState = AlarmState.NORMAL,
    **kw: Any,
) -> AlarmTransition:
    return AlarmTransition(alarm, cause, from_state, alarm.state, kw.pop("ts", alarm.updated_ts), **kw)


def probe(path: Path) -> sqlite3.Connection:
    """A second, independent connection: what another process would see."""
    return sqlite3.connect(path, timeout=5)


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> float:
    """Poll until ``predicate`` is true; returns the seconds it took."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.0005)
    return time.perf_counter() - started


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "site.db"


@pytest.fixture
def make_store(db_path: Path) -> Iterator[StoreFactory]:
    """Open stores (and their store processes) over ``db_path`` or ``path``; all closed at teardown."""
    stores: list[Store] = []

    def factory(*, path: Path | None = None, serial: tuple[SerialPort, ...] = (), **settings: Any) -> Store:
        store = Store(StorageSettings(path=path or db_path, **settings), serial=serial)
        stores.append(store)
        store.open()
        return store

    yield factory
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store()
