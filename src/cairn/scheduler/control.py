"""What a person does to automations, shared by `cairn automations` and the desktop app.

* `overview`: each automation as `list` shows it: enabled or paused (or held by errors),
  schedule and zone, next run, last run and catch-up rule. Given the embedded scheduler's
  `states()`, the next run is the one it actually keeps and `running` is live.
* `set_enabled`: pause or resume by rewriting only the `enabled:` value of the file (every
  other byte kept, so pause then resume gives back the same file), refused when the file
  changed on disk meanwhile. The write is folded into the model it was given, so a live
  model (the app's) and the scheduler that listens to it follow at once.
* `run_now`: one run-now in the foreground, as `cairn automations run` does it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError, WriteConflictError
from cairn.core.workspace.entities import Automation, Workspace
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.runs import Refusal, Run, RunStore
from cairn.scheduler.execute import UnknownAutomationError, execute
from cairn.scheduler.service import AutomationState

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class AutomationRow:
    """One automation as `cairn automations list` and the app's table show it."""

    name: str
    path: str
    enabled: bool
    schedule: str  # as written in the file
    describe: str  # the schedule in words
    timezone: str
    next_run: datetime | None  # None while paused or held, or when no slot is left
    last_run: Run | None  # the latest row, any status (a skipped slot too)
    catch_up: str
    problem: str | None  # why it is held back although enabled (its errors)
    running: bool  # a run of it is in progress (known from the scheduler or the store)


def overview(
    workspace: Workspace,
    store: RunStore,
    *,
    now: datetime | None = None,
    states: Iterable[AutomationState] | None = None,
) -> list[AutomationRow]:
    """Every automation of `workspace`, in the workspace's order."""
    from cairn.core.automations import Timing
    from cairn.infra.triggers import zone

    now = now or datetime.now(UTC)
    live = {state.name: state for state in states or ()}
    errors: dict[str, list[str]] = {}
    for diagnostic in workspace.diagnostics:
        if diagnostic.severity == "error":
            errors.setdefault(diagnostic.path, []).append(diagnostic.message)
    running = {run.automation for run in store.running()}
    rows: list[AutomationRow] = []
    for auto in workspace.automations.values():
        problem = "; ".join(errors[auto.path]) if auto.path in errors else None
        try:
            timing = Timing.of(auto.schedule, zone(auto.meta.timezone), auto.meta.catch_up)
        except Exception as exc:  # a zone this machine does not know, say
            problem = problem or f"its schedule cannot be used here: {exc}"
            upcoming, catch_up = None, "—"
        else:
            upcoming = timing.next_slot(now) if auto.enabled and problem is None else None
            catch_up = timing.catch_up.describe()
        state = live.get(auto.name)
        if state is not None and auto.enabled:
            # The scheduler's word wins: it is what will happen. A state with neither a
            # problem nor a job is one it has not synced yet; the computed slot stands.
            if state.problem is not None:
                problem, upcoming = problem or state.problem, None
            elif state.next_run is not None:
                upcoming = state.next_run
        rows.append(
            AutomationRow(
                name=auto.name,
                path=auto.path,
                enabled=auto.enabled,
                schedule=auto.meta.schedule,
                describe=auto.schedule.describe(),
                timezone=auto.meta.timezone,
                next_run=upcoming,
                last_run=store.last_run(auto.name),
                catch_up=catch_up,
                problem=problem,
                running=auto.name in running or (state is not None and state.running),
            )
        )
    return rows


def automation(workspace: Workspace, name: str) -> Automation:
    """The automation called `name` in `workspace`, or an error listing the ones there are."""
    if name in workspace.automations:
        return workspace.automations[name]
    known = ", ".join(sorted(workspace.automations)) or "none"
    raise UnknownAutomationError(
        f"no automation '{name}' in this workspace (there are: {known}); `cairn check` shows"
        " automation files that could not be read"
    )


@dataclass(frozen=True, slots=True)
class Toggled:
    name: str
    path: str
    enabled: bool
    changed: bool  # False: it was already so, and the file was left alone


def set_enabled(
    model: WorkspaceModel, name: str, *, enabled: bool, runs: RunStore | None = None
) -> Toggled:
    """Pause (`enabled=False`) or resume automation `name` of the loaded `model`.

    A pause is also noted in `runs` (when given) as of now, so a scheduler that starts
    later skips the slots of the pause instead of catching them up; the next scheduler
    to keep the automation clears it (`SlotKeeper.sync`)."""
    from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash
    from cairn.core.workspace.edit import EditError, update_frontmatter

    auto = automation(model.workspace, name)
    if auto.enabled == enabled:
        return Toggled(auto.name, auto.path, enabled, changed=False)
    raw = model.store.read(auto.path, MAX_FILE_BYTES)
    bom = BOM if raw.startswith(BOM) else b""
    try:
        text = update_frontmatter(raw[len(bom) :].decode("utf-8"), {"enabled": enabled})
    except (UnicodeDecodeError, EditError) as exc:
        raise CairnError(f"{auto.path} cannot be edited: {exc}") from exc
    try:
        # Bytes, not `model.write(text)`: the BOM and every other byte stay as they were.
        model.store.write(auto.path, bom + text.encode("utf-8"), base_hash=content_hash(raw))
    except WriteConflictError as exc:
        raise CairnError(f"{auto.path} changed while Cairn was editing it; try again") from exc
    model.refresh([auto.path], origin="cairn")
    if runs is not None and not enabled:
        runs.note_paused(auto.name)
    return Toggled(auto.name, auto.path, enabled, changed=True)


def run_now(
    root: str | Path,
    name: str,
    *,
    on_event: Callable[[object], None] | None = None,
    cancel: CancelToken | None = None,
) -> Run | Refusal:
    """Run automation `name` now (trigger `run-now`) on this thread, with its own store:
    the finished row, or the `Refusal` when it is still running elsewhere."""
    with RunStore(root) as store:
        store.recover()
        return execute(
            root,
            name,
            trigger="run-now",
            slot=datetime.now(UTC),
            store=store,
            on_event=on_event,
            cancel=cancel,
        )


def trace_path(run: Run) -> str | None:
    """The run's trace file, relative to the workspace."""
    return f".cairn/traces/{run.trace}.jsonl" if run.trace else None
