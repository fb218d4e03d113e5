"""Batches into the cloud database exactly once: ``ingest`` (the transaction), ``writer`` (rows), ``stats``."""
from .ingest import DeviceRef, Ingest
from .stats import DeviceIngest, IngestStats

__all__ = ["DeviceIngest", "DeviceRef", "Ingest", "IngestStats"]
