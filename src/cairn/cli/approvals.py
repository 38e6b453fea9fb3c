"""`cairn approvals`: list, show, approve and deny the actions headless runs queued.

`approve` performs the queued action there and then, re-checked against the workspace as
it is now (`cairn.core.tasks.replay`): the rules of agents.md, the automation's
`headless.allow`, and the target file, which must still be exactly what the run saw.
Exit codes: 0 done, 1 refused at approval time (or expired), 2 a user error (unknown id).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError

if TYPE_CHECKING:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.approvals import ApprovalQueue

DIFF_LINES = 200  # `show` prints at most this many lines of a diff


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
    try:
        queued = datetime.fromisoformat(str(record.get("queued_at")))
    except ValueError:
        return "?"
    if queued.tzinfo is None:
        queued = queued.replace(tzinfo=UTC)
    return _span((now - queued).total_seconds())


def _span(seconds: float) -> str:
    seconds = max(seconds, 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


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
    from cairn.core.tasks.replay import QueuedCall, Refused, prepare
    from cairn.infra.approvals import expired

    root = _root(args)
    record = _queue(root).get(args.id)
    now = datetime.now(UTC)
    lines = [
        f"approval {args.id}",
        f"  queued     {record.get('queued_at')} ({_age(record, now)} ago) by {_who(record)}"
        + (f", task {record.get('task')}" if record.get("automation") else ""),
        f"  tool       {record.get('tool')}",
        f"  path       {record.get('path') or '—'}",
        f"  why asked  {record.get('reason') or '—'}",
    ]
    is_expired = expired(record, now)
    until = _expiry(record) or "unknown (the record's time cannot be read)"
    lines.append(
        f"  expires    {until}" + (" — EXPIRED: approving it is refused" if is_expired else "")
    )
    ready = None
    try:
        call = QueuedCall.from_record(record)
    except CairnError as exc:
        lines.append(f"  approve    refused: {exc}")
    else:
        ready = prepare(_model(root), call)
        if isinstance(ready, Refused):
            lines.append(f"  approve    refused: {ready.reason}")
            ready = None
        else:
            lines.append(f"  rule now   {ready.check.reason}")
            lines.append(
                f"  approve    would {ready.action}" + (" (but it expired)" if is_expired else "")
            )
    lines.append("arguments (secrets redacted):")
    arguments = json.dumps(record.get("arguments"), indent=2, ensure_ascii=False, default=str)
    lines += [f"  {line}" for line in arguments.splitlines()]
    change = _change(ready, record)
    if change:
        lines.append("change:")
        lines += change
    else:
        lines.append("preview:")
        lines += [f"  {line}" for line in str(record.get("preview") or "").splitlines()]
    _out("\n".join(lines))
    return 0


def _change(ready: object, record: Mapping[str, Any]) -> list[str]:
    """What a write would change: a diff for a replaced file, the new lines otherwise."""
    from cairn.core.tasks.replay import Ready

    if not isinstance(ready, Ready) or ready.tool.effect != "write":
        return []
    arguments = record.get("arguments") or {}
    path = ready.path or ""
    before = ready.before.decode("utf-8", "replace") if ready.before is not None else None
    if ready.tool.name == "write_file":
        new = str(arguments.get("content", ""))
        old = (before or "").splitlines(keepends=True)
        diff = difflib.unified_diff(
            old,
            new.splitlines(keepends=True),
            f"a/{path}" if before is not None else "/dev/null",
            f"b/{path}",
        )
        shown = [line.rstrip("\n") for line in diff]
    else:
        shown = [f"+{line}" for line in str(arguments.get("text", "")).splitlines()]
    if len(shown) > DIFF_LINES:
        shown[DIFF_LINES:] = [f"[… {len(shown) - DIFF_LINES} more lines]"]
    return shown


# --- deciding -----------------------------------------------------------------------------


def _approve(args: argparse.Namespace) -> int:
    from cairn.core.tasks.replay import QueuedCall, Refused, perform
    from cairn.infra.approvals import EXPIRY

    root = _root(args)

    def act(record: dict[str, Any]) -> dict[str, Any]:
        try:
            call = QueuedCall.from_record(record)
            done = perform(_model(root), call)
        except CairnError as exc:
            done = Refused(str(exc))
        if isinstance(done, Refused):
            return {"outcome": "refused", "detail": done.reason}
        return {"outcome": "performed", "detail": done.output}

    record = _queue(root).resolve(args.id, approved=True, by="cli", perform=act)
    if record["decision"] == "expired":
        _err(
            f"cairn: approval {args.id} expired (queued {record.get('queued_at')}; approvals "
            f"expire after {EXPIRY.days} days), so nothing was done; re-run the automation"
        )
        return 1
    if record.get("outcome") != "performed":
        _err(f"cairn: approved {args.id}, but it was not done: {record.get('detail')}")
        return 1
    _out(f"✔ approved {args.id}: {record.get('detail')}")
    return 0


def _deny(args: argparse.Namespace) -> int:
    record = _queue(_root(args)).resolve(args.id, approved=False, by="cli")
    if record["decision"] == "expired":
        _out(f"{args.id} had expired already; nothing was done")
    else:
        what = " ".join(str(record.get(k)) for k in ("tool", "path") if record.get(k))
        _out(f"✘ denied {args.id} ({what}): nothing was done")
    return 0
