"""A process holding one MqttLink until it is killed: the last-will test SIGKILLs it.

Usage: python -m tests.mqtt.link_child HOST PORT SITE DEVICE
Prints "connected" once the broker accepted the session.
"""

from __future__ import annotations

import asyncio
import sys

from edge_runtime.config.devices import MqttSettings
from edge_runtime.mqtt.link import MqttLink
from edge_runtime.mqtt.topics import Topics


async def main(host: str, port: int, site: str, device: str) -> None:
    link = MqttLink(MqttSettings(host=host, port=port, keepalive_s=5), Topics(site), device, version="child")
    await link.start()
    await asyncio.wait_for(link.connected.wait(), 10)
    print("connected", flush=True)
    await asyncio.sleep(60)  # the test kills us long before


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
