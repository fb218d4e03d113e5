"""The SiteGuard edge daemon: sensors to fused local alarms."""
