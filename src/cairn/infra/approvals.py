"""Approvals queued by headless runs: one JSON file each under `.cairn/approvals/`.

An automation that meets an `ask` with nobody at the keyboard leaves the question in
`pending/<id>.json` and moves on; the desktop or `cairn` CLI answers later, which moves
the file to `decided/`. Plain files, so a queue survives restarts and can be inspected by
hand. Arguments are redacted before they touch the disk: a model may have pasted a key
into a file it wanted to write (such a call is marked `redacted` and is never performed
with the placeholders in it).

A queued approval expires `EXPIRY` after it was queued: reading the queue moves expired
ones to `decided/` with the decision "expired", and approving one is refused. A week-old
question about a file is more likely stale than wanted; the run can be repeated.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.tasks.approvals import ApprovalRequest
from cairn.infra.files import write_atomically
from cairn.infra.redaction import REDACTOR
from cairn.infra.state import make_folder

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

EXPIRY = timedelta(days=7)
"""How long a queued approval waits for a person; after that it is "expired"."""

Perform = Callable[[dict[str, Any]], Mapping[str, Any]]
"""Does an approved action; returns what to add to its decided record (`outcome`, ...)."""


class ApprovalNotFoundError(CairnError, LookupError):
    """No pending approval has that id (it never existed, or it was already decided)."""


class ApprovalIdError(CairnError, ValueError):
    """An approval id that could not be a file name of the queue (`../x`, `a/b`)."""


class ApprovalQueue:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.folder = Path(root) / ".cairn" / "approvals"
        self.pending_folder = self.folder / "pending"
        self.decided_folder = self.folder / "decided"

    def queue(self, request: ApprovalRequest, task: str, automation: str | None = None) -> Path:
        """Persist `request` as pending; returns the file written."""
        arguments = REDACTOR.redact_data(dict(request.arguments))
        replay = request.replay
        record = {
            "id": _checked(request.id),
            "task": task,
            "automation": automation,
            "tool": request.tool,
            "arguments": arguments,
            "redacted": arguments != dict(request.arguments),
            "path": request.path,
            "reason": request.reason,
            "preview": REDACTOR.redact(request.preview),
            "replay": None
            if replay is None
            else {
                "base_hash": replay.base_hash,
                "space": replay.space,
                "sensitive": list(replay.sensitive),
            },
            "queued_at": _now(),
        }
        target = self.pending_folder / f"{request.id}.json"
        _write_json(target, record)
        return target

    def pending(self) -> list[dict[str, Any]]:
        """Every pending approval, oldest first, after moving expired ones to `decided/`
        (see `read`). Unreadable files are logged and skipped."""
        return self.read()[0]

    def expire(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Move every pending approval older than `EXPIRY` to `decided/` with the decision
        "expired"; returns their records (what a reader should say was moved)."""
        return self.read(now)[1]

    def read(
        self, now: datetime | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(pending, expired): the queue as it is, oldest first, once the approvals older
        than `EXPIRY` were moved to `decided/` as "expired" (those are the second list, so
        a reader can say so: nothing leaves the queue unseen)."""
        records = self._pending()
        moved: list[dict[str, Any]] = []
        for record in records:
            id = record.get("id")
            if not expired(record, now) or not isinstance(id, str) or not _ID.match(id):
                continue
            try:
                settled = self._settle(
                    id, "expiry", lambda r: "expired" if expired(r, now) else None
                )
            except ApprovalNotFoundError:
                continue  # someone else decided it meanwhile
            if settled is not None:
                moved.append(settled)
        gone = {r.get("id") for r in moved}
        return [r for r in records if r.get("id") not in gone], moved

    def _pending(self) -> list[dict[str, Any]]:
        records = [r for r in map(_read_json, _files(self.pending_folder)) if r is not None]
        return sorted(records, key=lambda r: (str(r.get("queued_at", "")), str(r.get("id"))))

    def get(self, id: str) -> dict[str, Any]:
        """The pending approval `id`, expired or not (see `expired`); nothing is moved."""
        record = _read_json(self.pending_folder / f"{_checked(id)}.json", missing_ok=True)
        if record is None:
            raise ApprovalNotFoundError(self._not_pending(id))
        return record

    def decided(self, id: str) -> dict[str, Any] | None:
        """The decided record of `id`, or None when it was never decided."""
        return _read_json(self.decided_folder / f"{_checked(id)}.json", missing_ok=True)

    def resolve(
        self,
        id: str,
        approved: bool,
        by: str,
        *,
        perform: Perform | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Record the decision and move the approval to `decided/`; returns its record.

        The move is a rename, which only one caller can win: when the desktop and the CLI
        answer the same approval at once, the second gets `ApprovalNotFoundError`. The
        winner alone then calls `perform` (when approved), so an action is done at most
        once; what it returns is added to the decided record. An approval past its
        `EXPIRY` is recorded as "expired" whatever the answer, and nothing is performed.
        """

        def decide(record: dict[str, Any]) -> str:
            if expired(record, now):
                return "expired"
            return "approved" if approved else "denied"

        settled = self._settle(id, by, decide, perform)
        assert settled is not None  # `decide` always decides
        return settled

    def _settle(
        self,
        id: str,
        by: str,
        decide: Callable[[dict[str, Any]], str | None],
        perform: Perform | None = None,
    ) -> dict[str, Any] | None:
        """Claim `id` by renaming it, decide on what it holds, then record the decision in
        `decided/`; a `decide` that returns None puts it back as it was."""
        source = self.pending_folder / f"{_checked(id)}.json"
        target = self.decided_folder / f"{id}.json"
        make_folder(self.decided_folder)
        claimed = self.decided_folder / f".{id}.claim-{secrets.token_hex(4)}"
        try:
            source.rename(claimed)
        except FileNotFoundError as exc:
            raise ApprovalNotFoundError(self._not_pending(id)) from exc
        record = _read_json(claimed) or {"id": id}
        decision = decide(record)
        if decision is None:
            claimed.rename(source)
            return None
        record.update(decision=decision, decided_by=by, decided_at=_now())
        try:
            if decision == "approved" and perform is not None:
                record.update(perform(dict(record)))
        except BaseException as exc:
            record.update(outcome="failed", detail=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            _write_json(target, record)
            claimed.unlink()
        return record

    def _not_pending(self, id: str) -> str:
        found = self.decided(id)
        if found is None:
            return f"no pending approval with id '{id}'; `cairn approvals list` shows them"
        outcome = f", {found['outcome']}" if found.get("outcome") else ""
        return (
            f"no pending approval with id '{id}': it was already decided "
            f"({found.get('decision')}{outcome}, by {found.get('decided_by')} "
            f"at {found.get('decided_at')})"
        )


def expires_at(record: Mapping[str, Any]) -> datetime | None:
    """When a queued approval expires; None when its queue time cannot be read."""
    try:
        queued = datetime.fromisoformat(str(record.get("queued_at")))
    except ValueError:
        return None
    if queued.tzinfo is None:
        queued = queued.replace(tzinfo=UTC)
    return queued + EXPIRY


def expired(record: Mapping[str, Any], now: datetime | None = None) -> bool:
    """Whether the approval is past its expiry (one without a readable time is)."""
    until = expires_at(record)
    return until is None or until <= (now or datetime.now(UTC))


def _checked(id: str) -> str:
    # Ids become file names: nothing that could climb out of the folder.
    if not _ID.match(id):
        raise ApprovalIdError(f"approval id {id!r} must be 1-64 letters, digits, '-' or '_'")
    return id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.name[0] != ".")
    except FileNotFoundError:
        return []


def _read_json(path: Path, *, missing_ok: bool = False) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if not missing_ok:  # decided meanwhile by another reader
            log.debug("skipping approval file %s: it is gone", path)
        return None
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
