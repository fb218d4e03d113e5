"""Signed-in dashboard pages reading the live-update stream, in a process of their own (aiohttp).

What 50 supervisors' browsers cost the daemon, without their CPU being the
daemon's: each page signs in with its own session and reads
``GET /api/v1/events`` as a browser's EventSource would, counting events.
Used by bench/dashboard_load.py and bench/worst_minute.py.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

ACCOUNT = "bench"
PASSWORD = "bench-viewer-password"
# argon2id of PASSWORD: the site file holds hashes, never passwords
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$ymJB78FZ/cetkKzDxLJfMw$rONZ5Yb2/1NFuCdMjeVUpt9cE6XGaYcninmKX+f6srs"


def pages_main(base_url: str, clients: int, conn: Connection) -> None:
    """Child process: ``clients`` pages sign in and read the stream until the parent says stop;
    sends ``("ready", connected)`` once every stream said hello, then ``("done", counts)``."""
    asyncio.run(_pages(base_url, clients, conn))


async def _pages(base_url: str, clients: int, conn: Connection) -> None:
    hello = [asyncio.Event() for _ in range(clients)]
    counts: list[dict[str, int]] = [{} for _ in range(clients)]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        # one by one: the daemon counts sign-ins per address as they start (parallel ones look like guessing)
        sessions = [await _sign_in(http, base_url) for _ in range(clients)]
        tasks = [asyncio.create_task(_page(http, base_url, sessions[i], hello[i], counts[i])) for i in range(clients)]
        ready = asyncio.gather(*(h.wait() for h in hello))
        waiting: set[asyncio.Future[Any]] = {ready, *tasks}
        await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)  # all said hello, or one failed
        conn.send(("ready", sum(h.is_set() for h in hello)))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, ready, return_exceptions=True)
    conn.send(("done", counts))


async def _sign_in(http: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
    """A session of its own for one page: its cookies."""
    async with http.post(f"{base_url}/api/v1/session", json={"name": ACCOUNT, "password": PASSWORD}) as r:
        r.raise_for_status()
        return {k: m.value for k, m in r.cookies.items()}


async def _page(http: aiohttp.ClientSession, base_url: str, cookies: dict[str, str], hello: asyncio.Event,
                counts: dict[str, int]) -> None:
    """One page reading the stream as a browser would, counting events by name."""
    async with http.get(f"{base_url}/api/v1/events", cookies=cookies, timeout=aiohttp.ClientTimeout(total=None)) as r:
        r.raise_for_status()
        async for line in r.content:
            if line.startswith(b"event: "):
                name = line[7:].strip().decode()
                counts[name] = counts.get(name, 0) + 1
                if name == "hello":
                    hello.set()


class Pages:
    """The pages' process, from start to their counts."""

    def __init__(self, base_url: str, clients: int) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=pages_main, args=(base_url, clients, child), daemon=True)
        self._proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def wait_ready(self, timeout: float = 150.0) -> int:
        if not self._conn.poll(timeout):
            raise RuntimeError("the pages did not connect")
        _, connected = self._conn.recv()
        return int(connected)

    def stop(self) -> list[dict[str, int]]:
        self._conn.send("stop")
        counts: list[dict[str, int]] = self._conn.recv()[1] if self._conn.poll(30) else []
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
        return counts


def viewer_account() -> dict[str, str]:
    """The site-file account the pages sign in with."""
    return {"name": ACCOUNT, "role": "viewer", "password_hash": PASSWORD_HASH}
