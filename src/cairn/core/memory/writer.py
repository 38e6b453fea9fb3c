"""Write, stage and forget memories as markdown, through the workspace model.

Every write is atomic and conflict-checked (a readme the user is editing is re-read and
the change applied again), so a crash leaves each file old or new, never partial; the
index follows through `on_change`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from cairn.core.errors import CairnError, WriteConflictError
from cairn.core.memory.items import (
    Candidate,
    MemoryItem,
    Placement,
    Source,
    Tier,
    add_reference,
    archive_note,
    enforce_budget,
    remove_item,
    thresholds,
    topic_file,
    upsert_line,
)
from cairn.core.routing.marks import is_marked
from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash, parse_document
from cairn.core.workspace.loader import WorkspaceModel

PENDING = "memory/pending"
DEFAULT_TOPIC = "general"


class SensitiveMemoryError(CairnError):
    """A memory derived from sensitive content was to be kept in a shared space."""


class MemoryNotFoundError(CairnError):
    """No memory or staged memory has that id."""


@dataclass(frozen=True, slots=True)
class Written:
    item: MemoryItem
    space: str
    tier: Tier
    paths: tuple[str, ...]
    demoted: tuple[MemoryItem, ...] = ()  # moved from the readme to a topic to keep its budget


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    text: str
    source: str
    value: float
    space: str | None
    topic: str | None
    reason: str
    origin: str | None
    path: str
    sensitive: bool = False  # derived from sensitive content: kept only in a private space


@dataclass
class MemoryWriter:
    model: WorkspaceModel
    on_change: Callable[[list[str]], object] | None = None
    today: Callable[[], date] = date.today
    _changed: list[str] = field(default_factory=list)

    # --- files ------------------------------------------------------------------------

    def _read(self, path: str) -> tuple[str | None, str | None]:
        try:
            raw = self.model.store.read(path, MAX_FILE_BYTES)
        except FileNotFoundError:
            return None, None
        return raw.decode("utf-8"), content_hash(raw)

    def _edit(self, path: str, change: Callable[[str | None], str]) -> None:
        """Apply `change` to the file's current text and write it; once more on a conflict
        (the user saved meanwhile: their version is re-read, never overwritten)."""
        for attempt in range(2):
            text, digest = self._read(path)
            try:
                self.model.write(path, change(text), base_hash=digest)
                self._changed.append(path)
                return
            except WriteConflictError:
                if attempt:
                    raise

    def _flush(self) -> list[str]:
        changed, self._changed = list(dict.fromkeys(self._changed)), []
        if changed and self.on_change is not None:
            self.on_change(changed)
        return changed

    # --- writing ----------------------------------------------------------------------

    def write(self, space: str, candidate: Candidate, tier: Tier, origin: str | None) -> Written:
        item = MemoryItem.new(candidate, self.today(), origin)
        workspace = self.model.workspace
        target = workspace.spaces[space]
        base = target.path.rsplit("/", 1)[0]
        demoted: list[MemoryItem] = []
        stored = item
        if tier == "readme":
            stored, demoted = self._to_readme(space, base, item)
        elif tier == "topic":
            stored = self._to_topic(space, base, item)
        else:
            relative, text = archive_note(item, space)
            self._edit(f"{base}/{relative}", lambda _: text)
        paths = tuple(self._flush())
        return Written(stored, space, tier, paths, tuple(demoted))

    def _to_readme(
        self, space: str, base: str, item: MemoryItem
    ) -> tuple[MemoryItem, list[MemoryItem]]:
        """Add a readme line. Lines pushed out by the budget are copied to their topic
        files *before* the readme is rewritten: a crash in between leaves a memory in two
        places (the next write dedupes it), never in none."""
        readme = self.model.workspace.spaces[space].path
        _, _, budget = thresholds(self.model.workspace.spaces[space])
        for attempt in range(2):
            text, digest = self._read(readme)
            new, stored = upsert_line(
                text or f"# {space}\n", "Memory", item, link_from=base, before="References"
            )
            new, demoted = enforce_budget(new, "Memory", budget)
            for old in demoted:
                topic, _ = self._topic_line(base, old)
                new = add_reference(new, _title(topic), f"memory/topics/{topic}.md")
            try:
                self.model.write(readme, new, base_hash=digest)
            except WriteConflictError:
                if attempt:
                    raise
                continue
            self._changed.append(readme)
            return stored, demoted
        raise AssertionError("unreachable")

    def _to_topic(self, space: str, base: str, item: MemoryItem) -> MemoryItem:
        topic, stored = self._topic_line(base, item)
        readme = self.model.workspace.spaces[space].path
        link = f"memory/topics/{topic}.md"
        self._edit(readme, lambda text: add_reference(text or "", _title(topic), link))
        return stored

    def _topic_line(self, base: str, item: MemoryItem) -> tuple[str, MemoryItem]:
        """Add (or update) the item's line in its topic file: (topic, the item as stored)."""
        topic = item.topic or DEFAULT_TOPIC
        path = f"{base}/memory/topics/{topic}.md"
        stored = item

        def add(text: str | None) -> str:
            nonlocal stored
            new, stored = upsert_line(
                text or topic_file(topic), "Memory", item, link_from=f"{base}/memory/topics"
            )
            return new

        self._edit(path, add)
        return topic, stored

    # --- staging ----------------------------------------------------------------------

    def stage(
        self, placement: Placement, origin: str | None, task: str, *, sensitive: bool = False
    ) -> Pending:
        """Keep a memory for the user to decide on. One derived from sensitive content is
        marked `sensitive: true`, so any task that reads it later stays local."""
        candidate = placement.candidate
        item = MemoryItem.new(candidate, self.today(), origin)
        path = f"{PENDING}/{item.id}.md"
        front = {
            "id": item.id,
            "source": candidate.source,
            "value": item.value,
            "space": placement.space or "",
            "topic": candidate.topic or "",
            "reason": placement.reason,
            "origin": origin or "",
            "task": task,
        }
        if sensitive:
            front["sensitive"] = True
        head = "\n".join(f"{k}: {_yaml(v)}" for k, v in front.items())
        self._edit(path, lambda _: f"---\n{head}\n---\n{item.text}\n")
        self._flush()
        return Pending(
            item.id,
            item.text,
            candidate.source,
            item.value,
            placement.space,
            candidate.topic,
            placement.reason,
            origin,
            path,
        )

    def pending(self) -> list[Pending]:
        files, _ = self.model.store.scan(PENDING)
        found: list[Pending] = []
        for name in sorted(files):
            if not name.endswith(".md"):
                continue
            path = f"{PENDING}/{name}"
            text, _ = self._read(path)
            doc, _ = parse_document(path, (text or "").encode("utf-8"))
            if doc is None:
                continue
            meta = doc.frontmatter
            found.append(
                Pending(
                    id=str(meta.get("id") or name[:-3]),
                    text=doc.body.strip(),
                    source=str(meta.get("source") or "inference"),
                    value=float(meta.get("value") or 0.5),
                    space=meta.get("space") or None,
                    topic=meta.get("topic") or None,
                    reason=str(meta.get("reason") or ""),
                    origin=meta.get("origin") or None,
                    path=path,
                    sensitive=is_marked(text or ""),
                )
            )
        return found

    def _find_pending(self, pending_id: str) -> Pending:
        for staged in self.pending():
            if staged.id == pending_id:
                return staged
        raise MemoryNotFoundError(f"no staged memory '{pending_id}'; `cairn memory pending`")

    def approve(self, pending_id: str, space: str | None = None) -> Written:
        """Write a staged memory (to `space`, or where it was meant to go) — a person decided,
        so the scope rules that staged it are satisfied."""
        staged = self._find_pending(pending_id)
        target = space or staged.space
        workspace = self.model.workspace
        if not target or target not in workspace.spaces:
            raise MemoryNotFoundError(
                f"say which space to keep it in: --space one of {', '.join(workspace.spaces)}"
            )
        if staged.sensitive and workspace.spaces[target].scope != "private":
            private = [n for n, sp in workspace.spaces.items() if sp.scope == "private"]
            raise SensitiveMemoryError(
                f"this memory came from sensitive content, so it is kept only in a private "
                f"space (--space {' or '.join(private) or 'a private space'}); to share it "
                f"anyway, remove 'sensitive: true' from {staged.path} first"
            )
        # A person approved it: that is what "user-confirmed" means. The source written in
        # the pending file is not trusted (any editor, or a tool, could have written it).
        source: Source = "user-confirmed"
        candidate = Candidate(
            staged.text,
            source,
            staged.value,
            target,
            staged.topic,
        )
        high, moderate, _ = thresholds(workspace.spaces[target])
        tier: Tier = (
            "readme" if staged.value >= high else "topic" if staged.value >= moderate else "archive"
        )
        written = self.write(target, candidate, tier, staged.origin)
        self._delete(staged.path)
        self._flush()
        return written

    def reject(self, pending_id: str) -> None:
        self._delete(self._find_pending(pending_id).path)
        self._flush()

    def _delete(self, path: str) -> None:
        _, digest = self._read(path)
        if digest is not None:
            self.model.delete(path, digest)
            self._changed.append(path)

    # --- forgetting -------------------------------------------------------------------

    def forget(self, item_id: str) -> list[str]:
        """Remove a memory from every place it can be: readme, topics, archive, pending."""
        workspace = self.model.workspace
        for space in workspace.spaces.values():
            base = space.path.rsplit("/", 1)[0]
            for path in [space.path, *self._files(f"{base}/memory/topics")]:
                text, _ = self._read(path)
                if text and f"<!-- mem:{item_id} " in text:
                    self._edit(path, lambda t: remove_item(t or "", item_id)[0])
            for path in self._files(f"{base}/memory/archive", recursive=True):
                if path.endswith(f"-{item_id}.md"):
                    self._delete(path)
        pending = f"{PENDING}/{item_id}.md"
        if self._read(pending)[0] is not None:
            self._delete(pending)
        changed = self._flush()
        if not changed:
            raise MemoryNotFoundError(f"no memory '{item_id}' in this workspace")
        return changed

    def _files(self, folder: str, recursive: bool = False) -> list[str]:
        files, folders = self.model.store.scan(folder)
        found = [f"{folder}/{name}" for name in files if name.endswith(".md")]
        if recursive:
            for sub in folders:
                found += self._files(f"{folder}/{sub}", recursive=True)
        return found


def _title(topic: str) -> str:
    return topic.replace("-", " ").capitalize()


def _yaml(value: object) -> str:
    # A JSON string is a valid YAML double-quoted scalar: safe for any text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
