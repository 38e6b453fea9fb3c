"""The spend ledger: one JSON line per model call in `.cairn/spend.jsonl`, append-only.

Appending a line is atomic enough for this purpose (one `write` of a short line with
O_APPEND); a crash can at worst leave a torn last line, which reading skips and
reports. Reading the whole file is fast for years of use (a line is ~200 bytes), and
keeps the ledger the single source of truth that survives restarts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cairn.core.budget import SpendRecord

log = logging.getLogger(__name__)


class JsonlLedger:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def for_workspace(cls, root: str | os.PathLike[str]) -> JsonlLedger:
        return cls(Path(root) / ".cairn" / "spend.jsonl")

    def append(self, record: SpendRecord) -> None:
        line = (
            json.dumps(
                {
                    "at": record.at.isoformat(),
                    "model": record.model,
                    "local": record.local,
                    "input_tokens": record.input_tokens,
                    "output_tokens": record.output_tokens,
                    "cost_usd": record.cost_usd,
                    "task": record.task,
                    "automation": record.automation,
                },
                separators=(",", ":"),
            )
            + "\n"
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.lseek(fd, 0, os.SEEK_END)
                if size and os.lseek(fd, size - 1, os.SEEK_SET) >= 0 and os.read(fd, 1) != b"\n":
                    line = "\n" + line  # a crash left a torn line: start a fresh one
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> Iterator[SpendRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield SpendRecord(
                    at=datetime.fromisoformat(data["at"]),
                    model=str(data["model"]),
                    local=bool(data["local"]),
                    input_tokens=int(data["input_tokens"]),
                    output_tokens=int(data["output_tokens"]),
                    cost_usd=None if data["cost_usd"] is None else float(data["cost_usd"]),
                    task=data.get("task"),
                    automation=data.get("automation"),
                )
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d: unreadable spend record skipped", self.path, number)
