"""What every exported risk artifact looks like, and the error for a pipeline that cannot be exported.

Kept apart from the exporters so the ONNX and TFLite builders, the cost and
compatibility checks and the packaging name the tensors the same way without
importing each other.
"""
from __future__ import annotations

INPUT_NAME = "features"
"""float32 ``[-1, n_features]``: one row per scoring moment."""
OUTPUT_NAME = "probability"
"""float32 ``[-1]``: ``predict_proba(X)[:, 1]`` of the pipeline."""


class ExportError(ValueError):
    """A pipeline (or one of its steps) that cannot be written in the asked format; the message names it."""
