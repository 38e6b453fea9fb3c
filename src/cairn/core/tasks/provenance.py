"""Where a task's content came from, and what that makes it: sensitivity and scope travel
with content.

A `Provenance` is kept for one run of a task. It starts from the task's space and grows as
content enters the task: a file a tool read (its real path, links resolved), a routing
decision whose detector found personal data or secrets. Every model call a task makes —
the plan, each step, an operator's review, the approval judge, the memory step — gets its
routing `Step` from `Provenance.step`, the one function that turns content into a step, so
no call site can forget the task's sensitivity. Every file Cairn writes from a sensitive
task carries the mark (`sensitive: true` in frontmatter) unless it lives in a private
space, and a marked file makes any later task that reads it sensitive in turn.

Scope is the second property: content read from a private space may not flow into a team
or company space (nor team content into a company space) without a person's approval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cairn.core.ports import FileStore
from cairn.core.routing.marks import (
    MARK_KEY,
    SCOPE_RANK,
    WORKSPACE_SCOPE,
    file_sensitivity,
    is_marked,
    rank,
    space_of,
)
from cairn.core.routing.router import Decision, Step
from cairn.core.routing.sensitivity import is_sensitive
from cairn.core.workspace.documents import MAX_FILE_BYTES
from cairn.core.workspace.entities import Workspace

__all__ = [
    "MARK_KEY",
    "SCOPE_RANK",
    "WORKSPACE_SCOPE",
    "Provenance",
    "ScopeCrossing",
    "file_sensitivity",
    "is_marked",
    "rank",
    "space_of",
]


@dataclass(frozen=True, slots=True)
class ScopeCrossing:
    """Content of a narrower scope would be written into a wider one."""

    source: str  # e.g. "private space 'chief-of-staff'"
    source_scope: str
    target: str  # e.g. "company space 'company'" or "outside every space"
    target_scope: str

    def describe(self) -> str:
        return (
            f"scope: this task carries content from the {self.source}, and the write would "
            f"put it into {self.target} ({self.source_scope} → {self.target_scope})"
        )


@dataclass
class Provenance:
    """What one run of a task has taken in. Not shared between runs."""

    workspace: Workspace
    space: str | None = None
    # Content read from files that makes the task sensitive: real path → reason.
    sources: dict[str, str] = field(default_factory=dict)
    # The narrowest scope each read file's content had: real path → (space, scope); the
    # space is None for the owner's root memory (`MEMORY.md`, `memory/`), which is private.
    read_scopes: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    # What the detector found in content routed so far (kinds of personal data, secrets).
    detected: set[str] = field(default_factory=set)
    # Connectors whose results entered the task: name → whose data it is.
    connectors: dict[str, str] = field(default_factory=dict)

    @property
    def space_scope(self) -> str | None:
        found = self.workspace.spaces.get(self.space) if self.space else None
        return found.scope if found else None

    # --- what enters the task --------------------------------------------------------------

    def note_file(self, path: str, real: str, text: str) -> None:
        """A tool put a file's content in front of the model: `path` as written, `real` what
        it resolves to, `text` its content (or its beginning: the frontmatter is enough)."""
        for candidate in dict.fromkeys((real, path)):
            if candidate not in self.sources:
                reason = file_sensitivity(self.workspace, candidate, text)
                if reason is not None:
                    self.sources[candidate] = reason
            name, scope = space_of(self.workspace, candidate)
            if name is not None or scope in SCOPE_RANK:  # a space, or the root memory
                known = self.read_scopes.get(real)
                if known is None or rank(scope) < rank(known[1]):
                    self.read_scopes[real] = (name, scope)

    def note_stored(self, store: FileStore, path: str) -> None:
        """`note_file` for a file in the workspace's store: its real path and its text are
        looked up there. A folder (list_files showed its names) counts by where it is."""
        try:
            real = store.real_path(path)
        except Exception:  # leads outside or nowhere: nothing of it entered the task
            return
        try:
            head = store.read(path, MAX_FILE_BYTES).decode("utf-8", "replace")
        except Exception:
            head = ""
        self.note_file(path, real, head)

    def note_source(self, name: str, scope: str) -> None:
        """A connector's result entered the task: a private one makes it sensitive (its
        later calls stay local, its writes carry the mark), and any one counts for the
        scope rule."""
        self.connectors[name] = scope
        if scope == "private":
            self.sources.setdefault(
                f"connector:{name}", f"the connector '{name}' returns private data"
            )

    def note_marked(self, path: str) -> None:
        """A marked file (a lens, a readme) entered the task through the workspace model."""
        self.sources.setdefault(path, f"{path} is marked sensitive")

    def note_decision(self, decision: Decision) -> None:
        """A routing decision's detector findings make the rest of the task sensitive too."""
        self.detected.update(f.kind for f in decision.sensitivity.findings)

    # --- what the task is now ---------------------------------------------------------------

    @property
    def sensitive(self) -> bool:
        return self.space_scope == "private" or bool(self.sources) or bool(self.detected)

    def reasons(self) -> tuple[str, ...]:
        found: list[str] = []
        if self.space_scope == "private":
            found.append(f"the task runs in the private space '{self.space}'")
        found += self.sources.values()
        if self.detected:
            found.append(f"the task's content contains {', '.join(sorted(self.detected))}")
        return tuple(found)

    def narrowest(self) -> tuple[str, str] | None:
        """(description, scope) of the narrowest scope of content this task carries."""
        best: tuple[str, str] | None = None
        if self.space and self.space_scope in SCOPE_RANK:
            best = (f"{self.space_scope} space '{self.space}'", self.space_scope)
        for real, (name, scope) in self.read_scopes.items():
            if best is None or rank(scope) < rank(best[1]):
                where = f"{scope} space '{name}'" if name else f"owner's private memory ({real})"
                best = (where, scope)
        for connector, scope in self.connectors.items():
            if best is None or rank(scope) < rank(best[1]):
                best = (f"{scope} connector '{connector}'", scope)
        return best

    def home(self) -> str | None:
        """The space the task's own files (its record) belong in: its space, or the
        narrowest space it read from when that is narrower — so the record of a team task
        that read a private note stays in the private space, as the scope rule asks. The
        owner's root memory is no space: a task that read only that keeps its own space
        (its record is marked sensitive all the same)."""
        best_name, best_scope = self.space, self.space_scope
        for name, scope in self.read_scopes.values():
            if name is not None and rank(scope) < rank(best_scope):
                best_name, best_scope = name, scope
        return best_name

    def crossing(self, target_path: str) -> ScopeCrossing | None:
        """The scope rule for a write to `target_path` (its real path): content may not move
        to a wider scope (private → team or company, team → company) without a person."""
        carried = self.narrowest()
        if carried is None:
            return None
        name, scope = space_of(self.workspace, target_path)
        if rank(carried[1]) >= rank(scope):
            return None
        where = f"the {scope} space '{name}'" if name else "a file outside every space"
        return ScopeCrossing(carried[0], carried[1], where, scope)

    # --- the one way to build a routing step --------------------------------------------------

    def step(
        self,
        description: str,
        kind: str,
        blocks: Iterable[str],
        *,
        skill: str | None = None,
        automation: str | None = None,
    ) -> Step:
        """The routing step for a model call that carries `blocks` of this task's content.

        The space, its scope and every sensitive source travel with it; the router's
        detector scans the blocks themselves."""
        return Step(
            description,
            kind=kind,
            blocks=tuple(blocks),
            space=self.space,
            space_scope=self.space_scope,
            skill=skill,
            automation=automation,
            carried=self.carried(),
        )

    def carried(self) -> tuple[str, ...]:
        """The reasons earlier content gives every later call (the space is told apart)."""
        found = list(self.sources.values())
        if self.detected:
            found.append(f"earlier content contains {', '.join(sorted(self.detected))}")
        return tuple(found)

    def needs_mark(self, path: str, text: str = "") -> bool:
        """Whether a file Cairn writes at `path` (a real path) must carry the mark: the
        task, or the text itself, is sensitive, and the file is not in a private space."""
        if space_of(self.workspace, path)[1] == "private":
            return False
        return self.sensitive or is_sensitive(text)
