"""Scenario files shipped with SiteGuard (package data): demo.yaml and the small test scenarios."""
