"""Every MQTT topic of the site contract, built and parsed in one place.

Wearables, siren controllers and dashboards are programmed against these
strings; keeping them here means a rename is one edit and a malformed id
(one with ``/`` or a wildcard) is refused before it can address the wrong
device or subscribe to everything.
"""

from __future__ import annotations

ROOT = "siteguard"
_FORBIDDEN = frozenset("/+#\0")


class TopicError(ValueError):
    """An id cannot be used as a topic level."""


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a usable single topic level, else raise :class:`TopicError`."""
    if not isinstance(value, str) or not value:
        raise TopicError(f"{what} must be a non-empty string, got {value!r}")
    if _FORBIDDEN.intersection(value):
        raise TopicError(f"{what} {value!r} contains '/', '+', '#' or NUL")
    return value


class Topics:
    """Topic names for one site (``siteguard/{site}/...``)."""

    def __init__(self, site: str) -> None:
        self.site = check_id(site, "site")
        self.prefix = f"{ROOT}/{self.site}"
        #: Subscription filter for acknowledgements of any alarm by any console account.
        self.ACK_FILTER = f"{self.prefix}/alarms/+/ack/+"
        #: Subscription filter for telemetry from any wearable.
        self.TELEMETRY_FILTER = f"{self.prefix}/wearables/+/telemetry"
        #: The retained siren commands and alarm records (the daemon's own state).
        self.SIREN_FILTER = f"{self.prefix}/sirens/+/set"
        self.ALARM_RECORD_FILTER = f"{self.prefix}/alarms/+"

    def worker_alert(self, worker: str) -> str:
        return f"{self.prefix}/workers/{check_id(worker, 'worker')}/alert"

    def siren_set(self, zone: str) -> str:
        return f"{self.prefix}/sirens/{check_id(zone, 'zone')}/set"

    def alarm(self, alarm_id: str) -> str:
        return f"{self.prefix}/alarms/{check_id(alarm_id, 'alarm_id')}"

    def alarm_ack(self, alarm_id: str, account: str) -> str:
        """Where console ``account`` acknowledges: the broker's ACL lets only that account publish here."""
        return f"{self.prefix}/alarms/{check_id(alarm_id, 'alarm_id')}/ack/{check_id(account, 'account')}"

    def wearable_telemetry(self, wearable: str) -> str:
        return f"{self.prefix}/wearables/{check_id(wearable, 'wearable')}/telemetry"

    def device_status(self, device: str) -> str:
        return f"{self.prefix}/devices/{check_id(device, 'device')}/status"

    def parse_ack_topic(self, topic: str) -> tuple[str, str] | None:
        """(alarm id, account) of an ``alarms/{id}/ack/{account}`` topic of this site, else ``None``."""
        ids = self._ids(topic, ("alarms", None, "ack", None))
        return None if ids is None else (ids[0], ids[1])

    def parse_telemetry_topic(self, topic: str) -> str | None:
        """The wearable id of a ``wearables/{id}/telemetry`` topic of this site, else ``None``."""
        ids = self._ids(topic, ("wearables", None, "telemetry"))
        return None if ids is None else ids[0]

    def _ids(self, topic: str, levels: tuple[str | None, ...]) -> list[str] | None:
        """The ids at the ``None`` levels of ``siteguard/{site}/<levels>``, each a usable topic level."""
        parts = topic.split("/")
        if len(parts) != len(levels) + 2 or parts[0] != ROOT or parts[1] != self.site:
            return None
        ids = []
        for part, level in zip(parts[2:], levels):
            if level is None:
                if not part or _FORBIDDEN.intersection(part):
                    return None
                ids.append(part)
            elif part != level:
                return None
        return ids

    def __repr__(self) -> str:
        return f"Topics({self.site!r})"
