"""The classes a hard example's boxes may carry: those of the shipped camera model, read from its manifest.

Fine-tuning keeps the model's head, so a label outside its classes could not
be learnt; the console offers exactly these.
"""
from __future__ import annotations

import json
from importlib import resources

_MANIFEST = resources.files("models") / "camera" / "default" / "manifest.json"
CLASSES: tuple[str, ...] = tuple(json.loads(_MANIFEST.read_text())["labels"])
