"""Notifiers: turn alarm transitions into alerts on wearables, sirens and dashboards."""
