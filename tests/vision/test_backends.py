"""Back-end plugins: discovery, availability, choice, and every runtime agreeing on the same model."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable, Capabilities, InferenceBackend
from edge_runtime.vision.backends.registry import (
    Quantizer,
    Registry,
    check_input,
    discover,
    order_outputs,
    shape_matches,
)
from edge_runtime.vision.preprocess import Preprocessor
from models.package import Artifact, Manifest, TensorSpec, load_package
from tests.vision.conftest import INPUT_HW, sample_image

FP32_ATOL = 1e-4  # LiteRT fp32 vs ONNX Runtime: same weights, different kernels
INT8_ATOL = 0.05  # int8 vs fp32 on sigmoid outputs / raw box encodings of the test nets

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")


def _inputs(package_path: Path, n: int = 4) -> list[np.ndarray]:
    manifest = load_package(package_path).manifest
    pre = Preprocessor(manifest.preprocessing, manifest.inputs[0])
    frames = [sample_image(i, (480, 640)) for i in range(n - 1)] + [sample_image(99, INPUT_HW)]
    return [pre(f)[0].copy() for f in frames]


def _loaded(registry: Registry, package_path: Path, preferred: str, config: dict | None = None) -> InferenceBackend:
    package = load_package(package_path)
    key, artifact = registry.choose(package, preferred)
    backend = registry.create_backend(key, config)
    backend.load(package, artifact)
    return backend


@pytest.fixture
def registry() -> Registry:
    return Registry()


# --------------------------------------------------------------------------- discovery and availability


def test_discovery_finds_one_plugin_per_module():
    assert {"litert", "onnxruntime", "tensorrt"} <= set(discover())


def test_every_plugin_declares_key_config_and_docs(registry):
    """hassfest-style uniformity: a key, a strict config model whose ``type`` is the key, a docstring."""
    for key in registry.loaders:
        cls = registry.backend_class(key)
        module = importlib.import_module(cls.__module__)
        assert cls.key == key == module.KEY
        assert module.__doc__ and module.__doc__.strip(), f"{module.__name__} has no docstring"
        config = cls.config_model
        assert issubclass(config, BaseModel)
        assert config.model_config.get("extra") == "forbid", f"{config.__name__} must forbid unknown keys"
        assert config().type == key
        for name, field in config.model_fields.items():
            assert field.description, f"{config.__name__}.{name} has no description"


def test_available_backends_says_why_not(registry):
    available = registry.available_backends()
    assert isinstance(available["litert"], Capabilities)
    assert available["litert"].formats == ("tflite",)
    assert isinstance(available["onnxruntime"], Capabilities)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert available["tensorrt"] == "tensorrt not installed"


def test_importing_the_registry_loads_no_runtime():
    import subprocess
    import sys

    code = (
        "import sys; import edge_runtime.vision.backends.registry as r; r.discover(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnxruntime','ai_edge_litert','tensorrt','tensorflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_runtime_is_a_reason_not_a_crash():
    """A registry entry whose import fails (injected, no sys.modules patching)."""

    def ghost():
        return importlib.import_module("siteguard_ghost_runtime").BACKEND

    reg = Registry({**discover(), "ghost": ghost})
    available = reg.available_backends()
    assert "siteguard_ghost_runtime" in available["ghost"]
    assert isinstance(available["litert"], Capabilities)
    with pytest.raises(BackendUnavailable, match="ghost.*siteguard_ghost_runtime"):
        reg.create_backend("ghost")


def test_unknown_backend_names_the_known_ones(registry):
    with pytest.raises(BackendError, match="unknown inference back-end 'nope'.*litert"):
        registry.create_backend("nope")


def test_config_is_validated_and_typos_name_the_key(registry):
    backend = registry.create_backend("litert", {"num_threads": 1, "use_xnnpack": False})
    assert backend.config.num_threads == 1 and backend.config.use_xnnpack is False
    with pytest.raises(BackendError, match="litert config: num_thread"):
        registry.create_backend("litert", {"num_thread": 1})


# --------------------------------------------------------------------------- choice


def _manifest(*artifacts: tuple[str, str, str]) -> Manifest:
    return Manifest(
        name="m",
        version="1",
        task="detection",
        labels=("a",),
        inputs=(TensorSpec(name="x", shape=(1, 8, 8, 3), dtype="float32"),),
        outputs=(TensorSpec(name="y", shape=(1, 5, 4), dtype="float32"),),
        artifacts=tuple(Artifact(path=f"{i}.{fmt}", format=fmt, precision=p, target=t, sha256="0" * 64)
                        for i, (fmt, p, t) in enumerate(artifacts)),
    )


def _fake(key: str, caps: Capabilities, gpu_sm: str | None = None) -> type[InferenceBackend]:
    """A plugin that only declares capabilities: stands in for GPU runtimes this machine lacks."""

    class Fake(InferenceBackend):
        @classmethod
        def capabilities(cls) -> Capabilities:
            return caps

        @classmethod
        def artifact_mismatch(cls, artifact: Artifact) -> str | None:
            if artifact.format == "tensorrt" and gpu_sm not in artifact.target:
                return f"built for {artifact.target}"
            return None

        def load(self, package, artifact):
            raise AssertionError("not loaded in choice tests")

        def infer(self, tensor):
            raise AssertionError

    Fake.key = key
    return Fake


FAKE_TRT = Capabilities(formats=("tensorrt", "onnx"), dtypes=("float32",), accelerator="tensorrt")
FAKE_ORT_GPU = Capabilities(formats=("onnx",), dtypes=("float32",), accelerator="cuda")
FAKE_ORT_CPU = Capabilities(formats=("onnx",), dtypes=("float32",), accelerator="cpu")
FAKE_LITERT = Capabilities(formats=("tflite",), dtypes=("float32", "int8"), accelerator="xnnpack")
EVERYTHING = _manifest(
    ("tflite", "fp32", "cpu"), ("tflite", "int8", "cpu"), ("onnx", "fp32", "cpu"),
    ("tensorrt", "fp16", "orin-sm87-trt10.3"), ("tensorrt", "fp16", "xavier-sm72-trt8.5"),
)


def _fake_registry(machine: str = "x86_64", **caps: Capabilities) -> Registry:
    return Registry({k: (lambda c=c, k=k: _fake(k, c, gpu_sm="sm87")) for k, c in caps.items()}, machine=machine)


def test_choice_order_engine_then_gpu_onnx_then_litert():
    reg = _fake_registry(tensorrt=FAKE_TRT, onnxruntime=FAKE_ORT_GPU, litert=FAKE_LITERT)
    key, art = reg.choose(EVERYTHING)
    assert (key, art.target) == ("tensorrt", "orin-sm87-trt10.3")  # the engine for this GPU, not the Xavier one
    only_onnx = _manifest(("onnx", "fp32", "cpu"), ("tflite", "fp32", "cpu"))
    assert reg.choose(only_onnx)[0] == "tensorrt"  # builds and caches an engine from the ONNX
    reg = _fake_registry(onnxruntime=FAKE_ORT_GPU, litert=FAKE_LITERT)
    assert reg.choose(EVERYTHING)[0] == "onnxruntime"
    reg = _fake_registry(onnxruntime=FAKE_ORT_CPU, litert=FAKE_LITERT)
    assert reg.choose(EVERYTHING)[0] == "litert"


def test_litert_precision_int8_on_arm_float_on_x86():
    for machine, precision in (("aarch64", "int8"), ("armv7l", "int8"), ("x86_64", "fp32")):
        reg = _fake_registry(machine, litert=FAKE_LITERT)
        assert reg.choose(EVERYTHING)[1].precision == precision, machine


def test_engine_for_another_gpu_is_not_chosen():
    reg = _fake_registry(tensorrt=FAKE_TRT)
    only_xavier = _manifest(("tensorrt", "fp16", "xavier-sm72-trt8.5"))
    with pytest.raises(BackendUnavailable, match="built for xavier-sm72"):
        reg.choose(only_xavier)


def test_preferred_overrides_the_ranking():
    reg = _fake_registry(tensorrt=FAKE_TRT, onnxruntime=FAKE_ORT_GPU, litert=FAKE_LITERT)
    assert reg.choose(EVERYTHING, "onnxruntime")[0] == "onnxruntime"
    key, art = reg.choose(EVERYTHING, "litert:int8")
    assert (key, art.precision) == ("litert", "int8")
    with pytest.raises(BackendError, match="no fp16 artifact for litert"):
        reg.choose(EVERYTHING, "litert:fp16")
    with pytest.raises(BackendError, match="cannot run this package"):
        reg.choose(_manifest(("onnx", "fp32", "cpu")), "litert")


def test_preferred_but_unavailable(registry, vision_models):
    package = load_package(vision_models.yolo)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="tensorrt: tensorrt not installed"):
            registry.choose(package, "tensorrt")


def test_real_registry_here_picks_litert_fp32(registry, vision_models):
    key, artifact = Registry(registry.loaders, machine="x86_64").choose(load_package(vision_models.yolo))
    assert (key, artifact.format, artifact.precision) == ("litert", "tflite", "fp32")
    key, artifact = Registry(registry.loaders, machine="aarch64").choose(load_package(vision_models.yolo))
    assert (key, artifact.precision) == ("litert", "int8")


# --------------------------------------------------------------------------- the runtimes agree


@pytest.mark.parametrize("model", ["yolo", "ssd"])
def test_litert_fp32_and_onnxruntime_agree(registry, vision_models, model):
    path = getattr(vision_models, model)
    lite = _loaded(registry, path, "litert:fp32")
    ort = _loaded(registry, path, "onnxruntime")
    for x in _inputs(path):
        a, b = lite.infer(x), ort.infer(x)
        assert [o.shape for o in a] == [o.shape for o in b] == [s.shape for s in load_package(path).manifest.outputs]
        for oa, ob in zip(a, b):
            assert oa.dtype == ob.dtype == np.float32
            np.testing.assert_allclose(oa, ob, atol=FP32_ATOL)


@pytest.mark.parametrize("model", ["yolo", "ssd"])
def test_litert_int8_agrees_with_fp32_within_quantisation(registry, vision_models, model):
    path = getattr(vision_models, model)
    fp32 = _loaded(registry, path, "litert:fp32")
    int8 = _loaded(registry, path, "litert:int8")
    assert int8.input_quantization is not None and int8.input_quantization.dtype == np.int8
    for x in _inputs(path):
        for a, b in zip(fp32.infer(x), int8.infer(x)):
            assert b.dtype == np.float32  # dequantised
            np.testing.assert_allclose(a, b, atol=INT8_ATOL)
            assert float(np.abs(a - b).mean()) < INT8_ATOL / 4


def test_xnnpack_off_gives_the_same_numbers(registry, vision_models):
    on = _loaded(registry, vision_models.yolo, "litert:fp32")
    off = _loaded(registry, vision_models.yolo, "litert:fp32", {"use_xnnpack": False, "num_threads": 1})
    for x in _inputs(vision_models.yolo, 2):
        np.testing.assert_allclose(on.infer(x)[0], off.infer(x)[0], atol=1e-5)


def test_nchw_onnx_agrees_with_nhwc(registry, vision_models):
    frame = sample_image(7, (480, 640))
    outputs = []
    for path in (vision_models.yolo, vision_models.yolo_nchw):
        m = load_package(path).manifest
        tensor = Preprocessor(m.preprocessing, m.inputs[0])(frame)[0]
        outputs.append(_loaded(registry, path, "onnxruntime").infer(tensor)[0])
    np.testing.assert_allclose(outputs[0], outputs[1], atol=FP32_ATOL)


def test_outputs_follow_manifest_order_whatever_the_runtime_order(registry, vision_models, tmp_path):
    """The SSD manifest lists boxes then scores; reversed, every back-end reverses its outputs too."""
    import json

    root = tmp_path / "ssd"
    shutil.copytree(vision_models.ssd, root)
    (root / "manifest.sig").unlink()
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["outputs"].reverse()
    (root / "manifest.json").write_text(json.dumps(manifest))
    x = _inputs(vision_models.ssd, 1)[0]
    for preferred in ("litert:fp32", "litert:int8", "onnxruntime"):
        straight = _loaded(registry, vision_models.ssd, preferred).infer(x)
        reversed_ = _loaded(registry, root, preferred).infer(x)
        assert [o.shape for o in reversed_] == [o.shape for o in straight[::-1]]
        np.testing.assert_allclose(reversed_[0], straight[1])


def test_infer_checks_the_input_shape(registry, vision_models):
    for preferred in ("litert", "onnxruntime"):
        backend = _loaded(registry, vision_models.yolo, preferred)
        with pytest.raises(BackendError):
            backend.infer(np.zeros((1, 32, 32, 3), np.float32))


def test_closed_backend_refuses_to_run(registry, vision_models):
    for preferred in ("litert", "onnxruntime"):
        backend = _loaded(registry, vision_models.yolo, preferred)
        backend.close()
        with pytest.raises(BackendError, match="no model loaded"):
            backend.infer(np.zeros((1, *INPUT_HW, 3), np.float32))


def test_onnxruntime_providers_cpu_always_last(registry):
    backend = registry.create_backend("onnxruntime")
    assert backend.providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    names = [p[0] if isinstance(p, tuple) else p for p in backend.providers(gpu)]
    assert names == gpu
    cpu_only = registry.create_backend("onnxruntime", {"use_gpu": False})
    assert cpu_only.providers(gpu) == ["CPUExecutionProvider"]
    cuda_only = registry.create_backend("onnxruntime", {"providers": ["CUDAExecutionProvider"]})
    assert [p[0] if isinstance(p, tuple) else p for p in cuda_only.providers(gpu)] == gpu[1:]


# --------------------------------------------------------------------------- bad model files


def _package_with(tmp_path: Path, source: Path, mutate) -> Path:
    """A copy of ``source`` whose artifacts are mutated and re-hashed (so only the runtime can object)."""
    import json

    from models.package import sha256_file

    root = tmp_path / source.name
    shutil.copytree(source, root)
    (root / "manifest.sig").unlink()
    manifest = json.loads((root / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        path = root / art["path"]
        mutate(path)
        art["sha256"] = sha256_file(path)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:64] = bytes(range(64))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("mutate", [_truncate, _corrupt], ids=["truncated", "corrupt"])
@pytest.mark.parametrize("preferred", ["litert:fp32", "litert:int8", "onnxruntime"])
def test_bad_model_file_is_a_clear_backend_error(registry, vision_models, tmp_path, mutate, preferred):
    root = _package_with(tmp_path, vision_models.yolo, mutate)
    with pytest.raises(BackendError, match=r"not a loadable (TFLite|ONNX) model"):
        _loaded(registry, root, preferred)


@pytest.mark.parametrize("preferred", ["litert:fp32", "litert:int8", "onnxruntime"])
def test_wrong_input_shape_is_a_clear_backend_error(registry, vision_models, tmp_path, preferred):
    import json

    root = tmp_path / "yolo"
    shutil.copytree(vision_models.yolo, root)
    (root / "manifest.sig").unlink()
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["inputs"][0]["shape"] = [1, 96, 96, 3]
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackendError, match=r"model input \(1, 64, 64, 3\) does not match the manifest's images \(1, 96, 96, 3\)"):
        _loaded(registry, root, preferred)


# --------------------------------------------------------------------------- bare model files


def test_describe_bare_models(registry, vision_models):
    tfl = registry.describe(vision_models.files / "ssd_int8.tflite")
    assert sorted(o.name for o in tfl.outputs) == ["boxes", "scores"]  # the signature's names
    assert tfl.inputs[0].dtype == "int8" and tfl.inputs[0].shape == (1, *INPUT_HW, 3)
    assert tfl.quantization[tfl.inputs[0].name][0] == pytest.approx(1 / 255, rel=1e-3)
    onnx = registry.describe(vision_models.files / "yolo_nchw.onnx")
    assert onnx.inputs[0].shape == (1, 3, *INPUT_HW) and onnx.outputs[0].shape == (1, 7, 64)
    with pytest.raises(BackendError, match="unknown model file type"):
        registry.describe(vision_models.files / "model.pt")


# --------------------------------------------------------------------------- shared helpers


def test_shape_and_input_checks():
    assert shape_matches((1, -1, 4), (1, 100, 4)) and shape_matches((1, 8, 4), (1, None, 4))
    assert not shape_matches((1, 8, 4), (1, 8)) and not shape_matches((1, 8, 4), (1, 9, 4))
    spec = TensorSpec(name="x", shape=(1, 8, 8, 3), dtype="float32")
    check_input(spec, (1, 8, 8, 3), "int8", (0.5, -3))
    with pytest.raises(BackendError, match="no quantisation scale"):
        check_input(spec, (1, 8, 8, 3), "uint8", None)
    with pytest.raises(BackendError, match="does not match"):
        check_input(spec, (1, 3, 8, 8), "float32", None)


def test_order_outputs_by_name_then_shape():
    specs = [TensorSpec(name="boxes", shape=(1, 10, 4), dtype="float32"),
             TensorSpec(name="scores", shape=(1, 10, 3), dtype="float32")]
    assert order_outputs(specs, ["scores", "boxes"], [(1, 10, 3), (1, 10, 4)]) == [1, 0]
    assert order_outputs(specs, ["Identity_1", "Identity"], [(1, 10, 3), (1, 10, 4)]) == [1, 0]
    with pytest.raises(BackendError, match="2 outputs, the manifest lists 1"):
        order_outputs(specs[:1], ["a", "b"], [(1,), (1,)])
    with pytest.raises(BackendError, match="does not match the manifest's boxes"):
        order_outputs(specs, ["boxes", "scores"], [(1, 10, 5), (1, 10, 3)])


def test_quantizer_round_trip_and_saturation():
    q = Quantizer(1 / 255, -128, np.dtype(np.int8))
    x = np.array([0.0, 0.5, 1.0, 2.0, -1.0], np.float32)
    assert q.quantize(x).tolist() == [-128, 0, 127, 127, -128]
    np.testing.assert_allclose(q.dequantize(q.quantize(x[:3])), x[:3], atol=1 / 255)
