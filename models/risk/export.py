"""A fitted risk pipeline as ``risk.onnx`` (skl2onnx) and ``risk.tflite`` (the same maths as TensorFlow ops).

Both artifacts take ``features`` float32 ``[-1, n]`` and give ``probability``
float32 ``[-1]`` — ``predict_proba(X)[:, 1]`` of the whole pipeline,
preprocessing included — so the edge feeds raw feature rows and reads one
number per row. ONNX covers every supported step; TFLite covers all but the
KNN and iterative imputers, whose pipelines ship ONNX only (the
recommendation cannot pick them for a TFLite-only device).

Agreement with sklearn is to float32 rounding (1e-7 typically, 1e-4 asked)
with two known edges, both rare and both caught by the packaging's holdout
check: a row sitting within rounding of a tree threshold after a scaler, and
a KNNImputer donor tie on raw, badly scaled columns (sklearn's float32
nan-euclidean distance cancels; skl2onnx computes it differently).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (IterativeImputer is importable after it)
from sklearn.feature_selection import RFE, SelectFromModel, SelectKBest, VarianceThreshold
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from . import onnx_converters
from .export_spec import INPUT_NAME, OUTPUT_NAME, ExportError

STEP_TYPES: dict[str, tuple[type, ...]] = {
    "impute": (SimpleImputer, KNNImputer, IterativeImputer),
    "scale": (MinMaxScaler, StandardScaler, MaxAbsScaler, RobustScaler),
    "select": (VarianceThreshold, SelectKBest, RFE, SelectFromModel),
    "model": (LogisticRegression, RandomForestClassifier, GradientBoostingClassifier, MLPClassifier),
}
"""The pipeline's steps, in order, and the estimators each may be (any but ``model`` may be ``"passthrough"``)."""
ONNX_OPSET = {"": 18, "ai.onnx.ml": 3}
"""Upper bounds for skl2onnx (KNNImputer needs 18); the written model imports only the versions it uses."""


def fitted_steps(pipeline: Pipeline, n_features: int) -> list[tuple[str, object]]:
    """The pipeline's non-passthrough ``(name, estimator)`` steps, checked against :data:`STEP_TYPES`.

    Raises :class:`ExportError` naming the first step that is missing,
    misnamed, of an unsupported type, unfitted, not binary, or fitted on
    another number of features.
    """
    if not isinstance(pipeline, Pipeline):
        raise ExportError(f"expected a fitted sklearn Pipeline, got {type(pipeline).__name__}")
    names = [name for name, _ in pipeline.steps]
    if names != list(STEP_TYPES):
        raise ExportError(f"pipeline steps are {names}; expected exactly {list(STEP_TYPES)}")
    steps = []
    for name, est in pipeline.steps:
        if est in (None, "passthrough") and name != "model":
            continue
        if not isinstance(est, STEP_TYPES[name]):
            allowed = ", ".join(t.__name__ for t in STEP_TYPES[name])
            raise ExportError(f"step {name!r}: {type(est).__name__} is not supported (one of {allowed})")
        steps.append((name, est))
    model = pipeline.named_steps["model"]
    if not hasattr(model, "classes_"):
        raise ExportError("step 'model' is not fitted")
    if len(model.classes_) != 2:
        raise ExportError(f"step 'model' has {len(model.classes_)} classes; the risk score is binary")
    first = steps[0][1]
    if getattr(first, "n_features_in_", n_features) != n_features:
        raise ExportError(f"step {steps[0][0]!r} was fitted on {first.n_features_in_} features, not {n_features}")
    return steps


def export_onnx(pipeline: Pipeline, n_features: int, path: Path) -> Path:
    """Write the whole pipeline as ONNX: ``features`` ``[-1, n]`` in, ``probability`` ``[-1]`` out, no ZipMap."""
    import onnx
    from onnx import TensorProto, helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    steps = fitted_steps(pipeline, n_features)
    onnx_converters.register()
    bare = Pipeline(steps)  # skl2onnx refuses "passthrough"; the fitted estimators are reused, not refitted
    proto = convert_sklearn(bare, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                            target_opset=ONNX_OPSET)
    graph = proto.graph
    _route_missing_values(graph, steps[-1][1])
    probabilities = _class_probabilities(graph)
    graph.initializer.append(helper.make_tensor("positive_class", TensorProto.INT64, [], [1]))
    graph.node.append(helper.make_node("Gather", [probabilities, "positive_class"], [OUTPUT_NAME], axis=1,
                                       name="positive_probability"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N"]))
    _prune(graph)  # drops the label, the ZipMap and whatever only they used
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    path.write_bytes(proto.SerializeToString())
    return path


def _prune(graph: object) -> None:
    """Keep only the nodes and initializers the graph's outputs depend on (subgraph references included)."""
    needed = {o.name for o in graph.output}  # type: ignore[attr-defined]
    kept = []
    for node in reversed(graph.node):  # type: ignore[attr-defined]  # nodes are topologically sorted
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(_inputs_of(node))
    del graph.node[:]  # type: ignore[attr-defined]
    graph.node.extend(reversed(kept))  # type: ignore[attr-defined]
    initializers = [t for t in graph.initializer if t.name in needed]  # type: ignore[attr-defined]
    del graph.initializer[:]  # type: ignore[attr-defined]
    graph.initializer.extend(initializers)  # type: ignore[attr-defined]
    infos = [v for v in graph.value_info if v.name in needed]  # type: ignore[attr-defined]
    del graph.value_info[:]  # type: ignore[attr-defined]
    graph.value_info.extend(infos)  # type: ignore[attr-defined]


def _inputs_of(node: object) -> set[str]:
    """A node's inputs and every outer name its subgraphs (If/Loop bodies) read."""
    names = set(node.input)  # type: ignore[attr-defined]
    for attr in node.attribute:  # type: ignore[attr-defined]
        for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
            for inner in sub.node:
                names |= _inputs_of(inner)
    return names


def _route_missing_values(graph: object, model: object) -> None:
    """Send NaN down the branch sklearn's trees send it (``missing_go_to_left``), which skl2onnx leaves out.

    Only reachable when no imputer runs before a forest (sklearn's trees take
    NaN natively); without this ONNX would take the default branch instead.
    """
    if isinstance(model, RandomForestClassifier):
        trees = [e.tree_ for e in model.estimators_]
    elif isinstance(model, GradientBoostingClassifier):
        trees = [e.tree_ for e in model.estimators_[:, 0]]
    else:
        return
    from onnx import helper

    for node in graph.node:  # type: ignore[attr-defined]
        if node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
            continue
        attrs = {a.name: a for a in node.attribute}
        tree_ids, node_ids = attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints
        missing = [int(trees[t].missing_go_to_left[n]) for t, n in zip(tree_ids, node_ids, strict=True)]
        kept = [a for a in node.attribute if a.name != "nodes_missing_value_tracks_true"]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute("nodes_missing_value_tracks_true", missing)])


def _class_probabilities(graph: object) -> str:
    """The ``[N, 2]`` probability tensor: the ZipMap's input when skl2onnx added one, else its second output."""
    for node in graph.node:  # type: ignore[attr-defined]
        if node.op_type == "ZipMap":
            return node.input[0]
    return graph.output[1].name  # type: ignore[attr-defined]


def export_tflite(pipeline: Pipeline, n_features: int, path: Path, calibration: np.ndarray | None = None) -> Path:
    """Write the same maths as a TFLite model (same tensor names and shapes as the ONNX one).

    Float32, or int8 calibrated on ``calibration`` (training rows; see
    :func:`.tflite_graph.convert`). Raises :class:`ExportError` for steps
    without a tensor form (KNN and iterative imputers, oversized tree
    ensembles): such pipelines ship ONNX only.
    """
    steps = fitted_steps(pipeline, n_features)
    from . import tflite_graph  # TensorFlow loads only when a TFLite artifact is wanted

    flatbuffer = tflite_graph.convert(steps, n_features, calibration)
    path = Path(path)
    path.write_bytes(flatbuffer)
    return path
