"""What the dashboard needs of the running node: a narrow, read-mostly view of the daemon.

The dashboard modules are typed against :class:`DashboardRuntime`, not the
whole ``EdgeDaemon`` (which satisfies it), so what the pages can reach is
written down here: the site file, the clock and the bus; the alarm engine
(the supervisors' actions go through it); read-only views of fusion, the
cameras, the serial ports, the store and the sync agent; health and queues.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from edge_runtime.alarms.engine import AlarmEngine
    from edge_runtime.config import SiteConfig
    from edge_runtime.queue_stats import QueueStats
    from edge_runtime.sensors import PortHealth
    from edge_runtime.store import StoreStats
    from edge_runtime.store.health import StorageHealth

E = TypeVar("E")


class EventBus(Protocol):
    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None: ...

    def publish(self, event: object) -> None: ...


class FusionView(Protocol):
    """Fusion's state as the pages show it (no rule runs from here)."""

    def worker_view(self, worker_id: str) -> dict[str, Any]: ...

    def equipment_position(self, equipment_id: str) -> tuple[float, float] | None: ...

    def zone_occupants(self, zone_id: str) -> set[str]: ...


class VisionStatus(Protocol):
    def status(self) -> dict[str, dict[str, Any]]: ...


class SensorHealth(Protocol):
    def health(self) -> list[PortHealth]: ...


class StoreView(Protocol):
    @property
    def stats(self) -> StoreStats: ...

    def health(self) -> StorageHealth: ...


class TelemetryView(Protocol):
    def health(self) -> dict[str, object]: ...


class SyncView(Protocol):
    """The sync agent as its supervisor last heard it (``sync.supervisor.SyncSupervisor.report``)."""

    def report(self) -> dict[str, Any]: ...


class HttpView(Protocol):
    @property
    def url(self) -> str | None: ...


@runtime_checkable
class DashboardRuntime(Protocol):
    """The node as the dashboard sees it (``EdgeDaemon`` is one)."""

    @property
    def config(self) -> SiteConfig: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def alarms(self) -> AlarmEngine: ...

    @property
    def fusion(self) -> FusionView: ...

    @property
    def vision(self) -> VisionStatus | None: ...

    @property
    def sensors(self) -> SensorHealth: ...

    @property
    def store(self) -> StoreView: ...

    @property
    def http(self) -> HttpView: ...

    @property
    def telemetry(self) -> TelemetryView: ...

    @property
    def sync(self) -> SyncView | None: ...

    def queues(self) -> list[QueueStats]: ...

    def readiness(self) -> dict[str, object]: ...

    def models_in_use(self) -> dict[str, dict[str, str]]: ...
