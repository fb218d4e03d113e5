"""Camera model packages that misbehave on the device, built for real from the shipped default model.

Each is the default's ONNX graph with a few nodes added (``onnx`` only; no
TensorFlow), in a package signed with the tests' key, so the real worker
runs it with ONNX Runtime:

- :func:`blind`: class scores multiplied by zero: loads, runs and detects nothing;
- :func:`slow`: a chain of full-resolution 3x3 convolutions whose result is added times zero to the
  output: the same detections, tens of times the default's inference time;
- :func:`crashing`: correct outputs for its first ``good_runs`` inferences per session, then outputs
  of the wrong shape (the decoder refuses them and the worker dies). The shape is chosen by a seeded
  ``RandomUniform`` node, whose generator ONNX Runtime keeps in the session: deterministic, and it
  passes the warm-up and the swap's test inference like a model that fails only on some live frames.

:func:`resigned` is a good candidate: the default's artifacts under a new version.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tests.vision.conftest import TEST_KEY_SEED

if TYPE_CHECKING:
    import onnx

Edit = Callable[["onnx.ModelProto"], None]


def signing_public_key() -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Ed25519PrivateKey.from_private_bytes(TEST_KEY_SEED).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _write(dst: Path, manifest: dict, src_version: str) -> Path:
    from models.package import Manifest, sign_package, write_manifest

    manifest["parent_version"] = src_version
    write_manifest(dst, Manifest.model_validate(manifest))
    sign_package(dst, TEST_KEY_SEED)
    return dst


def resigned(src: Path, dst: Path, version: str, formats: tuple[str, ...] = ("onnx", "tflite")) -> Path:
    """The artifacts of ``src`` in ``formats`` under ``version``, signed by the test key."""
    manifest = json.loads((src / "manifest.json").read_text())
    kept = [a for a in manifest["artifacts"] if a["format"] in formats]
    dst.mkdir(parents=True)
    for art in kept:
        shutil.copyfile(src / art["path"], dst / art["path"])
    parent = manifest["version"]
    manifest.update(version=version, artifacts=kept,
                    checks={k: v for k, v in manifest.get("checks", {}).items() if any(a["path"] == k for a in kept)})
    return _write(dst, manifest, parent)


def onnx_variant(src: Path, dst: Path, version: str, edit: Edit | None = None) -> Path:
    """A package of ``src``'s ONNX artifact alone (so ONNX Runtime runs it), its graph changed by ``edit``."""
    import onnx

    from models.package import sha256_file

    art = next(a for a in json.loads((src / "manifest.json").read_text())["artifacts"] if a["format"] == "onnx")
    model = onnx.load(str(src / art["path"]))
    if edit is not None:
        edit(model)
        onnx.checker.check_model(model)
    resigned(src, dst, version, formats=("onnx",))
    onnx.save(model, str(dst / art["path"]))
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["artifacts"][0]["sha256"] = sha256_file(dst / art["path"])
    return _write(dst, manifest, manifest["parent_version"])


def _reroute_output(model: onnx.ModelProto) -> tuple[str, str]:
    """Renames the graph output's producer to ``<name>_inner``; returns (output name, inner name)."""
    out = model.graph.output[0].name
    inner = f"{out}_inner"
    for node in model.graph.node:
        node.output[:] = [inner if o == out else o for o in node.output]
    return out, inner


def _const(model: onnx.ModelProto, name: str, value: np.ndarray) -> str:
    from onnx import numpy_helper

    model.graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def blind(model: onnx.ModelProto) -> None:
    """Scores times zero: a model that loads and runs and finds nothing."""
    from onnx import helper

    out, inner = _reroute_output(model)
    k = model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
    mask = np.array([1.0] * 4 + [0.0] * (k - 4), np.float32)
    model.graph.node.append(helper.make_node("Mul", [inner, _const(model, "blind_mask", mask)], [out]))


def slow(model: onnx.ModelProto, layers: int = 8, channels: int = 32) -> None:
    """Adds ``layers`` 3x3 convolutions at the input's full resolution, times zero, to the output."""
    from onnx import helper

    rng = np.random.default_rng(7)
    out, inner = _reroute_output(model)
    image = model.graph.input[0].name
    nodes = [helper.make_node("Transpose", [image], ["slow_0"], perm=[0, 3, 1, 2])]
    c_in = 3
    for i in range(layers):
        w = (rng.standard_normal((channels, c_in, 3, 3)) * np.sqrt(2.0 / (9 * c_in))).astype(np.float32)
        nodes.append(helper.make_node("Conv", [f"slow_{i}", _const(model, f"slow_w{i}", w)], [f"slow_c{i}"],
                                      pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"slow_c{i}"], [f"slow_{i + 1}"]))
        c_in = channels
    nodes += [
        helper.make_node("ReduceMean", [f"slow_{layers}"], ["slow_mean"], keepdims=0),
        helper.make_node("Mul", ["slow_mean", _const(model, "slow_zero", np.zeros((), np.float32))], ["slow_nil"]),
        helper.make_node("Add", [inner, "slow_nil"], [out]),
    ]
    model.graph.node.extend(nodes)


def _draws(seed: float, n: int) -> list[float]:
    """The first ``n`` values a session's ``RandomUniform(seed)`` gives, one per run."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("RandomUniform", [], ["r"], shape=[1], seed=seed, dtype=TensorProto.FLOAT)
    graph = helper.make_graph([node], "draws", [], [helper.make_tensor_value_info("r", TensorProto.FLOAT, [1])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return [float(session.run(None, {})[0][0]) for _ in range(n)]


def crashing(model: onnx.ModelProto, good_runs: int = 3) -> None:
    """Right outputs for the first ``good_runs`` runs of a session, then the wrong shape (see the module)."""
    from onnx import TensorProto, helper

    seed = next(float(s) for s in range(10_000)
                if (d := _draws(float(s), good_runs + 1))[-1] >= 0.5 and max(d[:-1]) < 0.5)
    out, inner = _reroute_output(model)
    shape = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    wrong = [shape[0], shape[1] * shape[2] // 6, 6]
    model.graph.node.extend([
        helper.make_node("RandomUniform", [], ["crash_draw"], shape=[1], seed=seed, dtype=TensorProto.FLOAT),
        helper.make_node("Less", ["crash_draw", _const(model, "crash_p", np.array([0.5], np.float32))], ["crash_ok"]),
        helper.make_node("Where", ["crash_ok", _const(model, "crash_good", np.array(shape, np.int64)),
                                   _const(model, "crash_bad", np.array(wrong, np.int64))], ["crash_shape"]),
        helper.make_node("Reshape", [inner, "crash_shape"], [out]),
    ])
    dims = model.graph.output[0].type.tensor_type.shape.dim
    for i, d in enumerate(dims):
        d.ClearField("dim_value")  # the declared shape no longer holds
        d.dim_param = f"d{i}"
