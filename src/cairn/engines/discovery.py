"""Find the GGUF models on this machine and read what they are from their headers.

People already have models: downloaded by LM Studio, pulled by Ollama (whose blob store
holds plain GGUF files under content hashes), fetched into the Hugging Face cache, or kept
in a folder of their own. Cairn lists them so `agents.md` can point at one, and reads each
header for what the catalogue and the memory-fit estimate need: architecture,
quantisation, trained context length and the attention shape.

Why a header reader of our own: `gguf.GGUFReader` builds a numpy object for every
metadata item, every string of the tokenizer's vocabulary included. On a header with a
152k-token vocabulary (any Qwen 2.5 file) that took 8 s and 520 MB of memory per file.
The reader below walks the same format with `struct` over a read-only memory map, skips
what it does not need, and never touches the weights: about 50 ms on the same file.
The `gguf` package still supplies the names (`LlamaFileType`, `GGMLQuantizationType`) and
the block sizes of every tensor type, and the tests check both readers agree.

Folder conventions are assumptions taken from each tool's documentation; they are listed
in `model_folders` and in docs/models.md.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from cairn.core.errors import CairnError

Source = Literal["configured", "lmstudio", "ollama", "huggingface", "file"]


class GgufReadError(CairnError):
    """A file could not be read as a GGUF model (cut short, corrupt, or unreadable)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason  # what is wrong, without the path: "is cut short: ..."
        super().__init__(f"{path} {reason}")


class NotGgufError(GgufReadError):
    """The file does not start with the GGUF magic bytes, so it is not a GGUF model."""


# --- what a header says ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GgufInfo:
    """What a GGUF file's header says about the model. Fields are None when the file is silent.

    The attention fields feed the memory-fit estimate: the KV cache holds, for every layer
    and position, `head_count_kv` keys of `key_length` and as many values of `value_length`
    (both default to `embedding_length / head_count`).
    """

    path: Path
    size_bytes: int  # on disk; for a split model, every part found
    architecture: str | None  # general.architecture: llama, qwen2, gemma3, clip, ...
    name: str | None  # general.name, as the publisher wrote it
    quantisation: str | None  # Q4_K_M, Q8_0, F16, ...: from general.file_type or the tensors
    context_length: int | None  # <arch>.context_length: the context the model was trained for
    parameter_count: int | None  # elements of every tensor; None if a split part is missing
    embedding_length: int | None
    block_count: int | None  # layers
    head_count: int | None  # attention heads (the largest, where layers differ)
    head_count_kv: int | None  # key/value heads: fewer than head_count under GQA
    key_length: int | None  # per head; None means embedding_length / head_count
    value_length: int | None
    has_chat_template: bool
    file_type: int | None  # general.file_type as stored
    size_label: str | None  # general.size_label: "3B", "8x7B"
    kind: str  # general.type: "model", "adapter", or "mmproj" for vision projectors
    tensor_count: int
    gguf_version: int
    split_count: int = 1  # parts of a split model (name-00001-of-00003.gguf)
    split_found: int = 1  # how many of those parts exist next to this one
    source: Source = "file"  # where discovery found it
    aliases: tuple[str, ...] = ()  # Ollama model names (llama3.2:3b) that use this blob

    @property
    def head_dim(self) -> int | None:
        if self.key_length:
            return self.key_length
        if self.embedding_length and self.head_count:
            return self.embedding_length // self.head_count
        return None

    @property
    def display_name(self) -> str:
        if self.aliases:
            return self.aliases[0]
        if self.name:
            return self.name
        return self.path.name

    def kv_cache_bytes(self, context: int | None = None, bytes_per_value: int = 2) -> int | None:
        """Upper bound of the KV cache for `context` tokens (default: the trained context).

        f16 caches (llama.cpp's default) use 2 bytes per value. Sliding-window and latent
        attention need less; this never underestimates.
        """
        tokens = context or self.context_length
        key = self.head_dim
        value = self.value_length or key
        kv_heads = self.head_count_kv or self.head_count
        if not (tokens and self.block_count and kv_heads and key and value):
            return None
        return tokens * self.block_count * kv_heads * (key + value) * bytes_per_value

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "display_name": self.display_name,
            "size_bytes": self.size_bytes,
            "architecture": self.architecture,
            "name": self.name,
            "quantisation": self.quantisation,
            "context_length": self.context_length,
            "parameter_count": self.parameter_count,
            "embedding_length": self.embedding_length,
            "block_count": self.block_count,
            "head_count": self.head_count,
            "head_count_kv": self.head_count_kv,
            "key_length": self.key_length,
            "value_length": self.value_length,
            "has_chat_template": self.has_chat_template,
            "file_type": self.file_type,
            "size_label": self.size_label,
            "kind": self.kind,
            "tensor_count": self.tensor_count,
            "gguf_version": self.gguf_version,
            "split_count": self.split_count,
            "split_found": self.split_found,
            "source": self.source,
            "aliases": list(self.aliases),
        }


def read_gguf_info(path: str | os.PathLike[str]) -> GgufInfo:
    """Read a GGUF file's header. Raises `GgufReadError` (`NotGgufError`), never anything else.

    The file is memory-mapped read-only and only the header pages are touched: the
    weights are never read, so this is as fast for a 70 GB model as for a tiny one.
    """
    target = Path(path)
    header = _read_header(target)
    meta = header.metadata
    split_count = max(_int(meta.get("split.count")) or 1, 1)
    parts = _split_parts(target, split_count)
    found = [p for p in parts if p == target or p.is_file()]
    size = header.file_size + sum(_size(p) for p in found if p != target)
    params: int | None = header.parameter_count
    if len(parts) > 1:
        params = _split_parameter_count(target, parts, header) if len(found) == len(parts) else None
    arch = _str(meta.get("general.architecture"))

    def arch_int(suffix: str) -> int | None:
        return _int(meta.get(f"{arch}.{suffix}")) if arch else None

    file_type = _int(meta.get("general.file_type"))
    return GgufInfo(
        path=target,
        size_bytes=size,
        architecture=arch,
        name=_str(meta.get("general.name")),
        quantisation=_quantisation(file_type, header.tensors),
        context_length=arch_int("context_length"),
        parameter_count=params,
        embedding_length=arch_int("embedding_length"),
        block_count=arch_int("block_count"),
        head_count=arch_int("attention.head_count"),
        head_count_kv=arch_int("attention.head_count_kv"),
        key_length=arch_int("attention.key_length"),
        value_length=arch_int("attention.value_length"),
        has_chat_template=any(
            k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")
            for k in header.keys
        ),
        file_type=file_type,
        size_label=_str(meta.get("general.size_label")),
        kind=_str(meta.get("general.type")) or ("mmproj" if arch == "clip" else "model"),
        tensor_count=len(header.tensors),
        gguf_version=header.version,
        split_count=split_count,
        split_found=len(found) if len(parts) > 1 else 1,
    )


def has_gguf_magic(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with `GGUF` (Ollama and Hugging Face blobs have no extension)."""
    with Path(path).open("rb") as handle:
        return handle.read(4) == MAGIC


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, tuple) and value and all(_int(v) is not None for v in value):
        return max(
            int(v) for v in value
        )  # per-layer values: the largest is the safe one for estimates
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- naming the quantisation -----------------------------------------------------------------


def _quantisation(file_type: int | None, tensors: list[_Tensor]) -> str | None:
    """`general.file_type` by its llama.cpp name, else the type holding most weights."""
    from gguf import GGMLQuantizationType, LlamaFileType

    if file_type is not None and file_type != LlamaFileType.GUESSED:
        try:
            label = LlamaFileType(file_type).name
        except ValueError:
            pass  # newer than the installed gguf package: fall back to the tensors
        else:
            return "F32" if label == "ALL_F32" else label.removeprefix("MOSTLY_")
    weights: dict[int, int] = {}
    for tensor in tensors:
        if len(tensor.dims) >= 2:  # matrices; norms and biases stay F32 in every file
            weights[tensor.ggml_type] = weights.get(tensor.ggml_type, 0) + tensor.elements
    if not weights:
        return None
    dominant = max(weights, key=lambda t: weights[t])
    try:
        return GGMLQuantizationType(dominant).name
    except ValueError:
        return f"type {dominant}"


# --- the header reader -----------------------------------------------------------------------

MAGIC = b"GGUF"
_FIXED_HEADER = 24  # magic, version (u32), tensor count (u64), metadata count (u64)
_STRING, _ARRAY = 8, 9
# Value type -> struct code, from the GGUF spec (uint8 ... float64; 8 is string, 9 array).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?"}
_SCALARS |= {10: "Q", 11: "q", 12: "d"}
_KEEP_ARRAY = 4096  # numeric arrays up to this length are kept (per-layer head counts)
_KEEP_STRING = 1 << 20  # longer strings are skipped, only their key is recorded
_MAX_DIMS = 8  # ggml has 4; anything past 8 is corruption
_MAX_NESTING = 4


@dataclass(frozen=True, slots=True)
class _Tensor:
    dims: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def elements(self) -> int:
        return math.prod(self.dims)


@dataclass(slots=True)
class _Header:
    version: int
    file_size: int
    metadata: dict[str, object] = field(default_factory=dict)  # kept values
    keys: list[str] = field(default_factory=list)  # every key, kept or skipped
    tensors: list[_Tensor] = field(default_factory=list)
    data_offset: int = 0

    @property
    def parameter_count(self) -> int:
        return sum(t.elements for t in self.tensors)


class _CutShort(Exception):
    """The header runs past the end of the file."""


def _read_header(path: Path) -> _Header:
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(_FIXED_HEADER)
            if not head:
                raise NotGgufError(path, "is empty, so it is not a GGUF model")
            if head[:4] != MAGIC:
                raise NotGgufError(
                    path,
                    "is not a GGUF model: it does not start with 'GGUF' "
                    f"(it starts with {head[:4]!r})",
                )
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                header = _Parser(buf, size).parse()
    except (_CutShort, struct.error, OverflowError):
        # struct.error: a read past the end of the buffer, the one way unpacking fails here.
        raise GgufReadError(
            path,
            "is cut short: its GGUF header runs past the end of the file "
            "(an interrupted download, or a damaged file); download it again",
        ) from None
    except (ValueError, IndexError, MemoryError) as exc:
        raise GgufReadError(path, f"is not a valid GGUF file: {exc}") from exc
    except OSError as exc:
        raise GgufReadError(path, f"cannot be read: {exc.strerror or exc}") from exc
    _check_complete(path, header)
    return header


def _check_complete(path: Path, header: _Header) -> None:
    """Every tensor's bytes must lie inside the file: a cut-off download fails here."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    end = header.data_offset
    for tensor in header.tensors:
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(tensor.ggml_type)]
        except (ValueError, KeyError):
            continue  # a type newer than the installed gguf package: cannot size it
        end = max(end, header.data_offset + tensor.offset + tensor.elements // block * type_size)
    if end > header.file_size:
        raise GgufReadError(
            path,
            f"is incomplete: its tensors need {end:,} bytes but the file has "
            f"{header.file_size:,} (an interrupted download?); download it again",
        )


class _Parser:
    """Walks the GGUF layout (spec: ggml/docs/gguf.md) over a read-only buffer."""

    def __init__(self, buf: mmap.mmap, size: int) -> None:
        if size < _FIXED_HEADER:
            raise _CutShort
        self.buf = buf
        self.size = size
        (version,) = struct.unpack_from("<I", buf, 4)
        self.order = "<"
        if version & 0xFFFF == 0:  # written on a big-endian machine
            self.order = ">"
            (version,) = struct.unpack_from(">I", buf, 4)
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported (2 and 3 are)")
        self.version = version
        self.u32 = struct.Struct(self.order + "I")
        self.u64 = struct.Struct(self.order + "Q")

    def parse(self) -> _Header:
        header = _Header(self.version, self.size)
        tensor_count, kv_count = struct.unpack_from(self.order + "QQ", self.buf, 8)
        pos = _FIXED_HEADER
        if kv_count > self.size or tensor_count > self.size:
            raise _CutShort
        for _ in range(kv_count):
            key, pos = self._string(pos)
            if key is None:
                raise ValueError("a metadata key is longer than 1 MiB")
            (value_type,) = self.u32.unpack_from(self.buf, pos)
            value, pos = self._value(value_type, pos + 4, 0)
            header.keys.append(key)
            if value is not None:
                header.metadata[key] = value
        for _ in range(tensor_count):
            (name_length,) = self.u64.unpack_from(self.buf, pos)
            pos += 8 + name_length
            (n_dims,) = self.u32.unpack_from(self.buf, pos)
            if n_dims > _MAX_DIMS:
                raise ValueError(f"a tensor claims {n_dims} dimensions")
            dims = struct.unpack_from(f"{self.order}{n_dims}Q", self.buf, pos + 4)
            pos += 4 + 8 * n_dims
            ggml_type, offset = struct.unpack_from(self.order + "IQ", self.buf, pos)
            pos += 12
            header.tensors.append(_Tensor(tuple(dims), ggml_type, offset))
        if pos > self.size:
            raise _CutShort
        alignment = header.metadata.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"general.alignment {alignment!r} is not a power of two")
        header.data_offset = pos + (-pos % alignment)
        return header

    def _string(self, pos: int, keep: bool = True) -> tuple[str | None, int]:
        (length,) = self.u64.unpack_from(self.buf, pos)
        end = pos + 8 + length
        if end > self.size:
            raise _CutShort
        if not keep or length > _KEEP_STRING:
            return None, end
        return self.buf[pos + 8 : end].decode("utf-8", "replace"), end

    def _value(self, value_type: int, pos: int, depth: int) -> tuple[object, int]:
        """The value at `pos` (None when skipped) and the position after it."""
        code = _SCALARS.get(value_type)
        if code is not None:
            width = struct.calcsize(code)
            if pos + width > self.size:
                raise _CutShort
            return struct.unpack_from(self.order + code, self.buf, pos)[0], pos + width
        if value_type == _STRING:
            return self._string(pos)
        if value_type != _ARRAY:
            raise ValueError(f"unknown metadata value type {value_type}")
        if depth >= _MAX_NESTING:
            raise ValueError("metadata arrays nested too deeply")
        (item_type,) = self.u32.unpack_from(self.buf, pos)
        (count,) = self.u64.unpack_from(self.buf, pos + 4)
        pos += 12
        code = _SCALARS.get(item_type)
        if code is not None:
            end = pos + count * struct.calcsize(code)
            if end > self.size:
                raise _CutShort
            if count > _KEEP_ARRAY:
                return None, end
            return struct.unpack_from(f"{self.order}{count}{code}", self.buf, pos), end
        if pos + count * 8 > self.size:  # every remaining item takes 8 bytes or more
            raise _CutShort
        if item_type == _STRING:
            # The tokenizer's vocabulary: step over it, one length at a time.
            unpack, buf = self.u64.unpack_from, self.buf
            for _ in range(count):
                pos += 8 + unpack(buf, pos)[0]
            if pos > self.size:
                raise _CutShort
            return None, pos
        for _ in range(count):
            _, pos = self._value(item_type, pos, depth + 1)
        return None, pos


# --- split models ----------------------------------------------------------------------------

_SPLIT_NAME = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$", re.I)


def _split_parts(path: Path, count: int) -> list[Path]:
    """Every part's path of a split model, from the llama.cpp naming convention."""
    match = _SPLIT_NAME.match(path.name)
    if count <= 1 or not match:
        return [path]
    stem = match["stem"]
    return [path.with_name(f"{stem}-{n:05d}-of-{count:05d}.gguf") for n in range(1, count + 1)]


def _split_parameter_count(target: Path, parts: list[Path], header: _Header) -> int | None:
    total = 0
    for part in parts:
        try:
            total += (
                header.parameter_count if part == target else _read_header(part).parameter_count
            )
        except GgufReadError:
            return None
    return total


def is_later_split_part(path: Path) -> bool:
    """`x-00002-of-00003.gguf`: listed with its first part, not on its own."""
    match = _SPLIT_NAME.match(path.name)
    return match is not None and int(match["part"]) > 1


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
