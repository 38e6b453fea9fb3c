"""Read what a GGUF model is from its header, without touching the weights.

Discovery lists models by their header (architecture, quantisation, trained context
length), the memory-fit estimate needs the attention shape, and the local engine checks a
configured file before loading it; all of them read the header here.

Why a header reader of our own: `gguf.GGUFReader` builds a numpy object for every
metadata item, every string of the tokenizer's vocabulary included. On a header with a
152k-token vocabulary (any Qwen 2.5 file) that took 8 s and 520 MB of memory per file.
The reader below walks the same format with `struct` over a read-only memory map, skips
what it does not need, and never touches the weights: about 50 ms on the same file.
The `gguf` package still supplies the names (`LlamaFileType`, `GGMLQuantizationType`) and
the block sizes of every tensor type, and the tests check both readers agree. It is
imported only inside the functions that use it, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cairn.core.errors import CairnError

# Where discovery found a model: defined here because `GgufInfo` carries it.
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
    chat_template: str | None = None  # tokenizer.chat_template: decides the tool format

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
        chat_template=_str(meta.get("tokenizer.chat_template")),
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
