"""Emulated sensor firmware on pseudo-terminals, driven by scenario files."""
