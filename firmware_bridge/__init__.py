"""Bytes in, typed readings out; commands in, bytes out."""
