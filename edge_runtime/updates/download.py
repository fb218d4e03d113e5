"""Resumable package download: a partial file that grows across cuts, retries and restarts, within the cap.

The partial file is named by the package sha256 the desired state announced,
so a different package never resumes from another's bytes. A retry asks for
``Range: bytes=<partial size>-`` with ``If-Range: <ETag>`` when the server
gave one: a server whose file changed answers 200 with the whole file, which
replaces the partial. Without an ETag the sha256 decides: a resumed download
whose hash does not match starts once more from zero; a fresh one that does
not match is refused (tampered in transit or at the source). Bytes are paid
for in the shared token bucket before each read, so the average rate stays
at the cap; the file is written and hashed on the agent's file thread.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cloud_sync.contract.rollout import DesiredModel
from edge_runtime.sync.bandwidth import TokenBucket
from firmware_bridge.backoff import Backoff
from models.package import sha256_file

from .client import RolloutClient, RolloutError
from .threads import Worker

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
PROGRESS_EVERY = 0.25  # of the package: an info line at each quarter
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DownloadError(RuntimeError):
    """The package could not be fetched; ``retry``: the next poll may try again (else: refuse it)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason, self.retry = reason, retry


class Downloader:
    def __init__(self, client: RolloutClient, directory: Path, bucket: TokenBucket, files: Worker, *,
                 retries: int, backoff: Callable[[], Backoff]) -> None:
        self._client = client
        self._dir = directory
        self._bucket = bucket
        self._files = files
        self._retries = retries
        self._backoff = backoff
        self.bytes_received = 0  # over the agent's life, for status

    def archive_path(self, model: DesiredModel) -> Path:
        return self._dir / f"{model.package_sha256}.pkg"

    async def fetch(self, model: DesiredModel) -> Path:
        """The archive, complete and matching ``package_sha256``; DownloadError when it cannot be had now."""
        done = self.archive_path(model)
        if await self._files.run(done.is_file):
            return done
        await self._files.run(lambda: self._dir.mkdir(parents=True, exist_ok=True))
        backoff = self._backoff()
        restarted = False  # a resumed file whose hash failed starts over once
        for attempt in range(self._retries + 1):
            try:
                resumed = await self._attempt(model)
            except DownloadError:
                await self._files.run(self._discard, model)
                raise
            except RolloutError as exc:
                if not exc.retry:
                    raise DownloadError(f"download refused by the cloud: {exc.reason}", retry=True) from None
                if attempt == self._retries:
                    raise DownloadError(f"download failed {attempt + 1} times, last: {exc.reason}",
                                        retry=True) from None
                delay = backoff.next_delay()
                log.info("package download interrupted; resuming in %.1fs", delay,
                         extra={"version": model.version, "reason": exc.reason})
                await asyncio.sleep(delay)
                continue
            if await self._files.run(sha256_file, self._part(model)) == model.package_sha256:
                await self._files.run(self._part(model).replace, done)
                await self._files.run(self._etag(model).unlink, True)
                return done
            await self._files.run(self._discard, model)
            if not resumed or restarted:
                raise DownloadError(f"package sha256 does not match the desired state's {model.package_sha256[:12]}"
                                    " (tampered or corrupted)", retry=False)
            restarted = True
        raise DownloadError("package changed during the download (sha256 mismatch twice)", retry=False)

    async def _attempt(self, model: DesiredModel) -> bool:
        """One request, appending to the partial file; True when it resumed. Raises RolloutError to retry."""
        part = self._part(model)
        offset = await self._files.run(_size, part)
        if offset > model.package_bytes:
            await self._files.run(self._discard, model)
            offset = 0
        if offset == model.package_bytes:
            return offset > 0
        headers = {"Accept-Encoding": "identity"}
        etag = await self._files.run(_read_text, self._etag(model))
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if etag:
                headers["If-Range"] = etag
        async with self._client.package(model.url, headers) as response:
            if response.status == 416:  # the partial is not a prefix of what is served: start over
                await self._files.run(self._discard, model)
                raise RolloutError("416: partial file not a prefix of the package")
            if response.status in (200, 206):
                if response.status == 200 or not _starts_at(response.headers.get("Content-Range", ""), offset):
                    offset = 0  # the whole file (a server without ranges, or one whose file changed)
                if tag := response.headers.get("ETag"):
                    await self._files.run(self._etag(model).write_text, tag)
                await self._receive(response.content, part, offset, model)
                return headers.get("Range") is not None and offset > 0
            text = (await response.read())[:200].decode(errors="replace")
            raise RolloutError(f"{response.status}: {text}", retry=response.status >= 500 or response.status == 429,
                               status=response.status)

    async def _receive(self, stream: object, part: Path, offset: int, model: DesiredModel) -> None:
        f: BinaryIO = await self._files.run(_open, part, offset)
        size, step = offset, max(1, int(model.package_bytes * PROGRESS_EVERY))
        try:
            async for chunk in stream.iter_chunked(CHUNK):  # type: ignore[attr-defined]
                if (wait := self._bucket.wait_s()) > 0:
                    await asyncio.sleep(wait)
                size += len(chunk)
                if size > model.package_bytes:
                    raise DownloadError(f"the cloud sent more than the announced {model.package_bytes} bytes",
                                        retry=False)
                await self._files.run(f.write, chunk)
                self._bucket.spend(len(chunk))
                self.bytes_received += len(chunk)
                if size // step != (size - len(chunk)) // step:
                    log.info("package download %d%%", 100 * size // max(1, model.package_bytes),
                             extra={"version": model.version, "bytes": size})
        finally:
            await self._files.run(f.close)
        if size < model.package_bytes:
            raise RolloutError(f"connection ended at {size} of {model.package_bytes} bytes")

    def _part(self, model: DesiredModel) -> Path:
        return self._dir / f"{model.package_sha256}.part"

    def _etag(self, model: DesiredModel) -> Path:
        return self._dir / f"{model.package_sha256}.etag"

    def _discard(self, model: DesiredModel) -> None:
        for path in (self._part(model), self._etag(model)):
            path.unlink(missing_ok=True)

    def forget(self, model: DesiredModel) -> None:
        """Remove every file of ``model``'s download (blocking: on the file thread)."""
        self._discard(model)
        self.archive_path(model).unlink(missing_ok=True)


def _starts_at(content_range: str, offset: int) -> bool:
    match = _CONTENT_RANGE.match(content_range.strip())
    return match is not None and int(match.group(1)) == offset


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _open(path: Path, offset: int) -> BinaryIO:
    """The partial file positioned at ``offset`` (0: emptied)."""
    f = path.open("r+b" if offset and path.exists() else "wb")
    f.truncate(offset)
    f.seek(offset)
    return f
