"""Decision trees as dense tensors: the GEMM strategy of Microsoft's Hummingbird.

A tree becomes five arrays, and evaluating it becomes two comparisons and a
matrix product, which any tensor runtime (LiteRT included) runs without a
tree op:

- **A** which feature each internal node tests (stored as column indices and
  applied as a gather: the same as Hummingbird's one-hot ``X @ A``, but exact
  and safe for NaN, where ``NaN * 0`` would poison the product);
- **B** each internal node's threshold, and where a missing value goes;
- **C** ``[internal, leaves]``: +1 where the leaf lies in the node's left
  subtree, -1 in its right subtree, 0 where the node is not on its path;
- **D** per leaf, the number of left turns on its path;
- **E** per leaf, its value.

With ``T = (x[A] <= B)`` (1 = go left), ``T @ C`` equals ``D`` exactly at the
one leaf each row reaches, and ``(T @ C == D) @ E`` is the tree's output. All
trees of an ensemble are padded to the same size and stacked, so a forest is
one gather, one batched matmul and one reduction. Numpy only: the TensorFlow
side lives in :mod:`.tflite_graph`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_PATH_ELEMENTS = 48_000_000
"""Bound on trees x internal nodes x leaves of one ensemble (C alone is 4 bytes each: ~190 MB).

Deeper forests than that do not belong on an edge device in this form; they
ship as ONNX (whose tree op is compact) and the recommendation sees the size.
"""
_UNREACHABLE = -1.0
"""Path length of a padding leaf: ``T @ C`` is 0 there, never -1, so it is never reached."""


class TreeTooLarge(ValueError):
    """An ensemble whose path matrices would exceed :data:`MAX_PATH_ELEMENTS`."""


@dataclass(frozen=True, slots=True)
class TreeTensors:
    """All trees of one ensemble as stacked, padded GEMM tensors (float32, int32)."""

    features: np.ndarray  # A: (trees, internal) int32 column tested by each node
    thresholds: np.ndarray  # B: (trees, internal) float32, go left when x <= threshold
    missing_left: np.ndarray  # (trees, internal) bool, where a NaN goes
    paths: np.ndarray  # C: (trees, internal, leaves) float32 in {-1, 0, 1}
    left_turns: np.ndarray  # D: (trees, leaves) float32
    leaf_values: np.ndarray  # E: (trees, leaves) float32

    @property
    def shape(self) -> tuple[int, int, int]:
        """(trees, internal nodes, leaves) after padding."""
        return self.paths.shape  # type: ignore[return-value]


def pack_trees(trees: Sequence[object], leaf_values: Sequence[np.ndarray],
               max_elements: int = MAX_PATH_ELEMENTS) -> TreeTensors:
    """Stack fitted sklearn ``tree_`` objects with one value per node each (``leaf_values[t][node]``).

    Raises :class:`TreeTooLarge` before allocating more than ``max_elements`` path entries.
    """
    if not trees or len(trees) != len(leaf_values):
        raise ValueError("pack_trees needs one value array per tree and at least one tree")
    internal = [np.flatnonzero(t.children_left != -1) for t in trees]  # type: ignore[attr-defined]
    leaves = [np.flatnonzero(t.children_left == -1) for t in trees]  # type: ignore[attr-defined]
    n_trees = len(trees)
    n_internal = max(1, max(len(i) for i in internal))
    n_leaves = max(len(le) for le in leaves)
    if n_trees * n_internal * n_leaves > max_elements:
        raise TreeTooLarge(
            f"{n_trees} trees x {n_internal} internal nodes x {n_leaves} leaves exceeds the GEMM bound of "
            f"{max_elements:,} path elements; limit max_depth or max_leaf_nodes"
        )
    packed = TreeTensors(
        features=np.zeros((n_trees, n_internal), np.int32),
        thresholds=np.zeros((n_trees, n_internal), np.float32),
        missing_left=np.zeros((n_trees, n_internal), bool),
        paths=np.zeros((n_trees, n_internal, n_leaves), np.float32),
        left_turns=np.full((n_trees, n_leaves), _UNREACHABLE, np.float32),
        leaf_values=np.zeros((n_trees, n_leaves), np.float32),
    )
    for t, (tree, nodes, ends, values) in enumerate(zip(trees, internal, leaves, leaf_values, strict=True)):
        _fill(packed, t, tree, nodes, ends, np.asarray(values, np.float64))
    return packed


def _fill(packed: TreeTensors, t: int, tree: object, nodes: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
    left, right = tree.children_left, tree.children_right  # type: ignore[attr-defined]
    column = {int(node): i for i, node in enumerate(nodes)}
    row = {int(leaf): j for j, leaf in enumerate(ends)}
    packed.features[t, : len(nodes)] = tree.feature[nodes]  # type: ignore[attr-defined]
    packed.thresholds[t, : len(nodes)] = float32_at_most(tree.threshold[nodes])  # type: ignore[attr-defined]
    packed.missing_left[t, : len(nodes)] = tree.missing_go_to_left[nodes].astype(bool)  # type: ignore[attr-defined]
    packed.leaf_values[t, : len(ends)] = values[ends]
    # depth-first walk from the root carrying (node, path so far); a tree has as many steps as nodes
    stack: list[tuple[int, list[tuple[int, float]]]] = [(0, [])]
    for _ in range(len(left)):
        if not stack:
            break
        node, path = stack.pop()
        if left[node] == -1:
            j = row[node]
            for i, sign in path:
                packed.paths[t, i, j] = sign
            packed.left_turns[t, j] = sum(1 for _, sign in path if sign > 0)
            continue
        stack.append((int(right[node]), path + [(column[node], -1.0)]))
        stack.append((int(left[node]), path + [(column[node], 1.0)]))


def float32_at_most(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 threshold.

    sklearn compares float32 features with float64 thresholds; for a float32
    ``x``, ``x <= t`` holds exactly when ``x <= float32_at_most(t)``, so the
    float32 graph takes every branch sklearn takes.
    """
    rounded = thresholds.astype(np.float32)
    above = rounded.astype(np.float64) > thresholds
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded
