"""Inference back-ends, one module each (Frigate-style plugins): ``litert``,
``onnxruntime_backend``, ``tensorrt_backend``. See :mod:`.registry` for
discovery and choice, :mod:`.base` for the interface.
"""
from edge_runtime.vision.backends.registry import available_backends, choose, create_backend

__all__ = ["available_backends", "choose", "create_backend"]
