"""Find the GGUF models on this machine.

People already have models: downloaded by LM Studio, pulled by Ollama (whose blob store
holds plain GGUF files under content hashes), fetched into the Hugging Face cache, or kept
in a folder of their own. Cairn lists them so `agents.md` can point at one, and reads each
header (`cairn.engines.gguf_header`) for what the catalogue and the memory-fit estimate
need: architecture, quantisation, trained context length and the attention shape.

Folder conventions are assumptions taken from each tool's documentation; they are listed
in `model_folders` and in docs/models.md.

The header names (`GgufInfo`, `read_gguf_info`, ...) are re-exported from here, so code
that imports them from this module keeps working.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from cairn.engines.gguf_header import (
    MAGIC,
    GgufInfo,
    GgufReadError,
    NotGgufError,
    Source,
    has_gguf_magic,
    is_later_split_part,
    read_gguf_info,
)

__all__ = [
    "MAGIC",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "SYSTEM_OLLAMA_MODELS",
    "DiscoveryProblem",
    "GgufInfo",
    "GgufReadError",
    "GgufScan",
    "ModelFolder",
    "NotGgufError",
    "Source",
    "default_model_folders",
    "discover_gguf",
    "has_gguf_magic",
    "is_later_split_part",
    "is_partial_download",
    "model_folders",
    "ollama_blob_names",
    "read_gguf_info",
    "scan_gguf",
    "source_of",
]


# --- where models live -----------------------------------------------------------------------

# Ollama's Linux installer runs a system service whose home is /usr/share/ollama.
SYSTEM_OLLAMA_MODELS = Path("/usr/share/ollama/.ollama/models")


@dataclass(frozen=True, slots=True)
class ModelFolder:
    path: Path
    source: Source


def model_folders(*, existing_only: bool = True) -> list[ModelFolder]:
    """The folders Cairn searches by default, most specific first.

    Assumptions, from each tool's documentation (see docs/models.md):
    - `CAIRN_MODEL_PATH`: the user's own folders, separated like PATH (os.pathsep).
    - LM Studio keeps models in `<home>/.lmstudio/models/<publisher>/<model>/` on every
      OS (0.3 and later); 0.2 used `<home>/.cache/lm-studio/models`. A moved LM Studio home
      is named in `<home>/.lmstudio-home-pointer`, and a custom models folder is stored
      as `downloadsFolder` in `<lmstudio home>/settings.json` (both read if present).
    - Ollama keeps `blobs/` and `manifests/` in `$OLLAMA_MODELS`, else `<home>/.ollama/models`
      (macOS, Windows and user installs), or `/usr/share/ollama/.ollama/models` for the
      Linux system service.
    - Hugging Face: `$HF_HUB_CACHE`, the legacy `$HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`,
      `$XDG_CACHE_HOME/huggingface/hub`, `<home>/.cache/huggingface/hub`. Every one that
      exists is searched, not only the one huggingface_hub would pick today.
    """
    home = Path.home()
    env = os.environ
    candidates: list[ModelFolder] = []

    def add(path: str | Path | None, source: Source) -> None:
        if path:
            candidates.append(ModelFolder(Path(path).expanduser(), source))

    for entry in env.get("CAIRN_MODEL_PATH", "").split(os.pathsep):
        add(entry.strip(), "configured")
    from cairn.infra.starter_model import models_folder

    add(models_folder(), "configured")  # Cairn's own: the starter model, pulled models

    lmstudio_homes = [home / ".lmstudio"]
    pointer = _small_text(home / ".lmstudio-home-pointer")
    if pointer and pointer.strip():
        lmstudio_homes.insert(0, Path(pointer.strip()).expanduser())
    for lmstudio in lmstudio_homes:
        settings = _small_json(lmstudio / "settings.json")
        if isinstance(settings, dict) and isinstance(settings.get("downloadsFolder"), str):
            add(settings["downloadsFolder"], "lmstudio")
        add(lmstudio / "models", "lmstudio")
    add(home / ".cache" / "lm-studio" / "models", "lmstudio")

    if env.get("OLLAMA_MODELS"):
        add(Path(env["OLLAMA_MODELS"]) / "blobs", "ollama")
    add(home / ".ollama" / "models" / "blobs", "ollama")
    if sys.platform.startswith("linux"):
        add(SYSTEM_OLLAMA_MODELS / "blobs", "ollama")

    add(env.get("HF_HUB_CACHE"), "huggingface")
    add(env.get("HUGGINGFACE_HUB_CACHE"), "huggingface")
    if env.get("HF_HOME"):
        add(Path(env["HF_HOME"]) / "hub", "huggingface")
    if env.get("XDG_CACHE_HOME"):
        add(Path(env["XDG_CACHE_HOME"]) / "huggingface" / "hub", "huggingface")
    add(home / ".cache" / "huggingface" / "hub", "huggingface")

    result: list[ModelFolder] = []
    seen: set[str] = set()
    for folder in candidates:
        real = os.path.realpath(folder.path)
        if real in seen or (existing_only and not _is_dir(folder.path)):
            continue
        seen.add(real)
        result.append(folder)
    return result


def default_model_folders() -> list[Path]:
    """The existing folders Cairn searches for GGUF files on this machine."""
    return [folder.path for folder in model_folders()]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _small_text(path: Path, limit: int = 1 << 20) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _small_json(path: Path) -> object:
    text = _small_text(path)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def source_of(path: Path, default: Source = "configured") -> Source:
    """Which tool's layout a file sits in: Ollama's blob store, the HF cache, LM Studio's."""
    parts = [part.lower() for part in path.parts]
    if len(parts) >= 2 and parts[-2] == "blobs" and parts[-1].startswith("sha256-"):
        return "ollama"
    if any(part.startswith("models--") for part in parts):
        return "huggingface"
    if any(part in (".lmstudio", "lm-studio") for part in parts):
        return "lmstudio"
    return default


# --- Ollama names ----------------------------------------------------------------------------

_OLLAMA_LAYERS = {
    "application/vnd.ollama.image.model": "",
    "application/vnd.ollama.image.projector": " (projector)",
    "application/vnd.ollama.image.adapter": " (adapter)",
}


def ollama_blob_names(models_dir: Path) -> dict[str, tuple[str, ...]]:
    """Blob file name (`sha256-<hex>`) → the Ollama model names whose manifest uses it.

    Manifests live at `manifests/<registry>/<namespace>/<model>/<tag>` as JSON whose
    `layers` list each blob's `mediaType` and `digest` (`sha256:<hex>`). Names are shown
    as Ollama shows them: `llama3.2:3b` for the library, `user/model:tag` otherwise.
    Unreadable manifests are skipped: names are a convenience, the blobs are listed anyway.
    """
    manifests = models_dir / "manifests"
    names: dict[str, set[str]] = {}
    for file in _files_below(manifests, depth=5):
        data = _small_json(file)
        layers = data.get("layers") if isinstance(data, dict) else None
        if not isinstance(layers, list):
            continue
        label = _ollama_name(file.relative_to(manifests).parts)
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            suffix = _OLLAMA_LAYERS.get(str(layer.get("mediaType")))
            digest = layer.get("digest")
            if suffix is not None and isinstance(digest, str):
                names.setdefault(digest.replace(":", "-", 1), set()).add(label + suffix)
    return {blob: tuple(sorted(found)) for blob, found in names.items()}


def _ollama_name(parts: tuple[str, ...]) -> str:
    *repository, tag = parts
    if len(repository) >= 3 and repository[0] == "registry.ollama.ai":
        repository = repository[2:] if repository[1] == "library" else repository[1:]
    return "/".join(repository) + ":" + tag


def _files_below(folder: Path, depth: int) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False) and depth > 0:
                yield from _files_below(Path(entry.path), depth - 1)
            elif entry.is_file():
                yield Path(entry.path)
        except OSError:
            continue


# --- discovery -------------------------------------------------------------------------------

MAX_DEPTH = 6  # LM Studio needs 3 (publisher/model/file), the HF cache 4 or 5
MAX_ENTRIES = 200_000  # per scan: a folder like $HOME must not keep Cairn busy for minutes

# Names of downloads still in progress: browsers, curl/wget helpers, the Hugging Face
# cache (`.incomplete`) and Ollama (`sha256-<hex>-partial`, `-partial-0`, ...).
_PARTIAL_SUFFIXES = (
    *(".part", ".partial", ".incomplete", ".download", ".downloading"),
    *(".crdownload", ".tmp", ".temp", ".aria2"),
)
_OLLAMA_PARTIAL = re.compile(r"-partial(-\d+)?$")


@dataclass(frozen=True, slots=True)
class DiscoveryProblem:
    path: Path
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "message": self.message}


@dataclass(frozen=True, slots=True)
class GgufScan:
    models: tuple[GgufInfo, ...]
    problems: tuple[DiscoveryProblem, ...]
    folders: tuple[ModelFolder, ...]


def is_partial_download(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(_PARTIAL_SUFFIXES) or bool(_OLLAMA_PARTIAL.search(lower))


def _worth_opening(name: str) -> bool:
    # `.gguf` files, and extensionless blobs (Ollama's `sha256-<hex>`, the HF cache's
    # `<hex>`). Other extensions (safetensors, json, bin) are never opened.
    return not is_partial_download(name) and (name.lower().endswith(".gguf") or "." not in name)


def discover_gguf(
    folders: Iterable[str | os.PathLike[str] | ModelFolder], *, max_depth: int = MAX_DEPTH
) -> list[GgufInfo]:
    """Every readable GGUF model under `folders`; see `scan_gguf` for what went wrong."""
    return list(scan_gguf(folders, max_depth=max_depth).models)


def scan_gguf(
    folders: Iterable[str | os.PathLike[str] | ModelFolder], *, max_depth: int = MAX_DEPTH
) -> GgufScan:
    """Search `folders` for GGUF models. Never raises for what it finds: problems are listed.

    A file reached by several paths (a Hugging Face snapshot link and its blob, a folder
    linked into another) is listed once, under its most readable path. The later parts of
    a split model are listed with the first. Hidden entries and partial downloads are
    skipped; folder links are followed, loops are not.
    """
    known = {os.path.realpath(f.path): f.source for f in model_folders(existing_only=False)}
    roots: list[ModelFolder] = []
    for folder in folders:
        if isinstance(folder, ModelFolder):
            roots.append(folder)
        else:
            path = Path(folder).expanduser()
            roots.append(ModelFolder(path, known.get(os.path.realpath(path), "configured")))
    walk = _Walk(max_depth)
    for root in roots:
        walk.root(root)
    return GgufScan(tuple(walk.models.values()), tuple(walk.problems), tuple(roots))


class _Walk:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.models: dict[str, GgufInfo] = {}  # real path -> info
        self.problems: list[DiscoveryProblem] = []
        self.seen_folders: set[tuple[int, int]] = set()
        self.entries = 0
        self.ollama: dict[Path, dict[str, tuple[str, ...]]] = {}

    def root(self, root: ModelFolder) -> None:
        path = root.path
        try:
            if path.is_file():
                self.file(path, root.source, explicit=True)
                return
            if not path.is_dir():
                self.problems.append(DiscoveryProblem(path, "folder does not exist"))
                return
        except OSError as exc:
            self.problems.append(DiscoveryProblem(path, f"cannot be read: {exc}"))
            return
        for file in self.files(path):
            self.file(file, root.source, explicit=False)

    def files(self, root: Path) -> Iterator[Path]:
        stack = [(root, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                info = folder.stat()
                key = (info.st_dev, info.st_ino)
                if key in self.seen_folders:
                    continue
                self.seen_folders.add(key)
                entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
            except OSError as exc:
                self.problems.append(
                    DiscoveryProblem(folder, f"cannot be read: {exc.strerror or exc}")
                )
                continue
            later: list[Path] = []
            for entry in entries:
                self.entries += 1
                if self.entries > MAX_ENTRIES:
                    self.problems.append(
                        DiscoveryProblem(
                            root,
                            f"stopped after {MAX_ENTRIES:,} entries: point Cairn at the "
                            "folder that holds the models rather than one above it",
                        )
                    )
                    return
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir():
                        if depth < self.max_depth:
                            stack.append((Path(entry.path), depth + 1))
                    elif entry.is_file():
                        if _worth_opening(entry.name):
                            later.append(Path(entry.path))
                    elif entry.is_symlink():
                        self.problems.append(
                            DiscoveryProblem(Path(entry.path), "broken link: its target is gone")
                        )
                except OSError:
                    continue
            yield from reversed(later)

    def file(self, path: Path, source: Source, *, explicit: bool) -> None:
        gguf_name = path.name.lower().endswith(".gguf")
        if is_later_split_part(path):
            return
        try:
            if not has_gguf_magic(path):
                if gguf_name or explicit:
                    self.problems.append(
                        DiscoveryProblem(path, "not a GGUF file (it does not start with 'GGUF')")
                    )
                return
        except OSError as exc:
            self.problems.append(DiscoveryProblem(path, f"cannot be read: {exc.strerror or exc}"))
            return
        real = os.path.realpath(path)
        previous = self.models.get(real)
        if previous is not None:
            if gguf_name and not previous.path.name.lower().endswith(".gguf"):
                self.models[real] = replace(previous, path=path, source=source_of(path, source))
            return
        try:
            info = read_gguf_info(path)
        except GgufReadError as exc:
            self.problems.append(DiscoveryProblem(path, exc.reason))
            return
        if info.split_found < info.split_count:
            self.problems.append(
                DiscoveryProblem(
                    path,
                    f"only {info.split_found} of the {info.split_count} parts of this split "
                    "model are here; it cannot be loaded until all are",
                )
            )
        self.models[real] = replace(
            info, source=source_of(path, source), aliases=self.ollama_names(path)
        )

    def ollama_names(self, path: Path) -> tuple[str, ...]:
        if path.parent.name != "blobs":
            return ()
        models_dir = path.parent.parent
        if models_dir not in self.ollama:
            manifests = models_dir / "manifests"
            self.ollama[models_dir] = ollama_blob_names(models_dir) if _is_dir(manifests) else {}
        return self.ollama[models_dir].get(path.name, ())
