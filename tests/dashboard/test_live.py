"""The live-update stream (Server-Sent Events) on the real daemon, simulator and Mosquitto:
what a page receives, how fast an alarm reaches it, slow pages, limits and shutdown."""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from edge_runtime.dashboard.keys import API, SESSION_COOKIE
from edge_runtime.dashboard.schemas import ZoneActionOut
from edge_runtime.dashboard.zone_actions import ZoneActionEvent
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.readings import Gas
from tests.broker import Mosquitto
from tests.dashboard.harness import (
    DashboardClient,
    EventStream,
    dashboard_site,
    eventually_async,
    named,
    signed_in,
)

EVENTS = f"{API}/events"


async def live_clients(client: DashboardClient) -> float:
    status, body = await client.get("/metrics")
    assert status == 200, body
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return families["siteguard_live_clients"].samples[0].value


async def test_stream_sends_hello_workers_pings_and_an_alarm_within_a_second(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon, url):
        async with signed_in(url, "vera") as client:
            async with client.session.get(url + EVENTS) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/event-stream")
                assert response.headers["Cache-Control"] == "no-store"
                stream = EventStream(response)
                hello = await stream.until(lambda e: True, 5)
                assert hello.name == "hello" and stream.retry == 2000
                assert hello.data["stale_after_s"] == daemon.config.dashboard.stale_after_s
                workers = await stream.until(named("workers"), 3)
                assert [w["id"] for w in workers.data["workers"]] == [w.id for w in daemon.config.workers]
                await stream.until(named("ping"), 3)

                # one real gas frame on w01's detector port (nothing else is playing): alarm on the page in < 1 s
                t0 = time.monotonic()
                site.sim.ports["winsen-pd-01"].write(encode_winsen(Gas.H2S, 30, full_range=100))
                alarm = await stream.until(lambda e: e.name == "alarm" and e.data["alarm"]["subject"] == "worker:w01"
                                           and e.data["alarm"]["condition"] == "gas:H2S", 5)  # (its STEL may come too)
                assert time.monotonic() - t0 < 1.0
                assert alarm.data["cause"] == "raised"
                assert alarm.data["alarm"]["priority"] in ("high", "critical")

                # every later `workers` event shows the alarm on its worker
                update = await stream.until(named("workers"), 3)
                w01 = next(w for w in update.data["workers"] if w["id"] == "w01")
                assert alarm.data["alarm"]["alarm_id"] in w01["alarm_ids"]

                # a zone action published on the bus reaches the page as it is
                action = ZoneActionOut(id=7, zone="tank-2", action="evacuate", by="sam", ts=daemon.clock())
                daemon.bus.publish(ZoneActionEvent(action))
                got = await stream.until(named("zone_action"), 2)
                assert ZoneActionOut.model_validate(got.data) == action

                ids = [e.id for e in stream.seen if e.id is not None]
                assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_anonymous_client_gets_no_stream(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (_site, _daemon, url):
        async with aiohttp.ClientSession() as anonymous, anonymous.get(url + EVENTS) as response:
            assert response.status == 401


async def test_signing_out_ends_the_stream_at_the_next_ping(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """An open page keeps its session alive, but a session that ended (sign-out, expiry) loses its stream."""
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (_site, _daemon, url):
        async with signed_in(url, "vera") as watcher, signed_in(url, "vera") as other:
            response = await watcher.session.get(url + EVENTS)
            stream = EventStream(response)
            await stream.until(named("ping"), 5)
            status, _ = await other.request("DELETE", f"{API}/session")  # another tab of the same person
            assert status == 204
            await stream.until(named("ping"), 5)  # a different session: this one still streams
            status, _ = await watcher.request("DELETE", f"{API}/session")
            assert status == 204
            await asyncio.wait_for(_drain(stream), 5)  # ended at the next ping
            response.release()


async def test_slow_client_is_dropped_without_holding_up_the_others(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (_site, daemon, url):
        async with signed_in(url, "vera") as client, client.session.get(url + EVENTS) as response:
            fast = EventStream(response)
            await fast.until(named("hello"), 5)
            reader = asyncio.create_task(_drain(fast))
            slow = await _stalled_stream(url, client)
            async def both_connected() -> bool:
                return await live_clients(client) == 2

            await eventually_async(both_connected, 5, "both clients connected")

            note = "x" * 65536  # big events fill the slow client's socket and queue quickly
            for i in range(2000):
                daemon.bus.publish(ZoneActionEvent(ZoneActionOut(
                    id=i, zone="yard", action="siren_on", by="test", ts=daemon.clock(), note=note)))
                if i % 8 == 7:
                    await asyncio.sleep(0.01)  # the fast client reads as a page would
                    if await live_clients(client) == 1:
                        break
            assert await live_clients(client) == 1, "the slow client was not dropped"
            assert await _closed_by_server(slow)
            fast_seen = len(fast.seen)

            async def fast_reads_on() -> bool:
                return len(fast.seen) > fast_seen

            await eventually_async(fast_reads_on, 5, "the fast client reading on")
            assert not reader.done()
            reader.cancel()


async def test_limit_and_shutdown_end_streams_promptly(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", max_live_clients=2) as (_s, daemon, url):
        async with signed_in(url, "vera") as client:
            responses = [await client.session.get(url + EVENTS) for _ in range(2)]
            streams = [EventStream(r) for r in responses]
            for stream in streams:
                await stream.until(named("hello"), 5)
            status, body = await client.get(EVENTS)
            assert status == 503 and "too many" in body["error"]

            readers = [asyncio.create_task(_drain(s)) for s in streams]
            t0 = time.monotonic()
            await daemon.http.stop()  # what the daemon's shutdown does first; the hub must not hold it up
            await asyncio.wait_for(asyncio.gather(*readers), 3)
            assert time.monotonic() - t0 < 3
            for r in responses:
                r.release()


async def _drain(stream: EventStream) -> None:
    while await stream.next() is not None:
        pass


async def _stalled_stream(url: str, client: DashboardClient) -> socket.socket:
    """A signed-in stream whose reader never reads (a small receive buffer, so the server notices soon)."""
    cookie = client.session.cookie_jar.filter_cookies(URL(url))[SESSION_COOKIE].value
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {EVENTS} HTTP/1.1\r\nHost: {host}\r\nCookie: {SESSION_COOKIE}={cookie}\r\n\r\n".encode())
    return sock


async def _closed_by_server(sock: socket.socket) -> bool:
    """Reads what the server had sent until it ends the connection."""
    def read() -> bool:
        sock.settimeout(5)
        try:
            while sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        finally:
            sock.close()
        return True

    return await asyncio.to_thread(read)
