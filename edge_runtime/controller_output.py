"""The siren/wearable controller on its serial port: link + client + notifier."""
from __future__ import annotations

import asyncio

from edge_runtime.config import SiteConfig
from edge_runtime.notifiers.serial_controller import ControllerNotifier
from firmware_bridge.controller_client import ControllerClient
from firmware_bridge.transport import SerialLink


class ControllerOutput:
    """Owns the controller's serial link; alarms reach it through ``notifier``."""

    def __init__(self, config: SiteConfig) -> None:
        settings = config.controller
        assert settings is not None
        self.link = SerialLink(settings.port, settings.baudrate, self._on_bytes, name="controller")
        self.client = ControllerClient(self.link, ack_timeout_s=settings.ack_timeout_s, retries=settings.retries)
        wearables = {w.id: w.wearable for w in config.workers if w.wearable}
        self.notifier = ControllerNotifier(self.client, wearables)
        self._task: asyncio.Task[None] | None = None

    def _on_bytes(self, data: bytes) -> None:
        self.client.feed(data)

    def start(self) -> None:
        self._task = asyncio.create_task(self.link.run(), name="controller")

    async def stop(self) -> None:
        self.link.stop()
        if self._task:
            try:
                await asyncio.wait_for(self._task, 3.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
