"""Proposals waiting for a person, and the harness changelog: accept, reject, roll back.

Everything lives under `.cairn/improve/`:
- `pending/ID.json`: a proposal the gate kept, with its diff and before/after figures;
- `rejected/ID.json`: one a person turned down;
- `history/ID.json`, `.before`, `.after`: an applied change, with the file's exact bytes
  before and after, so a rollback restores them byte for byte;
- `changelog.md`: every change applied or rolled back, newest last, in plain words.

A change is applied only if the file is still exactly as the proposal saw it, and rolled
back only if it is still exactly as the change left it: an edit made since is never
overwritten.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.harness.proposals import Proposal, ProposalError, apply_edit
from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash


def improve_folder(root: Path) -> Path:
    return root / ".cairn" / "improve"


@dataclass(frozen=True, slots=True)
class Pending:
    """A proposal the gate kept, as a person reviews it."""

    proposal: Proposal
    base_hash: str  # the file's content hash when the proposal was made
    diff: str
    figures: dict[str, Any]  # before/after pass rates, per-case rows, the gate's reason
    cycle: str
    created: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "proposal": self.proposal.to_json(),
            "base_hash": self.base_hash,
            "diff": self.diff,
            "figures": self.figures,
            "cycle": self.cycle,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pending:
        return cls(
            Proposal.from_json(data["proposal"]),
            str(data["base_hash"]),
            str(data.get("diff", "")),
            dict(data.get("figures", {})),
            str(data.get("cycle", "")),
            str(data.get("created", "")),
        )


def diff_of(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=2,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from cairn.infra.files import write_atomically
    from cairn.infra.state import make_folder

    make_folder(path.parent)
    write_atomically(path, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CairnError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CairnError(f"{path} is not a Cairn proposal record")
    return data


def save_pending(root: Path, pending: Pending) -> Path:
    path = improve_folder(root) / "pending" / f"{pending.proposal.id}.json"
    _write_json(path, pending.to_json())
    return path


def list_pending(root: Path) -> list[Pending]:
    folder = improve_folder(root) / "pending"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            pending = Pending.from_json(_read_json(path))
            rate(pending.figures, "before_rate")  # figures a person will read
            rate(pending.figures, "after_rate")
        except (CairnError, KeyError, TypeError, ValueError, AttributeError):
            continue  # a damaged record is skipped, not fatal; it stays on disk
        found.append(pending)
    return sorted(found, key=lambda p: p.created)


def rate(figures: dict[str, Any], key: str) -> float:
    """A pass rate from a record's figures (0 when missing); ValueError when damaged."""
    value = figures.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is not a number")
    return float(value)


def current_diff(root: Path, pending: Pending) -> str:
    """The change `accept` would make now, computed from the file as it is (not the diff
    stored with the proposal), or why it would be refused."""
    proposal = pending.proposal
    try:
        before = read_target(root, proposal.path)
        if content_hash(before) != pending.base_hash:
            return f"{proposal.path} has changed since this proposal was made: it cannot apply.\n"
        text = before.decode("utf-8")
        return diff_of(proposal.path, text, apply_edit(text, proposal))
    except (CairnError, OSError, UnicodeDecodeError) as exc:
        return f"cannot apply: {exc}\n"


def describe(root: Path, item: Pending) -> str:
    """A waiting proposal as a person reviews it: what, why, the figures case by case,
    and the change `accept` would make to the file as it is now."""
    proposal, figures = item.proposal, item.figures
    lines = [f"proposal {proposal.id}: {proposal.summary}", f"addresses: {proposal.pattern}"]
    if proposal.why:
        lines.append(f"why: {proposal.why}")
    lines.append(
        f"held-out: {rate(figures, 'before_rate'):.0%} → "
        f"{rate(figures, 'after_rate'):.0%} — {figures.get('reason', '')}"
    )
    for name, rows in (figures.get("cases") or {}).items():
        if isinstance(rows, dict):
            split = f" ({rows['split']})" if rows.get("split") else ""
            lines.append(f"  {name}{split}: {rows.get('before')}  →  {rows.get('after')}")
    lines += ["", current_diff(root, item).rstrip("\n"), ""]
    lines.append(
        f"accept: cairn improve accept {proposal.id}   reject: cairn improve reject {proposal.id}"
    )
    return "\n".join(lines) + "\n"


def _check_target(root: Path, proposal: Proposal) -> None:
    """A pending record is a file on disk: what it would change is checked again, as the
    cycle's critic checked it, before anything is written."""
    from cairn.core.harness.critic import path_problems
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.improve.propose import editable_files
    from cairn.infra.files import LocalFileStore

    workspace = WorkspaceModel(LocalFileStore(root)).load()
    problems = path_problems(proposal, editable_files(workspace))
    if problems:
        raise CairnError(f"proposal {proposal.id} is refused: {'; '.join(problems)}")


def find_pending(root: Path, ident: str) -> Pending:
    matches = [p for p in list_pending(root) if p.proposal.id.startswith(ident)]
    if len(matches) != 1:
        said = "no pending proposal matches" if not matches else "several pending proposals match"
        raise CairnError(f"{said} '{ident}'; `cairn improve list` shows them")
    return matches[0]


def read_target(root: Path, path: str) -> bytes:
    """The exact bytes of a file a proposal changes, read as the workspace reads files
    (confined to it, links resolved, at most the 1 MiB a markdown file may have)."""
    from cairn.infra.files import LocalFileStore

    raw = LocalFileStore(root).read(path, MAX_FILE_BYTES)
    if len(raw) > MAX_FILE_BYTES:
        raise CairnError(f"{path} is larger than 1 MiB, the limit for a workspace file")
    return raw


def accept(root: Path, ident: str) -> dict[str, Any]:
    """Apply a pending proposal to the workspace; its record goes into the history and
    the changelog. Refused, with nothing written, if the file changed since."""
    from cairn.infra.files import LocalFileStore

    pending = find_pending(root, ident)
    proposal = pending.proposal
    _check_target(root, proposal)
    live = [r for r in applied(root) if r["id"] == proposal.id and not r.get("rolled_back")]
    if live:
        raise CairnError(
            f"proposal {proposal.id} is already applied; `cairn improve rollback "
            f"{live[-1]['key']}` undoes it"
        )
    before = read_target(root, proposal.path)
    if content_hash(before) != pending.base_hash:
        raise CairnError(
            f"{proposal.path} has changed since proposal {proposal.id} was made; nothing was "
            "applied. Run `cairn improve` again for proposals on the file as it is now"
        )
    try:
        after = apply_edit(before.decode("utf-8"), proposal).encode("utf-8")
    except (ProposalError, UnicodeDecodeError) as exc:
        raise CairnError(f"proposal {proposal.id} cannot be applied: {exc}") from exc
    history = improve_folder(root) / "history"
    from cairn.infra.files import write_atomically
    from cairn.infra.state import make_folder

    make_folder(history)
    # Each application has its own record: the same edit proposed again later, after a
    # rollback, never overwrites the bytes an earlier rollback needs.
    key = f"{proposal.id}-{datetime.now():%Y%m%d%H%M%S%f}"
    # The exact bytes first: a rollback needs them even if the rest fails.
    write_atomically(history / f"{key}.before", before)
    write_atomically(history / f"{key}.after", after)
    LocalFileStore(root).write(proposal.path, after, base_hash=content_hash(before))
    record = {
        "version": 2,
        "key": key,
        "id": proposal.id,
        "applied": _now(),
        "path": proposal.path,
        "before_hash": content_hash(before),
        "after_hash": content_hash(after),
        "proposal": proposal.to_json(),
        "figures": pending.figures,
        "diff": pending.diff,
        "rolled_back": None,
    }
    _write_json(history / f"{key}.json", record)
    (improve_folder(root) / "pending" / f"{proposal.id}.json").unlink(missing_ok=True)
    _log(root, _applied_entry(record))
    return record


def reject(root: Path, ident: str) -> Pending:
    """Set a pending proposal aside (kept under `rejected/` for the record)."""
    pending = find_pending(root, ident)
    _write_json(
        improve_folder(root) / "rejected" / f"{pending.proposal.id}.json", pending.to_json()
    )
    (improve_folder(root) / "pending" / f"{pending.proposal.id}.json").unlink(missing_ok=True)
    return pending


_RECORD_KEYS = ("key", "id", "path", "applied", "before_hash", "after_hash", "proposal")


def applied(root: Path) -> list[dict[str, Any]]:
    """Every applied change, oldest first (damaged records are left out, and left be)."""
    folder = improve_folder(root) / "history"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = _read_json(path)
        except CairnError:
            continue
        if all(isinstance(record.get(k), str | dict) for k in _RECORD_KEYS) and (
            record["key"] == path.stem
        ):
            found.append(record)
    return sorted(found, key=lambda r: str(r["applied"]))


def rollback(root: Path, ident: str | None = None) -> dict[str, Any]:
    """Restore the file a change edited to its exact bytes before it (the last change not
    yet rolled back, without `ident`). Refused if the file was edited since."""
    from cairn.infra.files import LocalFileStore

    live = [r for r in applied(root) if not r.get("rolled_back")]
    matches = [r for r in live if ident is None or str(r["key"]).startswith(ident)]
    if ident is None:
        matches = matches[-1:]
    if not live:
        raise CairnError("no change is applied (or all were rolled back); nothing to roll back")
    if len(matches) != 1:
        said = "no applied change matches" if not matches else "several applied changes match"
        raise CairnError(f"{said} '{ident}'; `cairn improve log` lists them")
    record = matches[0]
    history = improve_folder(root) / "history"
    path = str(record["path"])
    current = read_target(root, path)
    if content_hash(current) != record["after_hash"]:
        raise CairnError(
            f"{path} was edited after change {record['id']} was applied; nothing was rolled "
            f"back. Its earlier text is in {history / (str(record['key']) + '.before')}"
        )
    try:
        before = (history / f"{record['key']}.before").read_bytes()
    except OSError as exc:
        raise CairnError(f"the saved text of {path} before {record['id']} is gone: {exc}") from exc
    if content_hash(before) != record["before_hash"]:
        raise CairnError(f"the saved text of {path} before {record['id']} is damaged")
    LocalFileStore(root).write(path, before, base_hash=content_hash(current))
    record["rolled_back"] = _now()
    _write_json(history / f"{record['key']}.json", record)
    _log(root, f"## {_stamp()} · {record['key']} · rolled back\n\n{path} is as it was before.\n")
    return record


def changelog(root: Path) -> str:
    path = improve_folder(root) / "changelog.md"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _applied_entry(record: dict[str, Any]) -> str:
    proposal = Proposal.from_json(record["proposal"])
    figures = record.get("figures") or {}
    lines = [
        f"## {_stamp()} · {record['key']} · applied",
        "",
        f"{proposal.summary[0].upper()}{proposal.summary[1:]}, for: {proposal.pattern}.",
    ]
    if proposal.why:
        lines.append(f"Why: {proposal.why}")
    if figures.get("reason"):
        lines.append(
            f"Held-out pass rate {rate(figures, 'before_rate'):.0%} → "
            f"{rate(figures, 'after_rate'):.0%}: {figures['reason']}."
        )
    lines += ["", f"Undo: `cairn improve rollback {record['key']}`", ""]
    return "\n".join(lines)


CHANGELOG_HEADER = "# Harness changelog\n\nChanges `cairn improve` made with your approval.\n"


def _log(root: Path, entry: str) -> None:
    """Append an entry: one write in append mode, so two processes never lose one."""
    import os

    from cairn.infra.state import make_folder

    path = improve_folder(root) / "changelog.md"
    make_folder(path.parent)
    text = "\n" + entry.rstrip("\n") + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size == 0:
            text = CHANGELOG_HEADER + text
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
