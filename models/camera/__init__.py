"""The project's own default camera model.

Synthetic site scenes (:mod:`.render`), a small anchor-free detector
(:mod:`.model`), training (:mod:`.train`), export to TFLite and ONNX
(:mod:`.export`), evaluation through the edge runtime's own path
(:mod:`.runtime_path`, :mod:`.evaluate`) and a signed package
(:mod:`.packaging`). The trained package ships in ``default/``.
"""
from pathlib import Path

from .scene import LABELS, Box, PersonSpec

DEFAULT_PACKAGE = Path(__file__).resolve().parent / "default"
"""The shipped model package the edge runtime loads when a camera names no other."""

__all__ = ["DEFAULT_PACKAGE", "LABELS", "Box", "PersonSpec"]
