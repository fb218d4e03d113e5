"""Loading and verifying model packages: what the edge accepts and everything it must refuse."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from models.signing import key_id, public_key, read_key, write_public_key
from models.package import (
    MANIFEST,
    SIGNATURE,
    Artifact,
    Manifest,
    PackageError,
    TensorSpec,
    load_package,
    sha256_file,
    sign_package,
    write_manifest,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def _trusted(raw_private: bytes = KEY) -> dict[str, bytes]:
    pub = public_key(raw_private)
    return {key_id(pub): pub}


def make_package(root: Path, *, artifact_path: str = "model.tflite", sign_with: bytes | None = KEY) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    model = root / "model.tflite"
    model.write_bytes(b"TFL3" + bytes(range(256)) * 8)
    manifest = Manifest(
        name="test-model", version="1.0.0", task="detection", labels=("person",),
        inputs=(TensorSpec(name="images", shape=(1, 32, 32, 3), dtype="float32"),),
        outputs=(TensorSpec(name="detections", shape=(1, 10, 5), dtype="float32"),),
        artifacts=(Artifact(path=artifact_path, format="tflite", sha256=sha256_file(model)),),
    )
    write_manifest(root, manifest)
    if sign_with is not None:
        sign_package(root, sign_with)
    return root


def test_a_good_package_loads_and_names_its_signer(tmp_path: Path) -> None:
    package = load_package(make_package(tmp_path / "pkg"), trusted_keys=_trusted())
    assert package.signed_by == key_id(public_key(KEY))
    assert package.path_of(package.manifest.artifacts[0]).is_file()
    assert package.lineage == {"model": "test-model", "version": "1.0.0"}


def test_a_tampered_artifact_is_refused_by_name(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    data = bytearray((root / "model.tflite").read_bytes())
    data[100] ^= 0xFF
    (root / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(PackageError, match=r"model\.tflite.*sha256"):
        load_package(root, trusted_keys=_trusted())


def test_a_truncated_artifact_is_refused(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    (root / "model.tflite").write_bytes((root / "model.tflite").read_bytes()[:-10])
    with pytest.raises(PackageError, match=r"model\.tflite"):
        load_package(root, trusted_keys=_trusted())


def test_a_missing_artifact_is_refused(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    (root / "model.tflite").unlink()
    with pytest.raises(PackageError, match="missing"):
        load_package(root, trusted_keys=_trusted())


def test_a_signature_by_an_untrusted_key_is_refused(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", sign_with=OTHER_KEY)
    with pytest.raises(PackageError, match="signature"):
        load_package(root, trusted_keys=_trusted())


def test_a_manifest_edited_after_signing_is_refused(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    data = json.loads((root / MANIFEST).read_text())
    data["metrics"] = {"map50_int8": 0.99}  # an inflated accuracy claim
    (root / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(PackageError, match="signature"):
        load_package(root, trusted_keys=_trusted())


def test_an_unsigned_package_is_refused_when_a_signature_is_required(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", sign_with=None)
    with pytest.raises(PackageError, match="unsigned"):
        load_package(root, trusted_keys=_trusted())
    assert load_package(root, trusted_keys=_trusted(), require_signature=False).signed_by is None


def test_a_manifest_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    data = json.loads((root / MANIFEST).read_text())
    data["artifacts"][0]["entrypoint"] = "run.sh"
    (root / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(PackageError, match=r"invalid manifest: artifacts\.0\.entrypoint"):
        load_package(root, trusted_keys=_trusted())


def test_an_artifact_path_leaving_the_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.tflite").write_bytes(b"outside")
    root = make_package(tmp_path / "pkg", artifact_path="../model.tflite")
    with pytest.raises(PackageError, match="leaves the package"):
        load_package(root, trusted_keys=_trusted())


def test_a_tar_archive_loads_like_its_directory(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    archive = tmp_path / "pkg.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname="pkg")
    package = load_package(archive, trusted_keys=_trusted())
    assert package.manifest.name == "test-model" and package.signed_by is not None


def test_a_tar_archive_with_a_member_escaping_it_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(PackageError):
        load_package(archive, trusted_keys=_trusted())
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="not a model package"):
        load_package(tmp_path / "nothing-here", trusted_keys=_trusted())
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageError, match="cannot read"):
        load_package(tmp_path / "empty", trusted_keys=_trusted())


def test_public_keys_read_as_hex_or_raw(tmp_path: Path) -> None:
    pub = public_key(KEY)
    write_public_key(tmp_path / "key.hex", pub)
    (tmp_path / "key.raw").write_bytes(pub)
    (tmp_path / "key.bad").write_text("not a key")
    assert read_key(tmp_path / "key.hex") == read_key(tmp_path / "key.raw") == pub
    assert Ed25519PrivateKey.from_private_bytes(KEY).public_key().public_bytes_raw() == pub
    with pytest.raises(ValueError, match="Ed25519"):
        read_key(tmp_path / "key.bad")


def test_signature_file_is_64_bytes(tmp_path: Path) -> None:
    assert len((make_package(tmp_path / "pkg") / SIGNATURE).read_bytes()) == 64
