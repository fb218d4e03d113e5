"""Wearable telemetry off the alarm path: an ingest process parses and coalesces it.

The wearables' MQTT telemetry is the bulk of a busy site's input (200
wearables at several messages a second each). Parsing it on the alarm
process made every panic press wait behind paho, JSON and row building for
routine heart-rate samples. So a child process (``ingest_process``) owns the
telemetry subscription: it stores every reading (through the store process),
forwards panic, cancel and check-in presses at once, and hands the alarm
process routine values coalesced per wearable (``coalescer``), paced by the
alarm process's own speed (``supervisor``). docs/decisions.md has the why.
"""
