"""Approvals queued by headless runs: one JSON file each under `.cairn/approvals/`.

An automation that meets an `ask` with nobody at the keyboard leaves the question in
`pending/<id>.json` and moves on; the desktop or `cairn` CLI answers later, which moves
the file to `decided/`. Plain files, so a queue survives restarts and can be inspected by
hand. Arguments are redacted before they touch the disk: a model may have pasted a key
into a file it wanted to write.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.tasks.approvals import ApprovalRequest
from cairn.infra.files import write_atomically
from cairn.infra.redaction import REDACTOR
from cairn.infra.state import make_folder

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ApprovalNotFoundError(CairnError, LookupError):
    """No pending approval has that id (it never existed, or it was already decided)."""


class ApprovalQueue:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.folder = Path(root) / ".cairn" / "approvals"
        self.pending_folder = self.folder / "pending"
        self.decided_folder = self.folder / "decided"

    def queue(self, request: ApprovalRequest, task: str, automation: str | None = None) -> Path:
        """Persist `request` as pending; returns the file written."""
        record = {
            "id": _checked(request.id),
            "task": task,
            "automation": automation,
            "tool": request.tool,
            "arguments": REDACTOR.redact_data(dict(request.arguments)),
            "path": request.path,
            "reason": request.reason,
            "preview": REDACTOR.redact(request.preview),
            "queued_at": _now(),
        }
        target = self.pending_folder / f"{request.id}.json"
        _write_json(target, record)
        return target

    def pending(self) -> list[dict[str, Any]]:
        """Every pending approval, oldest first. Unreadable files are logged and skipped."""
        records = [r for r in map(_read_json, _files(self.pending_folder)) if r is not None]
        return sorted(records, key=lambda r: (str(r.get("queued_at", "")), str(r.get("id"))))

    def resolve(self, id: str, approved: bool, by: str) -> dict[str, Any]:
        """Record the decision and move the approval to `decided/`; returns its record.

        The move is a rename, which only one caller can win: when the desktop and the CLI
        answer the same approval at once, the second gets `ApprovalNotFoundError`.
        """
        source = self.pending_folder / f"{_checked(id)}.json"
        target = self.decided_folder / f"{id}.json"
        make_folder(self.decided_folder)
        claimed = self.decided_folder / f".{id}.claim-{secrets.token_hex(4)}"
        try:
            source.rename(claimed)
        except FileNotFoundError as exc:
            raise ApprovalNotFoundError(f"no pending approval with id '{id}'") from exc
        record = _read_json(claimed) or {"id": id}
        record.update(
            decision="approved" if approved else "denied", decided_by=by, decided_at=_now()
        )
        _write_json(target, record)
        claimed.unlink()
        return record


def _checked(id: str) -> str:
    # Ids become file names: nothing that could climb out of the folder.
    if not _ID.match(id):
        raise ValueError(f"approval id {id!r} must be 1-64 letters, digits, '-' or '_'")
    return id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.name[0] != ".")
    except FileNotFoundError:
        return []


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("skipping unreadable approval file %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("skipping approval file %s: not a JSON object", path)
        return None
    return data


def _write_json(target: Path, record: dict[str, Any]) -> None:
    """Written atomically and private (0600): readers never see half a record."""
    data = json.dumps(record, indent=2, ensure_ascii=False, default=str).encode("utf-8")
    make_folder(target.parent)
    write_atomically(target, data)
