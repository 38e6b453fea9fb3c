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

from cairn.core.routing.budget import SpendRecord
from cairn.infra.state import make_folder

log = logging.getLogger(__name__)


class JsonlLedger:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # Records read so far and where reading stopped: every budget check reads only
        # what was appended since (by this process or another), not the whole file.
        self._records: list[SpendRecord] = []
        self._offset = 0
        self._line_number = 1

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
            make_folder(self.path.parent)
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
        with self._lock:
            self._catch_up()
            return iter(list(self._records))

    def _catch_up(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._records, self._offset, self._line_number = [], 0, 1
            return
        if size < self._offset:  # replaced or truncated by hand: read it again
            self._records, self._offset, self._line_number = [], 0, 1
        if size == self._offset:
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        complete = chunk.rfind(b"\n") + 1  # a line still being written waits for its end
        first_line = self._line_number
        for number, line in enumerate(
            chunk[:complete].decode("utf-8", "replace").splitlines(), first_line
        ):
            record = _parse(line)
            if record is not None:
                self._records.append(record)
            elif line.strip():
                log.warning("%s:%d: unreadable spend record skipped", self.path, number)
        self._line_number = first_line + chunk[:complete].count(b"\n")
        self._offset += complete


def _parse(line: str) -> SpendRecord | None:
    try:
        data = json.loads(line)
        return SpendRecord(
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
        return None
