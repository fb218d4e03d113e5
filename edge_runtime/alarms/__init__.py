"""Alarm lifecycle (ISA-18.2) and its vocabulary."""
