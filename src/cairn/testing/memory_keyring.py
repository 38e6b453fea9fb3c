"""An in-memory keyring backend — FOR TESTS ONLY. It stores keys in plain text.

Tests must never touch the user's real keychain, and keyrings.alt's plaintext backend
writes into the real home folder. This backend keeps entries in a process-level dict, or,
when `CAIRN_TEST_KEYRING_FILE` names a file, in that JSON file (so that a test and the
`cairn` subprocesses it starts share one keychain). The file holds the keys in plain
text: it stands in for the OS keychain and belongs in a test's tmp_path, nowhere else.

Select it like any keyring backend:

    PYTHON_KEYRING_BACKEND=cairn.testing.memory_keyring.MemoryKeyring

Its priority is -1, below keyring's `fail` backend (0), so merely importing this module
can never make keyring pick it on its own: it is used only when named explicitly.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import ClassVar

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

FILE_ENV = "CAIRN_TEST_KEYRING_FILE"
SELECTOR = "cairn.testing.memory_keyring.MemoryKeyring"

Entries = dict[str, dict[str, str]]  # service -> username -> password


class MemoryKeyring(KeyringBackend):
    """Entries in memory (or in the JSON file named by CAIRN_TEST_KEYRING_FILE). Tests only."""

    _entries: ClassVar[Entries] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @properties.classproperty
    def priority(cls) -> float:
        return -1

    @classmethod
    def clear(cls) -> None:
        """Forget every entry (the process's dict and, if set, the file)."""
        with cls._lock:
            cls._entries.clear()
            path = cls._path()
            if path is not None:
                path.unlink(missing_ok=True)

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            entries = self._load()
            entries.setdefault(service, {})[username] = password
            self._save(entries)

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            entries = self._load()
            if username not in entries.get(service, {}):
                raise PasswordDeleteError("Password not found")
            del entries[service][username]
            self._save(entries)

    @staticmethod
    def _path() -> Path | None:
        name = os.environ.get(FILE_ENV)
        return Path(name) if name else None

    @classmethod
    def _load(cls) -> Entries:
        path = cls._path()
        if path is None:
            return cls._entries
        try:
            data: Entries = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return data

    @classmethod
    def _save(cls, entries: Entries) -> None:
        path = cls._path()
        if path is None:
            return  # `entries` is the process dict itself
        # Atomic replace, so a reader in another process never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(entries, file)
        Path(tmp).replace(path)
