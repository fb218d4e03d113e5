"""skl2onnx converters for the imputers, written to match sklearn's ``transform`` exactly.

``IterativeImputer`` has no converter in skl2onnx; its ``SimpleImputer``
converter keeps the columns sklearn drops (those missing in every training
row), so the next step would get the wrong width. Both are replaced here.

The fitted iterative imputer is a fixed sequence of linear predictions: after the
initial (mean/median...) fill, each step predicts one feature from its
neighbours and writes the prediction, clipped to the feature's limits, into
the rows where that feature was missing. With a linear round estimator
(``BayesianRidge``, the default, or another linear regressor) that is
Gather, MatMul, Add, Max/Min and Where per step, exactly the transform's
maths. Anything else (a non-linear estimator, ``sample_posterior``, the
missing-indicator) raises :class:`ExportError`.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes IterativeImputer importable)
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import ARDRegression, BayesianRidge, ElasticNet, Lasso, LinearRegression, Ridge

from .export_spec import ExportError

LINEAR_ESTIMATORS = (BayesianRidge, ARDRegression, LinearRegression, Ridge, Lasso, ElasticNet)
"""Round estimators whose ``predict`` is ``X @ coef_ + intercept_``."""


def kept_columns(imputer: SimpleImputer | IterativeImputer) -> np.ndarray:
    """Indices of the input columns the imputer outputs (all-missing training columns are dropped)."""
    stats = statistics(imputer)
    return np.arange(len(stats)) if imputer.keep_empty_features else np.flatnonzero(~np.isnan(stats))


def statistics(imputer: SimpleImputer | IterativeImputer) -> np.ndarray:
    """The (initial) fill value per input column as float64, NaN for columns missing in all training rows."""
    initial = imputer if isinstance(imputer, SimpleImputer) else imputer.initial_imputer_
    return np.asarray(initial.statistics_, np.float64)  # object dtype for strategy="constant"


def check_simple(imputer: SimpleImputer) -> None:
    """Raise :class:`ExportError` unless ``imputer`` fills NaN without a missing-indicator."""
    if imputer.add_indicator:
        raise ExportError("SimpleImputer(add_indicator=True) is not exported")
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        raise ExportError(f"SimpleImputer(missing_values={imputer.missing_values!r}): only NaN is exported")


def check_iterative(imputer: IterativeImputer) -> None:
    """Raise :class:`ExportError` unless every part of ``imputer`` has the linear form written here."""
    if imputer.sample_posterior:
        raise ExportError("IterativeImputer(sample_posterior=True) draws random values: not exportable")
    if imputer.add_indicator:
        raise ExportError("IterativeImputer(add_indicator=True) is not exported")
    for triplet in imputer.imputation_sequence_:
        if not isinstance(triplet.estimator, LINEAR_ESTIMATORS):
            raise ExportError(f"IterativeImputer with a {type(triplet.estimator).__name__} round estimator "
                              f"is not exported (linear ones are: {', '.join(e.__name__ for e in LINEAR_ESTIMATORS)})")


def _shape(operator: object) -> None:
    rows = operator.inputs[0].get_first_dimension()  # type: ignore[attr-defined]
    width = len(kept_columns(operator.raw_operator))  # type: ignore[attr-defined]
    operator.outputs[0].type = FloatTensorType([rows, width])  # type: ignore[attr-defined]


class _Graph:
    """Thin helper over skl2onnx's container: unique names, float32/int64 constants, one node per call."""

    def __init__(self, scope: object, container: object) -> None:
        self.scope, self.container = scope, container

    def const(self, name: str, values: np.ndarray) -> str:
        unique = self.scope.get_unique_variable_name(name)  # type: ignore[attr-defined]
        tensor = numpy_helper.from_array(values, unique)
        self.container.add_initializer(unique, tensor.data_type, list(values.shape), tensor)  # type: ignore[attr-defined]
        return unique

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs: object) -> str:
        out = out or self.scope.get_unique_variable_name(op.lower())  # type: ignore[attr-defined]
        name = self.scope.get_unique_operator_name(op)  # type: ignore[attr-defined]
        self.container.add_node(op, inputs, [out], name=name, **attrs)  # type: ignore[attr-defined]
        return out


def _fill(g: _Graph, imputer: SimpleImputer | IterativeImputer, source: str, out: str | None = None) -> tuple[str, str]:
    """The kept columns with NaN replaced by the (initial) statistics; (filled, missing mask) tensor names."""
    kept = kept_columns(imputer)
    stats = np.nan_to_num(statistics(imputer)[kept]).astype(np.float32)  # kept empty columns fill 0
    x = g.node("Gather", [source, g.const("kept", kept.astype(np.int64))], axis=1)
    missing = g.node("IsNaN", [x])
    return g.node("Where", [missing, g.const("fill", stats), x], out=out), missing


def _convert_simple(scope: object, operator: object, container: object) -> None:
    imp: SimpleImputer = operator.raw_operator  # type: ignore[attr-defined]
    check_simple(imp)
    _fill(_Graph(scope, container), imp, operator.inputs[0].full_name, out=operator.outputs[0].full_name)  # type: ignore[attr-defined]


def _convert_iterative(scope: object, operator: object, container: object) -> None:
    imp: IterativeImputer = operator.raw_operator  # type: ignore[attr-defined]
    check_iterative(imp)
    g = _Graph(scope, container)
    f32 = np.float32
    filled, missing = _fill(g, imp, operator.inputs[0].full_name)  # type: ignore[attr-defined]
    initial = filled
    width = len(kept_columns(imp))
    low = np.broadcast_to(np.asarray(imp._min_value, np.float64), (width,))
    high = np.broadcast_to(np.asarray(imp._max_value, np.float64), (width,))
    for step in imp.imputation_sequence_ if imp.n_iter_ else ():
        f = int(step.feat_idx)
        est = step.estimator
        near = g.node("Gather", [filled, g.const("neighbours", np.asarray(step.neighbor_feat_idx, np.int64))], axis=1)
        pred = g.node("MatMul", [near, g.const("coef", np.asarray(est.coef_, f32).reshape(-1, 1))])
        pred = g.node("Add", [pred, g.const("intercept", np.asarray([est.intercept_], f32))])
        pred = g.node("Max", [pred, g.const("low", np.asarray([max(low[f], np.finfo(f32).min)], f32))])
        pred = g.node("Min", [pred, g.const("high", np.asarray([min(high[f], np.finfo(f32).max)], f32))])
        column = g.const("column", np.asarray([f], np.int64))
        was_missing = g.node("Gather", [missing, column], axis=1)
        new = g.node("Where", [was_missing, pred, g.node("Gather", [filled, column], axis=1)])
        onehot = np.zeros((1, width), f32)
        onehot[0, f] = 1.0
        others = g.node("Mul", [filled, g.const("others", 1.0 - onehot)])  # exact: x * 1 and x * 0
        filled = g.node("Add", [others, g.node("Mul", [new, g.const("onehot", onehot)])])
    # sklearn returns the initial fill unchanged when every value of the batch is missing
    all_missing = g.node("ReduceMin", [g.node("Cast", [missing], to=TensorProto.FLOAT)], keepdims=0)
    every = g.node("Equal", [all_missing, g.const("one", np.asarray(1.0, f32))])
    g.node("Where", [every, initial, filled], out=operator.outputs[0].full_name)  # type: ignore[attr-defined]


def register() -> None:
    """Make skl2onnx convert both imputers with the converters here (idempotent)."""
    update_registered_converter(SimpleImputer, "SiteGuardSimpleImputer", _shape, _convert_simple)
    update_registered_converter(IterativeImputer, "SiteGuardIterativeImputer", _shape, _convert_iterative)
