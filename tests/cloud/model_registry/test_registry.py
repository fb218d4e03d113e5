"""ModelRegistry on SQLite and PostgreSQL: register verified packages (directory and archive), refuse
tampered, unsigned, untrusted and duplicate ones; aliases with their append-only history; lineage walks."""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from cloud_sync.model_registry import DuplicateVersion, ModelNotFound, ModelRegistry, PackageRefused
from cloud_sync.model_registry.errors import ModelRegistryError
from models.package import load_package
from models.signing import key_id, read_key
from tests.cloud.model_registry.packages import CAMERA, DEFAULT, Signer, camera_package, tar_of


@pytest.fixture
def registry(cloud_engine: Engine, tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(cloud_engine, tmp_path / "store")


def test_registers_the_shipped_package_and_stores_only_what_was_signed(registry: ModelRegistry) -> None:
    pub = read_key(DEFAULT / "signing_key.pub")
    version = registry.register(DEFAULT, {key_id(pub): pub}, by="ada", data_snapshot_id="snap-1")
    assert (version.name, version.version, version.task) == (CAMERA, "1.0.0", "detection")
    assert version.run_id == "camera-20261121T215001Z-seed7-n12000-e3" and version.data_snapshot_id == "snap-1"
    assert version.metrics["map50_fp32"] == pytest.approx(0.7329) and version.created_by == "ada"
    stored = registry.package_dir(version)
    assert stored == registry.store.root / CAMERA / "1.0.0"
    assert sorted(p.name for p in stored.iterdir()) == [
        "manifest.json", "manifest.sig", "model.onnx", "model_fp32.tflite", "model_int8.tflite"]  # no key file
    assert load_package(stored, trusted_keys={key_id(pub): pub}).signed_by == key_id(pub)
    assert registry.get(CAMERA, "1.0.0") == version and registry.versions(CAMERA) == [version]
    assert not list((registry.store.root / ".staging").iterdir())


def test_registers_an_archive(registry: ModelRegistry, signer: Signer, packages: Path) -> None:
    archive = tar_of(camera_package(packages, signer, "2.0.0", run_id="job-9"))
    version = registry.register(archive, signer.trusted, by="pipeline")
    assert version.run_id == "job-9" and (registry.package_dir(version) / "model_fp32.tflite").is_file()


def tampered_artifact(root: Path) -> None:
    data = bytearray((root / "model_fp32.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / "model_fp32.tflite").write_bytes(bytes(data))


def tampered_manifest(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["metrics"]["map50_fp32"] = 0.99  # a better claim than was signed
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(("change", "message"), [
    (tampered_artifact, "does not match its sha256"),
    (tampered_manifest, "signature does not verify"),
    (lambda root: (root / "manifest.sig").unlink(), "unsigned package"),
    (lambda root: (root / "model_fp32.tflite").unlink(), "is missing"),
])
def test_refuses_a_tampered_or_unsigned_package(registry: ModelRegistry, signer: Signer, packages: Path,
                                                change, message: str) -> None:
    root = camera_package(packages, signer, "1.0.0")
    change(root)
    for source in (root, tar_of(root)):
        with pytest.raises(PackageRefused, match=message):
            registry.register(source, signer.trusted, by="ada")
    assert registry.versions(CAMERA) == [] and not (registry.store.root / CAMERA).exists()


def test_refuses_untrusted_signers_and_an_empty_trust_list(registry: ModelRegistry, signer: Signer,
                                                           packages: Path) -> None:
    root = camera_package(packages, Signer.new(), "1.0.0")
    with pytest.raises(PackageRefused, match="signature does not verify under any trusted key"):
        registry.register(root, signer.trusted, by="ada")
    with pytest.raises(PackageRefused, match="no trusted model signing keys"):
        registry.register(root, {}, by="ada")


def test_refuses_an_archive_that_is_not_one_or_escapes(registry: ModelRegistry, signer: Signer,
                                                       packages: Path) -> None:
    junk = packages / "junk.tar"
    junk.write_bytes(b"not a tar archive at all" * 40)
    with pytest.raises(PackageRefused, match="not a readable package archive"):
        registry.register(junk, signer.trusted, by="ada")
    evil = packages / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../../outside.txt")
        tar.addfile(info)
    with pytest.raises(PackageRefused, match="not a readable package archive"):
        registry.register(evil, signer.trusted, by="ada")
    assert not (registry.store.root.parent / "outside.txt").exists()


def test_refuses_a_duplicate_version_and_keeps_the_first(registry: ModelRegistry, signer: Signer,
                                                         packages: Path) -> None:
    first = registry.register(camera_package(packages, signer, "1.0.0"), signer.trusted, by="ada")
    other = camera_package(packages / "again", signer, "1.0.0", artifacts=("model.onnx",))
    with pytest.raises(DuplicateVersion, match="registered already"):
        registry.register(other, signer.trusted, by="bob")
    assert registry.versions(CAMERA) == [first]
    assert (registry.package_dir(first) / "model_fp32.tflite").is_file()
    assert not (registry.package_dir(first) / "model.onnx").exists()


def test_aliases_move_and_their_history_is_kept(registry: ModelRegistry, signer: Signer, packages: Path) -> None:
    for v in ("1.0.0", "1.1.0"):
        registry.register(camera_package(packages, signer, v), signer.trusted, by="ada")
    registry.set_alias(CAMERA, "champion", "1.0.0", by="ada")
    registry.set_alias(CAMERA, "candidate", "1.1.0", by="pipeline")
    registry.set_alias(CAMERA, "champion", "1.1.0", by="bob")
    assert registry.alias(CAMERA, "champion").version == "1.1.0"
    assert [(a.alias, a.version, a.updated_by) for a in registry.aliases(CAMERA)] == [
        ("candidate", "1.1.0", "pipeline"), ("champion", "1.1.0", "bob")]
    assert [(h.alias, h.version, h.previous_version, h.by) for h in registry.alias_history(CAMERA)] == [
        ("champion", "1.1.0", "1.0.0", "bob"), ("candidate", "1.1.0", None, "pipeline"),
        ("champion", "1.0.0", None, "ada")]
    assert len(registry.alias_history(CAMERA, "champion")) == 2
    with pytest.raises(ModelNotFound, match="version 9.9"):
        registry.set_alias(CAMERA, "champion", "9.9", by="ada")
    with pytest.raises(ModelNotFound, match="no alias 'shadow'"):
        registry.alias(CAMERA, "shadow")
    with pytest.raises(ModelRegistryError, match="alias 'Bad Alias'"):
        registry.set_alias(CAMERA, "Bad Alias", "1.0.0", by="ada")


def test_history_and_activity_are_append_only_in_the_database(registry: ModelRegistry, signer: Signer,
                                                              packages: Path, cloud_engine: Engine) -> None:
    registry.register(camera_package(packages, signer, "1.0.0"), signer.trusted, by="ada")
    registry.set_alias(CAMERA, "champion", "1.0.0", by="ada")
    registry.record_activity("gw-1", {"cam-1": {"name": CAMERA, "version": "1.0.0", "sha256": None}}, 10.0)
    for statement in ("UPDATE model_alias_history SET version = 'x'", "DELETE FROM model_alias_history",
                      "UPDATE model_activity SET version = 'x'", "DELETE FROM model_activity"):
        with pytest.raises(DBAPIError, match="append-only"):
            with cloud_engine.begin() as conn:
                conn.execute(text(statement))


def test_lineage_walks_parents_with_their_runs_and_snapshots(registry: ModelRegistry, signer: Signer,
                                                             packages: Path) -> None:
    chain = [("1.0.0", "0.9.0"), ("1.1.0", "1.0.0"), ("2.0.0", "1.1.0")]  # 0.9.0 was never registered here
    for i, (version, parent) in enumerate(chain):
        registry.register(camera_package(packages, signer, version, parent=parent, run_id=f"job-{i}"),
                          signer.trusted, by="pipeline", data_snapshot_id=f"snap-{i}")
    steps = registry.lineage(CAMERA, "2.0.0")
    assert [(s.version, s.registered, s.run_id, s.data_snapshot_id) for s in steps] == [
        ("2.0.0", True, "job-2", "snap-2"), ("1.1.0", True, "job-1", "snap-1"), ("1.0.0", True, "job-0", "snap-0"),
        ("0.9.0", False, None, None)]
    assert steps[0].parent_version == "1.1.0" and steps[0].metrics
    assert [s.version for s in registry.lineage(CAMERA, "1.0.0")] == ["1.0.0", "0.9.0"]
    with pytest.raises(ModelNotFound):
        registry.lineage(CAMERA, "3.0.0")


def test_refuses_a_version_that_names_itself_or_is_no_path(registry: ModelRegistry, signer: Signer,
                                                           packages: Path) -> None:
    with pytest.raises(PackageRefused, match="names itself as its parent"):
        registry.register(camera_package(packages, signer, "1.0.0", parent="1.0.0"), signer.trusted, by="ada")
    shutil.rmtree(packages)
    packages.mkdir()
    with pytest.raises(PackageRefused, match="version '../x'"):
        registry.register(camera_package(packages / "p", signer, "../x"), signer.trusted, by="ada")
