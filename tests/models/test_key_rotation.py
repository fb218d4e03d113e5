"""Key rotation: a device trusts a set of keys from its site file, each with an optional retirement date.

Packages signed by the old key load until its retirement and are refused after it, naming the retired key;
packages signed by the new key load throughout; tampered, truncated and wrongly signed packages stay refused
whatever the keys' dates. The site file takes both the plain ``id: hex`` form and ``{key, retired_after}``,
and a bad value exits 2 naming the key.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from edge_runtime.config import ConfigError, parse_config
from models.package import PackageError, TrustedKey, load_package
from models.signing import key_id, public_key

from .test_package import make_package

OLD, NEW, STRANGER = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))
RETIRED = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
BEFORE, AFTER = RETIRED - 86_400, RETIRED + 1
REPO = Path(__file__).resolve().parents[2]
SITE = {"site": {"id": "s1", "origin_lat": 51.9, "origin_lon": 4.4}}


def rotation() -> dict[str, TrustedKey]:
    """The old key retiring on 2027-01-01 beside the new one, as the site file gives them to the camera worker."""
    return {"old": TrustedKey(public_key(OLD), RETIRED), "new": TrustedKey(public_key(NEW))}


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rotation")
    return {name: make_package(root / name, sign_with=key) for name, key in
            (("old", OLD), ("new", NEW), ("stranger", STRANGER))}


@pytest.mark.parametrize("at", [BEFORE, RETIRED])
def test_the_old_keys_packages_load_until_its_retirement(packages: dict[str, Path], at: float) -> None:
    assert load_package(packages["old"], trusted_keys=rotation(), at_ts=at).signed_by == "old"


def test_the_old_keys_packages_are_refused_after_its_retirement(packages: dict[str, Path]) -> None:
    with pytest.raises(PackageError, match=r"signed only by retired keys: old \(retired after 2027-01-01T00:00:00"):
        load_package(packages["old"], trusted_keys=rotation(), at_ts=AFTER)


@pytest.mark.parametrize("at", [BEFORE, RETIRED, AFTER, AFTER + 10 * 365 * 86_400])
def test_the_new_keys_packages_load_throughout(packages: dict[str, Path], at: float) -> None:
    assert load_package(packages["new"], trusted_keys=rotation(), at_ts=at).signed_by == "new"


def test_now_is_the_default_time(packages: dict[str, Path]) -> None:
    past = {"old": TrustedKey(public_key(OLD), datetime(2020, 1, 1, tzinfo=UTC).timestamp())}
    with pytest.raises(PackageError, match="retired"):
        load_package(packages["old"], trusted_keys=past)


def test_plain_keys_still_work_and_mix_with_dated_ones(packages: dict[str, Path]) -> None:
    plain = {key_id(public_key(OLD)): public_key(OLD)}
    assert load_package(packages["old"], trusted_keys=plain, at_ts=AFTER).signed_by == key_id(public_key(OLD))
    mixed = {"old": TrustedKey(public_key(OLD), RETIRED), "new": public_key(NEW)}
    assert load_package(packages["new"], trusted_keys=mixed, at_ts=AFTER).signed_by == "new"


@pytest.mark.parametrize("at", [BEFORE, AFTER])
def test_wrongly_signed_tampered_and_truncated_packages_stay_refused(
        packages: dict[str, Path], tmp_path: Path, at: float) -> None:
    with pytest.raises(PackageError, match="does not verify under any trusted key"):
        load_package(packages["stranger"], trusted_keys=rotation(), at_ts=at)
    tampered = make_package(tmp_path / "tampered", sign_with=NEW)
    (tampered / "manifest.json").write_text((tampered / "manifest.json").read_text().replace("1.0.0", "9.9.9"))
    with pytest.raises(PackageError, match="does not verify"):
        load_package(tampered, trusted_keys=rotation(), at_ts=at)
    truncated = make_package(tmp_path / "truncated", sign_with=NEW)
    data = (truncated / "model.tflite").read_bytes()
    (truncated / "model.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(PackageError, match="tampered or truncated"):
        load_package(truncated, trusted_keys=rotation(), at_ts=at)


def test_the_site_file_takes_both_forms_and_dates(packages: dict[str, Path]) -> None:
    text = f"""
vision:
  trusted_keys:
    old: {{key: {public_key(OLD).hex()}, retired_after: 2027-01-01}}
    new: {public_key(NEW).hex()}
    later: {{key: {public_key(STRANGER).hex()}, retired_after: "2027-06-01T12:00:00+02:00"}}
"""
    keys = parse_config({**SITE, **yaml.safe_load(text)}).vision.keys()
    assert keys is not None and keys["old"] == TrustedKey(public_key(OLD), RETIRED)
    assert keys["new"] == TrustedKey(public_key(NEW), None)
    assert keys["later"].retired_after == datetime(2027, 6, 1, 10, tzinfo=UTC).timestamp()
    assert load_package(packages["old"], trusted_keys=keys, at_ts=BEFORE).signed_by == "old"
    with pytest.raises(PackageError, match="retired"):
        load_package(packages["old"], trusted_keys=keys, at_ts=AFTER)


@pytest.mark.parametrize(("value", "problem"), [
    ("abc", "not 64 hex characters"),
    ({"key": "zz" * 32}, "key: not 64 hex characters"),
    ({"key": "ab" * 32, "retired_after": "next week"}, "retired_after: 'next week' is not an ISO 8601"),
    ({"key": "ab" * 32, "retire": "2027-01-01"}, "unknown: ['retire']"),
    ({"retired_after": "2027-01-01"}, "the mapping has no key"),
    (42, "want 64 hex characters, or a mapping"),
])
def test_a_bad_key_is_named(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**SITE, "vision": {"trusted_keys": {"good": "ab" * 32, "bad": value}}})
    ((where, message),) = caught.value.problems
    assert where == "vision.trusted_keys.bad" and problem in message, caught.value.problems


def test_check_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({**SITE, "vision": {"trusted_keys": {"old": {"key": "ab" * 32,
                                                                                  "retired_after": "soon"}}}}))
    result = subprocess.run([sys.executable, "-m", "edge_runtime", "check-config", str(site)], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2 and "vision.trusted_keys.old" in result.stdout + result.stderr, result
