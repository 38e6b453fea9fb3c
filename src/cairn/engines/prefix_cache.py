"""The context tier: evaluated prompt prefixes kept on disk, shared across processes.

Every step of every task starts with the same system message — agents.md's instructions,
the space readme, the skills list, the tool protocol — and a small model on a laptop
spends seconds evaluating it before the first word. Inside one process llama.cpp keeps
that work in its KV cache; this module keeps it *between* processes: the next `cairn
ask`, an automation run, the app's next start restore the prefix's KV state from disk and
evaluate only what follows it.

An entry is one file, `<model>-<prefix>.kv`, written atomically (a temporary file, then a
rename), holding:

    MAGIC | header length (4 bytes, little endian) | header (JSON) | tokens | state

The header names the model (the sha256 of its GGUF file), the llama.cpp runtime it was
made with, the prefix's token count and sha256, and the state's length and sha256. Nothing
in an entry is trusted: a wrong magic, a header that does not parse, another model or
runtime, tokens that are not a prefix of the prompt, a short file or a state whose hash
differs — each makes the entry ignored (and a damaged one deleted), and the prefix is
evaluated and saved again.

Size is bounded: after each save, the least recently used entries (by modification time,
which a hit refreshes) are deleted until the folder is under `max_bytes`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"CAIRNKV1"
_HEADER_LIMIT = 64 * 1024  # a header is a few hundred bytes; anything larger is damage
DEFAULT_MAX_BYTES = 2 * 1024**3
MIN_PREFIX_TOKENS = 256  # shorter prefixes are evaluated faster than a state is read


@dataclass(frozen=True, slots=True)
class CachedPrefix:
    """A verified entry: the prefix's tokens and the KV state they produced."""

    tokens: tuple[int, ...]
    state: bytes
    path: Path


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(tokens)}i", *tokens)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PrefixCache:
    """Prefix KV states for one machine, in `folder` (the user's cache folder)."""

    def __init__(
        self,
        folder: Path,
        *,
        runtime: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_tokens: int = MIN_PREFIX_TOKENS,
    ) -> None:
        self.folder = folder
        self.runtime = runtime  # llama.cpp's version: a state is only valid for its runtime
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens

    # --- the model's identity ---------------------------------------------------------

    def model_id(self, path: Path) -> str:
        """The sha256 of the model file, remembered per (path, size, mtime) so a large
        model is hashed once, not on every start."""
        stat = path.stat()
        memo_path = self.folder / "models.json"
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        memo: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(memo_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                memo = loaded
        known = memo.get(key)
        if isinstance(known, dict) and known.get("stamp") == stamp:
            digest = known.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        memo[key] = {"stamp": stamp, "sha256": digest}
        with contextlib.suppress(OSError):
            self._write_atomic(memo_path, json.dumps(memo, indent=1).encode("utf-8"))
        return digest

    # --- lookup -----------------------------------------------------------------------

    def find(self, model: str, tokens: Sequence[int]) -> CachedPrefix | None:
        """The longest valid entry for `model` whose tokens begin `tokens`."""
        candidates: list[tuple[int, Path]] = []
        for path in self._entries(model):
            header = self._header(path)
            if header is None or header.get("model") != model:
                continue
            n = header.get("n_tokens")
            if header.get("runtime") != self.runtime or not isinstance(n, int):
                continue
            if 0 < n <= len(tokens) and _digest(_token_bytes(tokens[:n])) == header.get(
                "tokens_sha256"
            ):
                candidates.append((n, path))
        for _, path in sorted(candidates, reverse=True):
            entry = self._read(path, model)
            if entry is not None and list(entry.tokens) == list(tokens[: len(entry.tokens)]):
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used: evicted last
                return entry
        return None

    def _entries(self, model: str) -> list[Path]:
        try:
            return sorted(self.folder.glob(f"{model[:16]}-*.kv"))
        except OSError:
            return []

    def _header(self, path: Path) -> dict[str, Any] | None:
        """The entry's header, with `_offset` (where its tokens begin); None, and the file
        deleted, when it is not a readable entry."""
        header = None
        with contextlib.suppress(OSError, ValueError, UnicodeDecodeError), path.open("rb") as f:
            start = f.read(len(MAGIC) + 4)
            (length,) = struct.unpack("<I", start[len(MAGIC) :]) if len(start) == 12 else (-1,)
            if start.startswith(MAGIC) and 0 <= length <= _HEADER_LIMIT:
                header = json.loads(f.read(length).decode("utf-8"))
        if not isinstance(header, dict):
            self._discard(path)
            return None
        header["_offset"] = len(MAGIC) + 4 + length
        return header

    def _read(self, path: Path, model: str) -> CachedPrefix | None:
        header = self._header(path)
        if header is None:
            return None
        valid = False
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            n = int(header["n_tokens"])
            size = int(header["state_bytes"])
            with path.open("rb") as handle:
                handle.seek(int(header["_offset"]))
                token_data = handle.read(4 * n)
                state = handle.read(size + 1)
            valid = (
                header.get("model") == model
                and len(token_data) == 4 * n
                and len(state) == size  # short: truncated; long: something was appended
                and _digest(token_data) == header.get("tokens_sha256")
                and _digest(state) == header.get("state_sha256")
            )
        if not valid:
            self._discard(path)
            return None
        return CachedPrefix(struct.unpack(f"<{n}i", token_data), state, path)

    def forget(self, entry: CachedPrefix) -> None:
        """Drop an entry llama.cpp would not load: the next save rebuilds it."""
        self._discard(entry.path)

    # --- saving -----------------------------------------------------------------------

    def save(self, model: str, tokens: Sequence[int], state: bytes) -> Path | None:
        """Keep `state` (the KV state after evaluating exactly `tokens`); None when the
        folder cannot be written (the cache is an optimisation: a failure costs time only)."""
        token_data = _token_bytes(tokens)
        token_digest = _digest(token_data)
        header = json.dumps(
            {
                "version": 1,
                "model": model,
                "runtime": self.runtime,
                "n_tokens": len(tokens),
                "tokens_sha256": token_digest,
                "state_bytes": len(state),
                "state_sha256": _digest(state),
            }
        ).encode("utf-8")
        path = self.folder / f"{model[:16]}-{token_digest[:24]}.kv"
        try:
            self._write_atomic(
                path, MAGIC + struct.pack("<I", len(header)) + header + token_data, state
            )
        except OSError:
            return None
        self._evict()
        return path

    def _write_atomic(self, path: Path, *chunks: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise

    def _evict(self) -> None:
        stale = time.time() - 3600  # a writer killed mid-write leaves its temporary file
        for orphan in self.folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if orphan.stat().st_mtime < stale:
                    orphan.unlink()
        entries: list[tuple[float, int, Path]] = []
        for path in self.folder.glob("*.kv"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            self._discard(path)
            total -= size

    def _discard(self, path: Path) -> None:
        with contextlib.suppress(OSError):  # another process may have removed it first
            path.unlink()
