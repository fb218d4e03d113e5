"""Which targets are a rollout's canaries: ``ceil(share × targets)``, at least one of each device type.

Deterministic: targets are ranked by sha256 of (model, version, device id), so
the same candidate on the same fleet always picks the same canaries (a retried
create, a replica), while different candidates spread over different devices
rather than always testing on the first ids. Devices an admin names
(``preferred``: a site's pilot node) come first; then the first of each type
not covered yet, in rank order; then the rank fills up to the share.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence

from cloud_sync.registry.devices import Device


def rank(model: str, version: str, devices: Sequence[Device]) -> list[Device]:
    return sorted(devices, key=lambda d: (hashlib.sha256(f"{model}\0{version}\0{d.id}".encode()).digest(), d.id))


def pick_canaries(model: str, version: str, targets: Sequence[Device], share: float,
                  preferred: Collection[str] = ()) -> set[str]:
    """The ids of the canary devices among ``targets`` (empty for no targets)."""
    ordered = rank(model, version, targets)
    chosen: dict[str, None] = {d.id: None for d in ordered if d.id in preferred}
    seen_types = {d.device_type for d in ordered if d.id in chosen}
    for device in ordered:
        if device.device_type not in seen_types:
            seen_types.add(device.device_type)
            chosen[device.id] = None
    wanted = math.ceil(share * len(ordered) - 1e-9)
    for device in ordered:
        if len(chosen) >= wanted:
            break
        chosen.setdefault(device.id, None)
    return set(chosen)
