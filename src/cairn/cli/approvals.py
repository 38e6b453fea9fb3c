"""`cairn approvals`: list, show, approve and deny the actions headless runs queued.

`approve` performs the queued action there and then, re-checked against the workspace as
it is now (`cairn.scheduler.approvals`, which the desktop app calls too): the rules of
agents.md, the automation's `headless.allow`, and the target file, which must still be
exactly what the run saw.
Exit codes: 0 done, 1 refused at approval time (or expired), 2 a user error (unknown id).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.errors import WorkspaceNotFoundError

if TYPE_CHECKING:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.approvals import ApprovalQueue

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160)) if c not in (9, 10)}


def _safe(text: str) -> str:
    """`text` with control characters shown as escapes: a queued record holds what a model
    wrote, and an escape sequence in it must not drive the terminal."""
    return text.translate(_CONTROL)


def _out(text: str) -> None:
    print(_safe(text))


def _err(text: str) -> None:
    print(_safe(text), file=sys.stderr, flush=True)


def _root(args: argparse.Namespace) -> Path:
    from cairn.infra.starter import looks_like_workspace

    root = Path(args.workspace).expanduser().resolve()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    return root


def _queue(root: Path) -> ApprovalQueue:
    from cairn.infra.approvals import ApprovalQueue

    return ApprovalQueue(root)


def _model(root: Path) -> WorkspaceModel:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    return model


def run_approvals(args: argparse.Namespace) -> int:
    command = {"list": _list, "show": _show, "approve": _approve, "deny": _deny}[
        args.approvals_command
    ]
    return command(args)


# --- reading the queue --------------------------------------------------------------------


def _age(record: Mapping[str, Any], now: datetime) -> str:
    from cairn.scheduler.approvals import age

    return age(record.get("queued_at"), now)


def _expiry(record: Mapping[str, Any]) -> str | None:
    from cairn.infra.approvals import expires_at

    until = expires_at(record)
    return until.isoformat(timespec="seconds") if until else None


def _who(record: Mapping[str, Any]) -> str:
    automation = record.get("automation")
    return f"automation {automation}" if automation else f"task {record.get('task')}"


def _list(args: argparse.Namespace) -> int:
    from cairn.infra.approvals import EXPIRY

    queue = _queue(_root(args))
    rows, gone = queue.read()
    now = datetime.now(UTC)
    if args.json:
        shown = [{**row, "expires_at": _expiry(row)} for row in rows]
        print(json.dumps({"approvals": shown, "expired": gone}, indent=2))
        return 0
    for record in gone:
        _out(
            f"expired: {record.get('id')} ({record.get('tool')} {record.get('path') or ''}, "
            f"queued {_age(record, now)} ago by {_who(record)}): older than "
            f"{EXPIRY.days} days, moved to .cairn/approvals/decided/"
        )
    if not rows:
        _out("no pending approvals")
    for row in rows:
        _out(
            f"{row.get('id')}  {_age(row, now)} ago  {_who(row)}  "
            f"{row.get('tool')} {row.get('path') or '—'}"
        )
        _out(f"  why: {row.get('reason') or '—'}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from cairn.scheduler.approvals import describe

    root = _root(args)
    record = _queue(root).get(args.id)
    now = datetime.now(UTC)
    pending = describe(_model(root), record, now)
    lines = [
        f"approval {args.id}",
        f"  queued     {record.get('queued_at')} ({_age(record, now)} ago) by {_who(record)}"
        + (f", task {record.get('task')}" if record.get("automation") else ""),
        f"  tool       {record.get('tool')}",
        f"  path       {record.get('path') or '—'}",
        f"  why asked  {record.get('reason') or '—'}",
    ]
    until = _expiry(record) or "unknown (the record's time cannot be read)"
    lines.append(
        f"  expires    {until}" + (" — EXPIRED: approving it is refused" if pending.expired else "")
    )
    if pending.refused is not None:
        lines.append(f"  approve    refused: {pending.refused}")
    else:
        lines.append(f"  rule now   {pending.rule_now}")
        lines.append(
            f"  approve    would {pending.action}"
            + (" (but it expired)" if pending.expired else "")
        )
    lines.append("arguments (secrets redacted):")
    arguments = json.dumps(record.get("arguments"), indent=2, ensure_ascii=False, default=str)
    lines += [f"  {line}" for line in arguments.splitlines()]
    if pending.change:
        lines.append("change:")
        lines += pending.change
    else:
        lines.append("preview:")
        lines += [f"  {line}" for line in pending.preview.splitlines()]
    _out("\n".join(lines))
    return 0


# --- deciding -----------------------------------------------------------------------------


def _approve(args: argparse.Namespace) -> int:
    from cairn.infra.approvals import EXPIRY
    from cairn.scheduler.approvals import approve

    decided = approve(_root(args), args.id, by="cli")
    if decided.decision == "expired":
        _err(
            f"cairn: approval {args.id} expired (queued {decided.record.get('queued_at')}; "
            f"approvals expire after {EXPIRY.days} days), so nothing was done; re-run the "
            "automation"
        )
        return 1
    if not decided.performed:
        _err(f"cairn: approved {args.id}, but it was not done: {decided.detail}")
        return 1
    _out(f"✔ approved {args.id}: {decided.detail}")
    return 0


def _deny(args: argparse.Namespace) -> int:
    from cairn.scheduler.approvals import deny

    decided = deny(_root(args), args.id, by="cli")
    if decided.decision == "expired":
        _out(f"{args.id} had expired already; nothing was done")
    else:
        record = decided.record
        what = " ".join(str(record.get(k)) for k in ("tool", "path") if record.get(k))
        _out(f"✘ denied {args.id} ({what}): nothing was done")
    return 0
