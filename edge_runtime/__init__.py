"""The SiteGuard edge daemon: sensors to fused local alarms."""

__version__ = "0.1.0"
