"""Typed site configuration: one module per section, a strict root in ``site``."""
from .site import ConfigError, SiteConfig, load_config, parse_config

__all__ = ["ConfigError", "SiteConfig", "load_config", "parse_config"]
