"""Every seam between the pure core and the world, in one place.

Real implementations live in `cairn.infra` and `cairn.engines`; each port has a fake in
`cairn.testing` (`fakes.MemoryFileStore`, `scripted_engine.ScriptedEngine`,
`fakes.ListLedger`, `fakes.ManualClock`, `fakes.ListJournal`, `fakes.ListNotifier`) so
core tests need no monkeypatching.

| port | real implementation |
| --- | --- |
| `FileStore` | `cairn.infra.files.LocalFileStore` |
| `ChatEngine` | `cairn.engines.local.LocalEngine`, `cairn.engines.cloud.CloudEngine` |
| `SpendLedger` | `cairn.infra.ledger.JsonlLedger` |
| `Clock` | `time.monotonic` |
| `Journal` | `cairn.infra.trace.TraceWriter` |
| `Notifier` | the desktop app's tray, the scheduler's log (coming) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from cairn.core.engine import CancelToken, ChatRequest, EngineEvent, Message, ToolSpec

Clock = Callable[[], float]
"""Seconds on a monotonic clock (`time.monotonic`): for timeouts, cooldowns and budgets."""


class FileStore(Protocol):
    """A workspace folder, addressed by workspace-relative POSIX paths.

    Implementations confine every path to the workspace: `..`, absolute paths and
    symlinks that lead outside raise `PathOutsideWorkspaceError`.
    """

    def scan(self, folder: str, *, hidden: bool = False) -> tuple[list[str], list[str]]:
        """Names of the files and of the sub-folders directly in `folder` (hidden ones left
        out unless `hidden`: the walk looks for `.gitignore` files this way).

        A folder that does not exist has no entries.
        """
        ...

    def is_dir(self, path: str) -> bool: ...

    def real_path(self, path: str) -> str:
        """The workspace-relative path that `path` really names, every link resolved.

        Rules are decided on both the path as written and this one, so a link cannot
        carry a write onto `agents.md` or a read into `.env`. Raises
        `PathOutsideWorkspaceError` when the path leads outside the workspace.
        """
        ...

    def read(self, path: str, limit: int) -> bytes:
        """The file's bytes, at most `limit + 1` of them (so callers can tell it is too big)."""
        ...

    def write(self, path: str, data: bytes, *, base_hash: str | None) -> str:
        """Atomically replace `path` with `data` and return the new content hash.

        `base_hash` is the hash of the content the change was based on (None: the file
        must not exist yet). If the file on disk no longer has that hash, nothing is
        written and `WriteConflictError` is raised.
        """
        ...

    def delete(self, path: str, *, base_hash: str) -> None:
        """Remove `path` if it still has `base_hash`; otherwise raise `WriteConflictError`."""
        ...


@runtime_checkable
class ChatEngine(Protocol):
    """A model that streams chat completions."""

    @property
    def name(self) -> str: ...

    @property
    def is_local(self) -> bool: ...

    @property
    def context_window(self) -> int | None: ...

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        """Yield events; the last is `Finished`, preceded by one `Usage`.

        Raises `EngineError` for failures (before or during the stream).
        """
        ...

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        """Tokens the messages (and the tools offered with them) take in this model's prompt."""
        ...


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """One model call's spend, as the ledger stores it."""

    at: datetime  # aware, local time
    model: str
    local: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: the price is unknown
    task: str | None = None
    automation: str | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class SpendLedger(Protocol):
    """Where every model call's spend is kept, so budgets survive restarts."""

    def append(self, record: SpendRecord) -> None: ...

    def records(self) -> Iterable[SpendRecord]: ...


@runtime_checkable
class Journal(Protocol):
    """Where a task's events are kept for reading and replay (a trace)."""

    def record(self, event: object) -> None: ...

    def close(self) -> None: ...


Urgency = Literal["info", "attention", "failure"]


@runtime_checkable
class Notifier(Protocol):
    """Tells the person about background work: a run finished, an approval waits."""

    def notify(self, title: str, body: str, *, urgency: Urgency = "info") -> None: ...
