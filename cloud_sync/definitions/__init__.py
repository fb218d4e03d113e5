"""Collected-data definitions per device type and the schema-skew check ingest runs with them.

``model`` (the document), ``defaults`` (the built-in one, from the contract),
``store`` (stored overrides), ``check`` (a chunk against a definition).
"""
from .defaults import DEFAULT_TYPE, default_definition
from .model import DataDefinition, FieldDef
from .store import DefinitionError, DefinitionStore

__all__ = ["DEFAULT_TYPE", "DataDefinition", "DefinitionError", "DefinitionStore", "FieldDef", "default_definition"]
