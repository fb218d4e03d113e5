"""Write one site's Secrets and ConfigMaps for k3s/ from its site file: nothing secret is ever committed.

    .venv/bin/python k3s/site_secrets.py --config my-site.yaml --out k3s/site [--device-credential FILE]

The broker's password file and topic ACL come from the same generator the demo
and the tests use (``edge_runtime.broker_acl``): the daemon's own account and
every one of ``mqtt.accounts``, each with a random password. The daemon's
password goes into the site file it runs on, which is therefore a Secret, as
is the bearer token Prometheus scrapes ``/metrics`` with (the site file keeps
only its SHA-256). The keys the manifests fix (the broker's Service, the HTTP
port the probes use, the data volume, the credential's mount) are set here, so
a site file cannot drift from k3s/base/.

``--out`` gets a ``kustomization.yaml`` the overlays include (``../../site``),
and ``passwords.txt`` (mode 600, not applied): hand each account its own
password, keep the file offline. Rotating: ``--reuse k3s/site --rotate NAME``
keeps every other password and gives NAME (an account, or ``metrics-token``)
a new one; without ``--reuse`` every secret is new.

Exit status: 0 written; 1 mosquitto_passwd missing or a file unreadable; 2 a bad
site file (each problem named by its key) or bad usage.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

from edge_runtime.broker_acl import DEFAULT_DAEMON_ACCOUNT, site_accounts, write_broker_files
from edge_runtime.config import ConfigError, parse_config
from edge_runtime.config.site_file import read_site_file

# What k3s/base/ fixes: the tests cross-check each against the rendered manifests.
MQTT_HOST, MQTT_PORT = "mosquitto", 1883  # the mosquitto Service
HTTP_HOST, HTTP_PORT = "0.0.0.0", 8080  # the edge container's port "http" (probes, scrape, Service)
SITE_DIR = Path("/etc/siteguard")  # where the siteguard-site Secret is mounted
DATA_PATH = Path("/data/siteguard.db")  # the edge's host-path volume
METRICS_TOKEN = "metrics-token"
CREDENTIAL = "device-credential"
HANDOUT = "passwords.txt"
EXIT_FAILED, EXIT_CONFIG = 1, 2


def k3s_site(data: dict[str, Any], daemon: tuple[str, str], metrics_token: str, credential: bool) -> dict[str, Any]:
    """The site file as the daemon runs it in the cluster: ``data`` with the keys the manifests fix, and the
    daemon's own broker account ``daemon`` (name, password)."""
    name, password = daemon
    mqtt = {**(data.get("mqtt") or {}), "host": MQTT_HOST, "port": MQTT_PORT, "username": name, "password": password}
    storage = {**(data.get("storage") or {}), "path": str(DATA_PATH)}
    dashboard = {**(data.get("dashboard") or {}),
                 "metrics_token_sha256": hashlib.sha256(metrics_token.encode()).hexdigest()}
    site = {**data, "mqtt": mqtt, "storage": storage, "dashboard": dashboard,
            "http": {**(data.get("http") or {}), "host": HTTP_HOST, "port": HTTP_PORT}}
    if credential:
        site["sync"] = {**(data.get("sync") or {}), "credential_file": str(SITE_DIR / CREDENTIAL)}
    return site


def kustomization(credential: bool) -> dict[str, Any]:
    """The generated kustomization: hashed names, so a new secret rolls the pods that use it."""
    site_files = ["site.yaml", *([CREDENTIAL] if credential else [])]
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "siteguard",
        "secretGenerator": [
            {"name": "siteguard-site", "files": site_files},
            {"name": "mosquitto-auth", "files": ["passwd"]},
            # a fixed name, as the monitoring component refers to it; Prometheus reads it at every scrape
            {"name": "prometheus-edge-token", "files": [METRICS_TOKEN], "options": {"disableNameSuffixHash": True}},
        ],
        "configMapGenerator": [{"name": "mosquitto-acl", "files": ["acl"]}],
    }


def previous(directory: Path | None) -> dict[str, str]:
    """Name -> secret of an earlier run (its hand-out file and metrics token), to keep them when rotating."""
    if directory is None:
        return {}
    kept = {}
    for line in (directory / HANDOUT).read_text(encoding="utf-8").splitlines():
        name, _, password = line.partition(": ")
        if password:
            kept[name] = password
    kept[METRICS_TOKEN] = (directory / METRICS_TOKEN).read_text(encoding="utf-8").strip()
    return kept


def write(config_path: Path, out: Path, credential_file: Path | None, reuse: Path | None,
          rotate: list[str]) -> list[str]:
    """Writes ``out``; returns the accounts written. ConfigError for a bad site file, OSError for files."""
    data = read_site_file(config_path)
    if not isinstance(data, dict):
        raise ConfigError([("<root>", "the site file must be a mapping")])
    if (data.get("sync") or {}).get("enabled") and credential_file is None:
        raise ConfigError([("sync.credential_file", "sync is enabled: pass --device-credential, the file "
                            "`siteguard cloud device register --credential-file` wrote")])
    username = (data.get("mqtt") or {}).get("username") or DEFAULT_DAEMON_ACCOUNT
    check = k3s_site(data, (username, "-"), "-", credential_file is not None)
    if credential_file is not None:  # validated from where it is now; the pod reads it from the Secret
        check["sync"] = {**check["sync"], "credential_file": str(credential_file)}
    config = parse_config(check)  # names every bad key before anything is written
    kept = {name: secret for name, secret in previous(reuse).items() if name not in rotate}
    accounts = site_accounts(config)
    if unknown := set(rotate) - {a.name for a in accounts} - {METRICS_TOKEN}:
        raise ConfigError([("--rotate", f"no account {', '.join(sorted(unknown))} in mqtt (nor {METRICS_TOKEN})")])
    passwords = {a.name: kept.get(a.name) or secrets.token_urlsafe(18) for a in accounts}
    token = kept.get(METRICS_TOKEN) or secrets.token_urlsafe(32)
    files = write_broker_files(out, config.site.id, accounts, passwords)
    files.conf.unlink()  # its paths are this machine's: the cluster's are in k3s/base/mosquitto.conf
    _private(out / METRICS_TOKEN, token + "\n")
    if credential_file is not None:
        _private(out / CREDENTIAL, credential_file.read_text(encoding="utf-8").strip() + "\n")
    site = k3s_site(data, (username, passwords[username]), token, credential_file is not None)
    _private(out / "site.yaml", yaml.safe_dump(site, sort_keys=False))
    (out / "kustomization.yaml").write_text(yaml.safe_dump(kustomization(credential_file is not None),
                                                           sort_keys=False))
    return [a.name for a in accounts]


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="k3s/site_secrets.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path, help="the site file (YAML)")
    p.add_argument("--out", required=True, type=Path, help="directory to write (k3s/site for the overlays)")
    p.add_argument("--device-credential", type=Path, default=None,
                   help="the credential `siteguard cloud device register --credential-file` wrote (sync on)")
    p.add_argument("--reuse", type=Path, default=None, help="an earlier --out: keep its passwords and token")
    p.add_argument("--rotate", action="append", default=[], metavar="NAME",
                   help="with --reuse: a new secret for this account or metrics-token (repeatable)")
    args = p.parse_args(argv)
    try:
        names = write(args.config, args.out, args.device_credential, args.reuse, args.rotate)
    except ConfigError as exc:
        print(f"{args.config}: invalid site configuration", file=sys.stderr)
        for key, problem in exc.problems:
            print(f"  {key}: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot write the site's secrets: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {args.out}/ for {len(names)} broker accounts ({', '.join(names)});\n"
          f"hand each its password from {args.out / HANDOUT} (mode 600), then keep that file offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
