"""The bare path the daemon is compared with: pty read -> paho publish QoS 1.

No decoding, no fusion, no storage: the floor any alarm path on this machine
pays for the serial read and the broker round trip (TCP_NODELAY, as the daemon).
"""
from __future__ import annotations

import os
import sys
import termios
import tty

import paho.mqtt.client as mqtt

from edge_runtime.mqtt.nodelay import disable_nagle


def main(port_path: str, mqtt_port: int, topic: str) -> None:
    client = disable_nagle(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{os.getpid()}"))
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    fd = os.open(port_path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd, termios.TCSANOW)
    print("ready", flush=True)
    while True:
        data = os.read(fd, 4096)
        if not data:
            break
        client.publish(topic, data, qos=1)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
