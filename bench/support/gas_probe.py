"""Gas frame -> worker alert: the last byte of a real Winsen frame on a pty, timed to the alert at a subscriber.

Each probe worker has a directly wired detector on its own pty
(bench/support/site.py), so a probe is one 9-byte frame. After each alert the
prober acknowledges the alarm and writes a zero reading, so the next probe on
that port raises a new alarm; probes go round robin over the ports. A probe
not answered within ``timeout_s`` is lost. ``probe_bare`` times the same frame
through the bare baseline (bench/support/bare_baseline.py: pty read -> publish).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.readings import Gas
from firmware_bridge.sim.pty import PtyPort

from .panic_probe import Prober
from .site import CONSOLE

HIGH = encode_winsen(Gas.H2S, 30, full_range=100)
ZERO = encode_winsen(Gas.H2S, 0, full_range=100)
CLEAR_TIMEOUT_S = 3.0


@dataclass
class GasProbes:
    prober: Prober
    ports: list[PtyPort]
    timeout_s: float = 2.0
    latencies: list[float] = field(default_factory=list)
    lost: int = 0

    def probe(self, i: int) -> float | None:
        k = i % len(self.ports)
        site = self.prober.site
        topic = f"siteguard/{site}/workers/probe{k:02d}/alert"
        self.prober.drain()
        t0 = time.perf_counter()
        self.ports[k].write(HIGH)
        got = self.prober.wait(lambda t, p: t == topic and json.loads(p).get("kind", "").startswith("gas"),
                               self.timeout_s)
        if got is None:
            self.lost += 1
            self.ports[k].write(ZERO)  # whatever happened, the next probe on this port starts from zero
            return None
        latency = got[2] - t0
        self.latencies.append(latency)
        alarm_id = json.loads(got[1])["alarm_id"]
        self.prober.client.publish(f"siteguard/{site}/alarms/{alarm_id}/ack/{CONSOLE}", b"{}", qos=1)
        self.ports[k].write(ZERO)
        self.prober.wait(lambda t, p: t == f"siteguard/{site}/alarms/{alarm_id}" and p == b"", CLEAR_TIMEOUT_S)
        return latency


def probe_bare(prober: Prober, port: PtyPort, topic: str, timeout_s: float = 2.0) -> float | None:
    prober.drain()
    t0 = time.perf_counter()
    port.write(HIGH)
    got = prober.wait(lambda t, _p: t == topic, timeout_s)
    return None if got is None else got[2] - t0
