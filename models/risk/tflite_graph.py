"""A fitted risk pipeline rebuilt as TensorFlow ops from its parameters, for the TFLite converter.

LiteRT has no scikit-learn converter, so each step's maths is written out
once, from the fitted attributes: imputation as ``where(isnan)``, scaling as
an affine map, selection as a column gather, logistic regression and MLPs as
dense layers, tree ensembles as the GEMM tensors of :mod:`.tree_ops`. A step
without such a form raises :class:`ExportError` naming it; that pipeline
ships ONNX only.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_selection import RFE, SelectFromModel, SelectKBest, VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from .export_spec import INPUT_NAME, OUTPUT_NAME, ExportError
from .onnx_converters import check_simple, kept_columns, statistics
from .tree_ops import TreeTensors, TreeTooLarge, pack_trees

Step = Callable[[tf.Tensor], tf.Tensor]


def _const(values: np.ndarray) -> tf.Tensor:
    return tf.constant(np.asarray(values, np.float32))


def _simple_imputer(name: str, imp: SimpleImputer) -> Step:
    try:
        check_simple(imp)
    except ExportError as exc:
        raise ExportError(f"step {name!r}: {exc}") from None
    kept = kept_columns(imp)
    fill = _const(np.nan_to_num(statistics(imp)[kept]))  # kept all-missing columns fill 0, as sklearn
    columns = tf.constant(kept.astype(np.int32))

    def step(x: tf.Tensor) -> tf.Tensor:
        x = tf.gather(x, columns, axis=1)
        return tf.where(tf.math.is_nan(x), tf.broadcast_to(fill, tf.shape(x)), x)

    return step


def _no_tflite_form(name: str, est: object) -> Step:
    raise ExportError(
        f"step {name!r}: {type(est).__name__} cannot be expressed as plain tensor ops for TFLite; "
        "this pipeline ships ONNX only"
    )


def _affine(offset: np.ndarray | None, scale: np.ndarray | None, *, divide: bool) -> Step:
    """``(x - offset) / scale`` (or ``* scale``), each part optional, in the order sklearn applies them."""
    off = None if offset is None else _const(offset)
    sc = None if scale is None else _const(scale)

    def step(x: tf.Tensor) -> tf.Tensor:
        if off is not None:
            x = x - off
        if sc is not None:
            x = x / sc if divide else x * sc
        return x

    return step


def _min_max(name: str, s: MinMaxScaler) -> Step:
    scale, shift = _const(s.scale_), _const(s.min_)
    low, high = (float(v) for v in s.feature_range)

    def step(x: tf.Tensor) -> tf.Tensor:
        x = x * scale + shift
        return tf.clip_by_value(x, low, high) if s.clip else x

    return step


def _standard(name: str, s: StandardScaler) -> Step:
    return _affine(s.mean_ if s.with_mean else None, s.scale_ if s.with_std else None, divide=True)


def _robust(name: str, s: RobustScaler) -> Step:
    return _affine(s.center_ if s.with_centering else None, s.scale_ if s.with_scaling else None, divide=True)


def _max_abs(name: str, s: MaxAbsScaler) -> Step:
    return _affine(None, s.scale_, divide=True)


def _selector(name: str, sel: object) -> Step:
    columns = tf.constant(sel.get_support(indices=True).astype(np.int32))  # type: ignore[attr-defined]
    return lambda x: tf.gather(x, columns, axis=1)


def _logistic(name: str, m: LogisticRegression) -> Step:
    weights, bias = _const(m.coef_.T), _const(m.intercept_)
    return lambda x: tf.sigmoid(tf.matmul(x, weights) + bias)[:, 0]


_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "identity": tf.identity, "logistic": tf.sigmoid, "tanh": tf.tanh, "relu": tf.nn.relu,
}


def _mlp(name: str, m: MLPClassifier) -> Step:
    layers = [(_const(w), _const(b)) for w, b in zip(m.coefs_, m.intercepts_, strict=True)]
    hidden = _ACTIVATIONS[m.activation]

    def step(x: tf.Tensor) -> tf.Tensor:
        for w, b in layers[:-1]:
            x = hidden(tf.matmul(x, w) + b)
        w, b = layers[-1]
        return tf.sigmoid(tf.matmul(x, w) + b)[:, 0]  # binary: out_activation_ is logistic

    return step


def _tree_sum(name: str, packed_fn: Callable[[], TreeTensors]) -> Callable[[tf.Tensor], tf.Tensor]:
    """Sum over trees of each row's leaf value, per row, for an ensemble packed by ``packed_fn``."""
    try:
        packed = packed_fn()
    except TreeTooLarge as exc:
        raise ExportError(f"step {name!r}: {exc}; this pipeline ships ONNX only") from None
    n_trees, n_internal, _ = packed.shape
    features = tf.constant(packed.features.reshape(-1))
    thresholds = tf.constant(packed.thresholds)
    missing_left = tf.constant(packed.missing_left)
    paths, left_turns = tf.constant(packed.paths), tf.constant(packed.left_turns[:, None, :])
    leaf_values = tf.constant(packed.leaf_values[:, None, :])

    def trees(x: tf.Tensor) -> tf.Tensor:
        tested = tf.reshape(tf.gather(x, features, axis=1), (-1, n_trees, n_internal))
        go_left = tf.where(tf.math.is_nan(tested), missing_left, tested <= thresholds)
        turns = tf.matmul(tf.transpose(tf.cast(go_left, tf.float32), (1, 0, 2)), paths)  # (trees, rows, leaves)
        reached = tf.cast(tf.equal(turns, left_turns), tf.float32)
        return tf.reduce_sum(reached * leaf_values, axis=(0, 2))

    return trees


def _forest(name: str, m: RandomForestClassifier) -> Step:
    def pack() -> TreeTensors:
        trees = [e.tree_ for e in m.estimators_]
        positive = [t.value[:, 0, 1] / t.value[:, 0, :].sum(axis=1) for t in trees]  # leaf class-1 probability
        return pack_trees(trees, positive)

    total, n = _tree_sum(name, pack), len(m.estimators_)
    return lambda x: total(x) / float(n)


def _boosting(name: str, m: GradientBoostingClassifier) -> Step:
    if isinstance(m.init_, str):  # init="zero"
        init = 0.0
    elif hasattr(m.init_, "class_prior_"):  # the default DummyClassifier(strategy="prior"): a constant log-odds
        p = float(np.clip(m.init_.class_prior_[1], np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps))
        init = float(np.log(p) - np.log1p(-p))
    else:
        raise ExportError(f"step {name!r}: GradientBoostingClassifier(init={type(m.init_).__name__}) has no TFLite form")
    rate = float(m.learning_rate)

    def pack() -> TreeTensors:
        trees = [e.tree_ for e in m.estimators_[:, 0]]
        return pack_trees(trees, [rate * t.value[:, 0, 0] for t in trees])

    total = _tree_sum(name, pack)
    return lambda x: tf.sigmoid(init + total(x))


BUILDERS: dict[type, Callable[[str, object], Step]] = {
    SimpleImputer: _simple_imputer,
    MinMaxScaler: _min_max, StandardScaler: _standard, RobustScaler: _robust, MaxAbsScaler: _max_abs,
    VarianceThreshold: _selector, SelectKBest: _selector, RFE: _selector, SelectFromModel: _selector,
    LogisticRegression: _logistic, MLPClassifier: _mlp,
    RandomForestClassifier: _forest, GradientBoostingClassifier: _boosting,
}
"""One row per estimator type with a TFLite form; anything else (KNNImputer, IterativeImputer) has none."""


def build_steps(steps: list[tuple[str, object]]) -> list[Step]:
    """The TensorFlow form of each fitted ``(name, estimator)`` step, in order."""
    built = []
    for name, est in steps:
        builder = BUILDERS.get(type(est), _no_tflite_form)
        built.append(builder(name, est))
    return built


def convert(steps: list[tuple[str, object]], n_features: int, calibration: np.ndarray | None = None) -> bytes:
    """A TFLite flatbuffer: input ``features`` ``[-1, n_features]``, output ``probability`` ``[-1]``.

    Float32, or with ``calibration`` (training rows) int8 where LiteRT has
    int8 kernels, ranges calibrated on those rows, float32 in and out (the
    edge feeds raw feature rows either way). Rows with a missing value are
    left out of the calibration: NaN has no range.
    """
    ops = build_steps(steps)

    class Scorer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, n_features], tf.float32, name=INPUT_NAME)])
        def serve(self, features: tf.Tensor) -> dict[str, tf.Tensor]:
            x = features
            for op in ops:
                x = op(x)
            return {OUTPUT_NAME: tf.reshape(tf.cast(x, tf.float32), (-1,))}

    module = Scorer()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    if calibration is not None:
        rows = np.asarray(calibration, np.float32)
        rows = rows[~np.isnan(rows).any(axis=1)]
        if not len(rows):
            raise ExportError("int8: no calibration row without missing values")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([row[None]] for row in rows)
    return converter.convert()
