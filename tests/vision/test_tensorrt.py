"""TensorRT: the engine cache, target profiles and the build-or-load plan (pure Python, run everywhere),
and the real engine path (only where ``tensorrt`` and ``pycuda`` import and a GPU is present)."""
from __future__ import annotations

import threading
import time
from typing import ClassVar

import numpy as np
import pytest

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable
from edge_runtime.vision.backends.engine_cache import DeviceProfile, EngineCache, EngineKey, version_tag
from edge_runtime.vision.backends.tensorrt_backend import TensorRTBackend, TensorRTConfig, engine_plan
from models.package import Artifact, Manifest, TensorSpec

ORIN = DeviceProfile("Orin", (8, 7), "10.3.0.30")
SHA = "ab" * 32


def _key(**changes) -> EngineKey:
    fields = {"model_sha256": SHA, "gpu_name": "Orin", "compute_capability": (8, 7), "trt_version": "10.3.0.30",
              "precision": "fp16", "input_shape": (1, 640, 640, 3)}
    fields.update(changes)
    return EngineKey(**fields)


# --------------------------------------------------------------------------- keys and profiles


def test_key_digest_is_stable_and_covers_every_field():
    assert _key().digest() == _key().digest() == EngineKey.for_device(SHA, ORIN, "fp16", (1, 640, 640, 3)).digest()
    variants = [_key(model_sha256="cd" * 32), _key(gpu_name="Xavier"), _key(compute_capability=(7, 2)),
                _key(trt_version="10.4.0"), _key(precision="int8"), _key(input_shape=(1, 320, 320, 3))]
    digests = {v.digest() for v in variants} | {_key().digest()}
    assert len(digests) == len(variants) + 1


def test_key_filename_is_readable():
    name = _key().filename()
    assert name.startswith(SHA[:12] + "-orin-sm87-trt10.3-fp16-") and name.endswith(".engine")
    assert _key(gpu_name="NVIDIA GeForce RTX 3060").filename().split("-sm")[0].endswith("nvidia-geforce-rtx-3060")


def test_device_target_and_matching():
    assert ORIN.target == "orin-sm87-trt10.3" and ORIN.sm == "sm87"
    assert version_tag("10.3.0.30") == "10.3" and version_tag("10") == "10"
    assert ORIN.mismatch("jetson-orin-sm87-trt10.3") is None
    assert ORIN.mismatch("jetson-orin-sm87-trt10") is None  # major only: accepted
    assert "sm72" in ORIN.mismatch("jetson-xavier-sm72-trt10.3")
    assert "TensorRT 8.6" in ORIN.mismatch("orin-sm87-trt8.6")
    assert "TensorRT 10.2" in ORIN.mismatch("orin-sm87-trt10.2")
    assert "does not name" in ORIN.mismatch("cpu")
    assert "does not name" in ORIN.mismatch("jetson")


# --------------------------------------------------------------------------- the cache


def test_put_get_round_trip(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.get(_key()) is None
    path = cache.put(_key(), b"engine-bytes")
    assert path.read_bytes() == b"engine-bytes"
    assert cache.get(_key()) == b"engine-bytes"
    assert cache.get(_key(precision="fp32")) is None
    assert [p.name for p in cache.entries()] == [_key().filename()]


def test_truncated_or_foreign_entry_is_dropped(tmp_path):
    cache = EngineCache(tmp_path)
    path = cache.put(_key(), b"x" * 1000)
    path.write_bytes(b"x" * 10)  # truncated behind the cache's back
    assert cache.get(_key()) is None and not path.exists()
    path = cache.put(_key(), b"y" * 100)
    meta = path.with_name(path.name + ".json")
    meta.write_text(meta.read_text().replace(_key().digest(), "0" * 64))
    assert cache.get(_key()) is None


def test_get_or_build_builds_once(tmp_path):
    cache = EngineCache(tmp_path)
    calls = []

    def build() -> bytes:
        calls.append(1)
        return b"built"

    assert cache.get_or_build(_key(), build) == (b"built", True)
    assert cache.get_or_build(_key(), build) == (b"built", False)
    assert len(calls) == 1


def test_concurrent_builders_build_once(tmp_path):
    """Two workers starting together: the second waits on the lock, then reads the first's engine."""
    calls, results = [], []

    def build() -> bytes:
        calls.append(1)
        time.sleep(0.2)
        return b"engine"

    def worker():
        results.append(EngineCache(tmp_path).get_or_build(_key(), build))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(built for _, built in results) == [False, False, True]


def test_failed_build_caches_nothing(tmp_path):
    cache = EngineCache(tmp_path)

    def fail() -> bytes:
        raise BackendError("build failed")

    with pytest.raises(BackendError):
        cache.get_or_build(_key(), fail)
    assert cache.entries() == []


def test_least_recently_used_are_evicted(tmp_path):
    import os

    cache = EngineCache(tmp_path, max_entries=2)
    keys = [_key(precision=p) for p in ("fp32", "fp16", "int8")]
    for i, key in enumerate(keys[:2]):
        path = cache.put(key, b"e%d" % i)
        os.utime(path, ns=(i * 10**9, i * 10**9))
    cache.get(keys[0])  # used: now the most recent
    cache.put(keys[2], b"e2")
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) == b"e0" and cache.get(keys[2]) == b"e2"


# --------------------------------------------------------------------------- the plan


def _manifest(*artifacts: tuple[str, str]) -> Manifest:
    return Manifest(
        name="m", version="1", task="detection", labels=("a",),
        inputs=(TensorSpec(name="images", shape=(1, 3, 64, 64), dtype="float32"),),
        outputs=(TensorSpec(name="out", shape=(1, 5, 8), dtype="float32"),),
        artifacts=tuple(Artifact(path=f"m{i}.{fmt}", format=fmt, target=t, precision="fp16" if fmt == "tensorrt"
                                 else "fp32", sha256=str(i) * 64) for i, (fmt, t) in enumerate(artifacts)),
    )


def test_plan_uses_a_matching_engine():
    m = _manifest(("tensorrt", "orin-sm87-trt10.3"), ("onnx", "cpu"))
    plan = engine_plan(m, m.artifacts[0], ORIN)
    assert plan.source == "shipped" and plan.artifact.format == "tensorrt"


def test_plan_rebuilds_from_onnx_when_the_engine_is_for_another_gpu():
    m = _manifest(("tensorrt", "xavier-sm72-trt8.5"), ("onnx", "cpu"))
    plan = engine_plan(m, m.artifacts[0], ORIN)
    assert plan.source == "build" and plan.artifact.format == "onnx" and "sm72" in plan.reason
    with pytest.raises(BackendError, match="switched off"):
        engine_plan(m, m.artifacts[1], ORIN, allow_build=False)


def test_plan_without_onnx_to_fall_back_on():
    m = _manifest(("tensorrt", "xavier-sm72-trt8.5"))
    with pytest.raises(BackendError, match="no ONNX to build from"):
        engine_plan(m, m.artifacts[0], ORIN)


def test_plan_builds_from_onnx_only():
    m = _manifest(("onnx", "cpu"))
    assert engine_plan(m, m.artifacts[0], ORIN).source == "build"


def test_config_is_strict():
    assert TensorRTConfig().precision == "fp16"
    with pytest.raises(ValueError):
        TensorRTConfig(precision="int4")
    with pytest.raises(ValueError):
        TensorRTConfig(workspace=1)


def test_unavailable_here_says_why():
    try:
        import pycuda.driver  # noqa: F401
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="(tensorrt|pycuda) not installed"):
            TensorRTBackend.capabilities()


# --------------------------------------------------------------------------- the real engine path (GPU only)


@pytest.fixture(scope="session")  # session: checked before the session-scoped test models get built
def gpu():
    pytest.importorskip("tensorrt", reason="TensorRT is not installed: the engine path runs on Jetson/NVIDIA hosts only")
    pytest.importorskip("pycuda.driver", reason="pycuda is not installed: needed for the TensorRT engine path")
    try:
        TensorRTBackend.capabilities()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.tensorrt
def test_engine_built_from_onnx_agrees_with_onnxruntime(gpu, vision_models, tmp_path):
    from edge_runtime.vision.backends.registry import Registry
    from edge_runtime.vision.model_runner import ModelRunner
    from tests.vision.conftest import sample_image

    registry = Registry()
    config = {"precision": "fp32", "cache_dir": str(tmp_path)}
    trt = ModelRunner.load(vision_models.yolo_nchw, backend="tensorrt", config=config, registry=registry,
                           require_signature=False)
    assert trt.backend.engine_source == "built" and trt.lineage.backend == "tensorrt"
    ort = ModelRunner.load(vision_models.yolo_nchw, backend="onnxruntime", registry=registry, require_signature=False)
    frame = sample_image(3, (480, 640))
    np.testing.assert_allclose(trt.raw(frame)[0][1], ort.raw(frame)[0][1], atol=1e-3)
    trt.close()
    again = ModelRunner.load(vision_models.yolo_nchw, backend="tensorrt", config=config, registry=registry,
                             require_signature=False)
    assert again.backend.engine_source == "cache"
    fp16 = ModelRunner.load(vision_models.yolo_nchw, backend="tensorrt", registry=registry, require_signature=False,
                            config={"precision": "fp16", "cache_dir": str(tmp_path)})
    np.testing.assert_allclose(fp16.raw(frame)[0][1], ort.raw(frame)[0][1], atol=2e-2)


@pytest.mark.tensorrt
def test_int8_without_calibration_cache_is_refused(gpu, vision_models, tmp_path):
    from edge_runtime.vision.model_runner import ModelRunner

    with pytest.raises(BackendError, match="calibration cache"):
        ModelRunner.load(vision_models.yolo_nchw, backend="tensorrt", require_signature=False,
                         config={"precision": "int8", "cache_dir": str(tmp_path)})


# --------------------------------------------------------------------------- the plumbing, on a fake runtime
#
# No GPU here: a fake ``tensorrt`` + ``pycuda.driver`` pair (the subset the back-end uses), injected through the
# back-end's constructor, checks the plumbing - plan, build, cache, deserialise, buffers, copies, stream, context
# push/pop, output order, close. Its "engine" runs the ONNX with ONNX Runtime on bytes copied through fake device
# memory. The real API is exercised by the GPU tests above.


class _FakeDevice:
    memory: ClassVar[dict[int, bytearray]] = {}

    @staticmethod
    def count() -> int:
        return 1

    def __init__(self, index: int) -> None:
        self.index = index

    def name(self) -> str:
        return "Orin"

    def compute_capability(self) -> tuple[int, int]:
        return (8, 7)

    def retain_primary_context(self) -> _FakeContext:
        return _FakeContext()


class _FakeContext:
    depth = 0  # the context stack, shared like the real one
    attached = 0

    def __init__(self) -> None:
        type(self).attached += 1

    def push(self) -> None:
        type(self).depth += 1

    @staticmethod
    def pop() -> None:
        assert _FakeContext.depth > 0, "pop without push"
        _FakeContext.depth -= 1

    def detach(self) -> None:
        type(self).attached -= 1


class _FakeAlloc:
    next_ptr = 1 << 20

    def __init__(self, nbytes: int) -> None:
        self.ptr = _FakeAlloc.next_ptr
        _FakeAlloc.next_ptr += 1 << 20
        _FakeDevice.memory[self.ptr] = bytearray(nbytes)

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        _FakeDevice.memory.pop(self.ptr)


class _FakeStream:
    handle = 1234
    synced = 0

    def synchronize(self) -> None:
        _FakeStream.synced += 1


class FakeCuda:
    Device = _FakeDevice
    Stream = _FakeStream
    Error = RuntimeError

    @staticmethod
    def init() -> None:
        pass

    @staticmethod
    def pagelocked_empty(shape, dtype):
        return np.empty(shape, dtype)

    @staticmethod
    def mem_alloc(nbytes: int) -> _FakeAlloc:
        assert _FakeContext.depth > 0, "allocation without a current context"
        return _FakeAlloc(nbytes)

    @staticmethod
    def memcpy_htod_async(dev, host, stream) -> None:
        assert _FakeContext.depth > 0
        _FakeDevice.memory[int(dev)][:] = np.ascontiguousarray(host).tobytes()

    @staticmethod
    def memcpy_dtoh_async(host, dev, stream) -> None:
        assert _FakeContext.depth > 0
        host[...] = np.frombuffer(bytes(_FakeDevice.memory[int(dev)]), host.dtype).reshape(host.shape)


MAGIC = b"FAKE-ENGINE:"


class _Dims(tuple):
    """trt.Dims: a sequence of ints."""


class _FakeEngine:
    def __init__(self, onnx_bytes: bytes) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        # outputs listed before the input, reversed: the back-end must not rely on TensorRT's order
        self.io = [(o.name, "out", tuple(o.shape)) for o in self.session.get_outputs()][::-1] + [
            (i.name, "in", tuple(d if isinstance(d, int) else -1 for d in i.shape)) for i in self.session.get_inputs()]

    num_io_tensors = property(lambda self: len(self.io))

    def get_tensor_name(self, i: int) -> str:
        return self.io[i][0]

    def get_tensor_mode(self, name: str) -> str:
        return next(m for n, m, _ in self.io if n == name)

    def get_tensor_shape(self, name: str) -> tuple:
        return _Dims(next(s for n, _, s in self.io if n == name))

    def get_tensor_dtype(self, name: str):
        return np.float32

    def create_execution_context(self) -> _FakeExecution:
        return _FakeExecution(self)


class _FakeExecution:
    def __init__(self, engine: _FakeEngine) -> None:
        self.engine, self.addresses, self.shapes = engine, {}, {}

    def set_input_shape(self, name: str, shape) -> None:
        self.shapes[name] = tuple(shape)

    def get_tensor_shape(self, name: str):
        return self.shapes.get(name, self.engine.get_tensor_shape(name))

    def set_tensor_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = ptr

    def execute_async_v3(self, stream_handle: int) -> bool:
        assert _FakeContext.depth > 0 and stream_handle == _FakeStream.handle
        name = next(n for n, m, _ in self.engine.io if m == "in")
        shape = self.get_tensor_shape(name)
        x = np.frombuffer(bytes(_FakeDevice.memory[self.addresses[name]]), np.float32).reshape(shape)
        outs = self.engine.session.run(None, {name: x})
        for o, value in zip(self.engine.session.get_outputs(), outs):
            _FakeDevice.memory[self.addresses[o.name]][:] = np.ascontiguousarray(value, np.float32).tobytes()
        return True


class FakeTrt:
    __version__ = "10.3.0.30"
    built: ClassVar[list[dict]] = []

    class TensorIOMode:
        INPUT = "in"
        OUTPUT = "out"

    class ILogger:
        class Severity:
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self) -> None:
            pass

    class MemoryPoolType:
        WORKSPACE = "workspace"

    class BuilderFlag:
        FP16, INT8 = "fp16", "int8"

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass

    @staticmethod
    def nptype(dtype):
        return dtype

    class Runtime:
        def __init__(self, logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes):
            return _FakeEngine(data[len(MAGIC):]) if data.startswith(MAGIC) else None

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            self.network, self.errors = network, []

        def parse(self, data: bytes) -> bool:
            try:
                self.network.engine = _FakeEngine(data)
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"In node -1: {exc}")
                return False
            self.network.onnx = data
            return True

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, i: int) -> str:
            return self.errors[i]

    class Builder:
        platform_has_fast_fp16 = True

        def __init__(self, logger) -> None:
            self.logger = logger

        def create_network(self, flags: int):
            assert flags == 0
            return _FakeNetwork()

        def create_builder_config(self):
            return _FakeBuilderConfig()

        def create_optimization_profile(self):
            raise AssertionError("static test models need no profile")

        def build_serialized_network(self, network, config):
            calibrator = config.int8_calibrator
            FakeTrt.built.append({"flags": set(config.flags), "pool": dict(config.pools),
                                  "calibration": calibrator.read_calibration_cache() if calibrator else None})
            return MAGIC + network.onnx


class _FakeNetwork:
    onnx = b""

    @property
    def num_inputs(self) -> int:
        return len([1 for _, m, _ in self.engine.io if m == "in"])

    def get_input(self, i: int):
        name, _, shape = [t for t in self.engine.io if t[1] == "in"][i]
        return type("Input", (), {"name": name, "shape": _Dims(shape)})()


class _FakeBuilderConfig:
    def __init__(self) -> None:
        self.flags, self.pools, self.int8_calibrator = set(), {}, None

    def set_memory_pool_limit(self, pool, size: int) -> None:
        self.pools[pool] = size

    def set_flag(self, flag) -> None:
        self.flags.add(flag)


@pytest.fixture
def fake_trt():
    _FakeContext.depth = _FakeContext.attached = 0
    FakeTrt.built = []
    yield (FakeTrt, FakeCuda)
    assert _FakeContext.depth == 0, "a CUDA context was left pushed"


def _fake_backend(fake, tmp_path, **config):
    return TensorRTBackend(TensorRTConfig(cache_dir=str(tmp_path / "engines"), **config), runtime=fake)


def test_fake_build_from_onnx_then_cache(fake_trt, vision_models, tmp_path):
    from models.package import load_package
    from tests.vision.conftest import sample_image

    package = load_package(vision_models.ssd)
    onnx = package.manifest.artifact("onnx")
    backend = _fake_backend(fake_trt, tmp_path, workspace_mb=64)
    backend.load(package, onnx)
    assert backend.engine_source == "built"
    assert FakeTrt.built == [{"flags": {"fp16"}, "pool": {"workspace": 64 << 20}, "calibration": None}]
    from edge_runtime.vision.backends.registry import Registry
    from edge_runtime.vision.preprocess import Preprocessor

    m = package.manifest
    x = Preprocessor(m.preprocessing, m.inputs[0])(sample_image(1, (480, 640)))[0]
    ort = Registry().create_backend("onnxruntime")
    ort.load(package, onnx)
    got, want = backend.infer(x), ort.infer(x)
    assert [g.shape for g in got] == [(1, 64, 4), (1, 64, 3)]  # manifest order, whatever the engine's order
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6)
    backend.close()
    assert _FakeDevice.memory == {} and _FakeContext.attached == 0
    with pytest.raises(BackendError, match="no model loaded"):
        backend.infer(x)
    again = _fake_backend(fake_trt, tmp_path)
    again.load(package, onnx)
    assert again.engine_source == "cache" and len(FakeTrt.built) == 1
    again.close()


def test_fake_shipped_engine_for_this_gpu_and_for_another(fake_trt, vision_models, tmp_path):
    import json
    import shutil

    from models.package import load_package, sha256_file

    root = tmp_path / "pkg"
    shutil.copytree(vision_models.yolo, root)
    (root / "manifest.sig").unlink()
    (root / "orin.engine").write_bytes(MAGIC + (root / "yolo.onnx").read_bytes())
    (root / "xavier.engine").write_bytes(b"an engine for another GPU")
    manifest = json.loads((root / "manifest.json").read_text())
    for name, target in (("orin.engine", "jetson-orin-sm87-trt10.3"), ("xavier.engine", "jetson-xavier-sm72-trt8.5")):
        manifest["artifacts"].append({"path": name, "format": "tensorrt", "precision": "fp16", "target": target,
                                      "sha256": sha256_file(root / name)})
    (root / "manifest.json").write_text(json.dumps(manifest))
    package = load_package(root)
    shipped = _fake_backend(fake_trt, tmp_path)
    shipped.load(package, package.manifest.artifact("tensorrt"))
    assert shipped.engine_source == "shipped" and FakeTrt.built == []
    rebuilt = _fake_backend(fake_trt, tmp_path)
    rebuilt.load(package, next(a for a in package.manifest.artifacts if a.path == "xavier.engine"))
    assert rebuilt.engine_source == "built"
    x = np.random.RandomState(0).uniform(0, 1, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(shipped.infer(x)[0], rebuilt.infer(x)[0])
    shipped.close()
    rebuilt.close()


def test_fake_corrupt_engine_and_bad_onnx_are_clear_errors(fake_trt, vision_models, tmp_path):
    import json
    import shutil

    from models.package import load_package, sha256_file

    root = tmp_path / "pkg"
    shutil.copytree(vision_models.yolo, root)
    (root / "manifest.sig").unlink()
    (root / "bad.engine").write_bytes(b"garbage")
    (root / "yolo.onnx").write_bytes(b"not onnx")
    manifest = json.loads((root / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        art["sha256"] = sha256_file(root / art["path"])
    manifest["artifacts"].append({"path": "bad.engine", "format": "tensorrt", "target": "orin-sm87-trt10.3",
                                  "sha256": sha256_file(root / "bad.engine")})
    (root / "manifest.json").write_text(json.dumps(manifest))
    package = load_package(root)
    with pytest.raises(BackendError, match="ONNX parser: In node"):  # the bad engine, then the bad ONNX
        _fake_backend(fake_trt, tmp_path).load(package, package.manifest.artifact("tensorrt"))
    with pytest.raises(BackendError, match="ONNX parser: In node"):
        _fake_backend(fake_trt, tmp_path).load(package, package.manifest.artifact("onnx"))
    with pytest.raises(BackendError, match="could not deserialise"):
        _fake_backend(fake_trt, tmp_path, build_from_onnx=False).load(package, package.manifest.artifact("tensorrt"))
    assert _FakeContext.attached == 0 and _FakeDevice.memory == {}


def test_fake_engine_that_does_not_deserialise_is_rebuilt(fake_trt, vision_models, tmp_path):
    """A shipped engine whose target says this GPU but which TensorRT refuses: built afresh from the ONNX;
    likewise a cache entry that no longer deserialises."""
    import json
    import shutil

    from models.package import load_package, sha256_file

    root = tmp_path / "pkg"
    shutil.copytree(vision_models.yolo, root)
    (root / "manifest.sig").unlink()
    (root / "liar.engine").write_bytes(b"built for something else")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["artifacts"].append({"path": "liar.engine", "format": "tensorrt", "target": "orin-sm87-trt10.3",
                                  "sha256": sha256_file(root / "liar.engine")})
    (root / "manifest.json").write_text(json.dumps(manifest))
    package = load_package(root)
    backend = _fake_backend(fake_trt, tmp_path)
    backend.load(package, package.manifest.artifact("tensorrt"))
    assert backend.engine_source == "built" and len(FakeTrt.built) == 1
    backend.close()
    cache = EngineCache(tmp_path / "engines")
    (entry,) = cache.entries()
    entry.write_bytes(b"stale")  # and its sidecar hash too, as a driver update would leave it valid but useless
    meta = entry.with_name(entry.name + ".json")
    import hashlib

    meta.write_text(meta.read_text().replace(json.loads(meta.read_text())["sha256"], hashlib.sha256(b"stale").hexdigest()))
    again = _fake_backend(fake_trt, tmp_path)
    again.load(package, package.manifest.artifact("onnx"))
    assert again.engine_source == "built" and len(FakeTrt.built) == 2
    again.close()


def test_fake_int8_replays_the_calibration_cache(fake_trt, vision_models, tmp_path):
    from models.package import load_package

    package = load_package(vision_models.yolo)
    with pytest.raises(BackendError, match="int8 needs a calibration cache"):
        _fake_backend(fake_trt, tmp_path, precision="int8").load(package, package.manifest.artifact("onnx"))
    calib = tmp_path / "calib.cache"
    calib.write_bytes(b"TRT-8601-EntropyCalibration2\n")
    backend = _fake_backend(fake_trt, tmp_path, precision="int8", calibration_cache=str(calib))
    backend.load(package, package.manifest.artifact("onnx"))
    assert FakeTrt.built[-1]["flags"] == {"fp16", "int8"} and FakeTrt.built[-1]["calibration"] == calib.read_bytes()
    backend.close()


def test_fake_wrong_input_shape(fake_trt, vision_models, tmp_path):
    from models.package import ModelPackage, load_package

    package = load_package(vision_models.yolo)
    spec = package.manifest.inputs[0].model_copy(update={"shape": (1, 32, 32, 3)})
    wrong = ModelPackage(package.root, package.manifest.model_copy(update={"inputs": (spec,)}), None)
    with pytest.raises(BackendError, match=r"model input \(1, 64, 64, 3\) does not match"):
        _fake_backend(fake_trt, tmp_path).load(wrong, wrong.manifest.artifact("onnx"))
