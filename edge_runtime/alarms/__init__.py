"""Alarm lifecycle (ISA-18.2) and its vocabulary.

``config`` names alarm kinds and priorities (:mod:`.model`), so this package
imports ``config`` for type hints only: the engine gets its settings as
arguments (tests/test_layering.py keeps the two packages out of a cycle).
"""
