"""The web toolkit the edge dashboard and the cloud service share, so neither imports the other.

An API registry that also writes the OpenAPI document (api), bounded JSON
bodies (json_body, json_limits), password hashes (passwords), server-side
sessions (sessions), a sign-in throttle (throttle) and the security middleware
(security). It knows neither app: each passes its ordered roles (roles), paths
and names in one :class:`~web_common.config.WebSecurity`.
"""
