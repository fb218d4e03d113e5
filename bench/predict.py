"""The model try-out API under load (#11): a VGA JPEG through ``POST /models/{name}/{version}/predict``.

Starts its own ``siteguard cloud serve`` (a child process on loopback, SQLite in a temp dir, trusting a
throw-away key), registers a copy of the shipped camera model (models/camera/default) re-signed with that
key through ``POST /models``, then sends the same 640x480 JPEG of a rendered site scene with 1, 8 and 32
concurrent clients (aiohttp, one connection each) for ``--seconds`` each. Reported per level: p50/p99 of
the client-side round trip (ms), requests/s, and the server's own p50 inference and total per request;
and ``baseline_invoke_ms``: a bare LiteRT ``Interpreter.invoke()`` p50 on the same preprocessed input,
same artifact and threads, in this process with the service idle. Target (the issue): p99 < 25 ms at 1
client. The clients share the machine's cores with the service.

    python bench/predict.py [--seconds 10] [--levels 1,8,32]

Progress on stderr, ONE JSON object on the last stdout line; the service is stopped on the way out.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench.support.stats import pct  # noqa: E402
from cloud_sync.model_registry.config import TRUSTED_KEYS_ENV  # noqa: E402
from cloud_sync.registry.roles import Role  # noqa: E402
from cloud_sync.registry.tokens import ApiTokens  # noqa: E402
from cloud_sync.service.keys import API  # noqa: E402
from cloud_sync.service.launch import CloudProcess, prepare  # noqa: E402
from cloud_sync.service.settings import ServiceSettings  # noqa: E402
from edge_runtime.vision.preprocess import Preprocessor  # noqa: E402
from models.camera.render import render_scene  # noqa: E402
from models.camera.scene import PersonSpec  # noqa: E402
from models.package import MANIFEST, Manifest, sign_package  # noqa: E402
from models.signing import private_key, public_key  # noqa: E402

DEFAULT_MODEL = REPO / "models" / "camera" / "default"
REQUEST_TIMEOUT_S = 30.0
WARMUP_REQUESTS = 20
BASELINE_INVOKES = 500


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def vga_jpeg() -> bytes:
    people = [PersonSpec(x=120 + 200 * i, y=300 + 40 * i, height=190 + 30 * i, pose="standing", helmet=i != 1,
                         vest=True, appearance=i) for i in range(3)]
    ok, data = cv2.imencode(".jpg", render_scene(people, width=640, height=480, seed=3)[0],
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def signed_copy(work: Path) -> tuple[Path, Path]:
    """The shipped package re-signed with a throw-away key, and a trusted-keys file naming only that key."""
    root = work / "package"
    shutil.copytree(DEFAULT_MODEL, root, ignore=shutil.ignore_patterns("signing_key.pub"))
    key, _ = private_key(None)
    sign_package(root, key)
    keys = work / "trusted_model_keys"
    keys.write_text(public_key(key).hex() + "\n")
    return root, keys


def tar_of(root: Path) -> bytes:
    archive = shutil.make_archive(str(root.parent / "package"), "tar", root.parent, root.name)
    return Path(archive).read_bytes()


async def level(session: aiohttp.ClientSession, url: str, headers: dict[str, str], image: bytes, clients: int,
                seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    inference: list[float] = []
    server_total: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=image, headers=headers) as r:
                    body = await r.json()
                    if r.status != 200:
                        errors.append(f"{r.status}: {body.get('error')}")
                        continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - t0)
            inference.append(body["timing_ms"]["inference_ms"] / 1e3)
            server_total.append(body["timing_ms"]["total_ms"] / 1e3)

    t_start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t_start
    return {"p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99),
            "requests_per_s": round(len(latencies) / elapsed, 1), "requests": len(latencies),
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "server_inference_p50_ms": pct(inference, 0.5), "server_total_p50_ms": pct(server_total, 0.5)}


async def load(base: str, token: str, package: Path, image: bytes, levels: list[int],
               seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    auth = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=max(levels))
    async with aiohttp.ClientSession(base, timeout=timeout, connector=connector) as session:
        async with session.post(f"{API}/models", data=tar_of(package),
                                headers={**auth, "Content-Type": "application/x-tar"}) as r:
            registered = await r.json()
            if r.status != 201:
                raise RuntimeError(f"upload refused: {r.status} {registered}")
        url = f"{API}/models/{registered['name']}/{registered['version']}/predict"
        headers = {**auth, "Content-Type": "image/jpeg"}
        first: dict[str, Any] = {}
        for _ in range(WARMUP_REQUESTS):
            async with session.post(url, data=image, headers=headers) as r:
                first = first or await r.json()
        out = {}
        for clients in levels:
            log(f"{clients} client(s) for {seconds:.0f} s")
            out[f"clients_{clients}"] = await level(session, url, headers, image, clients, seconds)
            log(f"  {out[f'clients_{clients}']}")
    return out, first


def baseline_invoke_ms(package: Path, artifact_path: str, image: bytes, threads: int) -> float | None:
    """p50 of a bare LiteRT invoke on the same preprocessed VGA frame (what the service's model costs alone)."""
    from ai_edge_litert.interpreter import Interpreter

    manifest = Manifest.model_validate_json((package / MANIFEST).read_bytes())
    tensor, _ = Preprocessor(manifest.preprocessing, manifest.inputs[0])(cv2.imdecode(np.frombuffer(image, np.uint8),
                                                                                      cv2.IMREAD_COLOR))
    interpreter = Interpreter(model_path=str(package / artifact_path), num_threads=threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    times = []
    for _ in range(BASELINE_INVOKES):
        interpreter.set_tensor(index, tensor)
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - t0)
    return pct(times, 0.5)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    package, keys = signed_copy(work)
    os.environ[TRUSTED_KEYS_ENV] = str(keys)
    settings = ServiceSettings(db_url=f"sqlite:///{work / 'cloud.db'}", data_dir=work / "data", port=0)
    engine = prepare(settings)
    try:
        token = ApiTokens(engine).create("bench", Role.OPERATOR, created_by="bench").token
    finally:
        engine.dispose()
    image = vga_jpeg()
    levels = [int(n) for n in args.levels.split(",")]
    with CloudProcess(settings, log_path=work / "cloud.log") as url:
        log(f"service on {url}")
        result, first = asyncio.run(load(url, token, package, image, levels, args.seconds))
    model = first.get("model", {})
    result["model"] = {k: model.get(k) for k in ("name", "version", "backend", "artifact", "precision")}
    result["detections_per_request"] = len(first.get("detections") or [])
    result["image_bytes"] = len(image)
    if model.get("format") == "tflite":
        result["baseline_invoke_ms"] = baseline_invoke_ms(package, model["artifact"], image, threads=2)
    else:
        result["baseline_invoke_ms"] = None
        result["baseline_note"] = f"the service ran a {model.get('format')} artifact; the baseline times LiteRT only"
    result["target_p99_ms_at_1_client"] = 25
    one = result.get("clients_1", {})
    result["target_met"] = one.get("p99_ms") is not None and one["p99_ms"] < 25
    result["cpus"] = os.cpu_count()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients per level")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siteguard-bench-predict-"))
    try:
        result = run(args, work)
    except Exception as exc:  # noqa: BLE001 - the benchmark always ends with its JSON line
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
