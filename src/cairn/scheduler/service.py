"""The automation scheduler: one object that `cairn serve` runs and the desktop app embeds.

`AutomationScheduler(root).start()` keeps a workspace's automations running until
`stop()`. It assumes no terminal and installs no signal handlers: the caller owns the
process. What it does:

* **Start-up**: runs whose process died are marked interrupted (never replayed), then
  each enabled automation's missed slots are decided by its catch-up rule.
* **Live slots**: one APScheduler date job per automation, at its next slot as Cairn's
  own slot logic computes it (its daylight-saving rules are documented; APScheduler's
  triggers would differ). A job only decides (a short database transaction, on
  APScheduler's single decision thread); the run itself goes to a pool of
  `max_parallel_runs` threads, so a long run never delays another automation's
  decision, and a slot is claimed on time even when its run has to wait for a thread.
* **Sleep and clock changes**: every `wake_check_s` the wall clock is compared with the
  monotonic one; a jump re-decides every automation's missed slots ("the computer was
  asleep"), and a slot whose job fires late is decided the same way.
* **Live reload**: the workspace model's events (a `WorkspaceWatcher` of its own unless
  the caller passes a model it keeps current) re-sync the automations: added, edited,
  disabled, deleted or broken files are rescheduled without a restart; an automation with
  errors (say a skill it names was deleted) is held and its problem reported, the
  others keep running.
* **Notifications**: each finished run is worded by `notice_for` and sent to the
  notifier; each run and skipped slot is added to the automation's markdown run log.

Several processes may keep one workspace: every decision is a `RunStore` transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from apscheduler.executors.pool import ThreadPoolExecutor as DecisionThread
from apscheduler.schedulers.background import BackgroundScheduler

from cairn.core.automations import Timing, wall_clock_jump
from cairn.core.engine import CancelToken
from cairn.core.ports import Notifier
from cairn.core.workspace.entities import Automation
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.infra.redaction import REDACTOR
from cairn.infra.runs import Claim, Decided, Refusal, Run, RunStore
from cairn.infra.triggers import zone
from cairn.scheduler.execute import RunnerFactory, execute
from cairn.scheduler.keeper import ASLEEP, LATE, NOT_RUNNING, SlotKeeper
from cairn.scheduler.notify import LogNotifier, notice_for
from cairn.scheduler.run_log import append_run, append_skipped

if TYPE_CHECKING:
    from cairn.core.workspace.events import Subscription
    from cairn.infra.watcher import WorkspaceWatcher

log = logging.getLogger("cairn.serve")

WAKE_CHECK_S: Final = 30.0
"""How often the clocks are compared to notice a wake from sleep."""
RETRY_S: Final = 60.0
"""A catch-up refused because the automation was running is decided again this much later."""


@dataclass(frozen=True, slots=True)
class AutomationState:
    """What the app shows per automation."""

    name: str
    scheduled: bool  # enabled, valid and kept by this scheduler
    next_run: datetime | None
    running: bool
    problem: str | None  # why it is held (disabled, or its errors)


class AutomationScheduler:
    def __init__(
        self,
        root: str | Path,
        *,
        notifier: Notifier | None = None,
        model: WorkspaceModel | None = None,
        runner_factory: RunnerFactory | None = None,
        on_event: Callable[[str, object], None] | None = None,
        max_parallel_runs: int = 2,
        wake_check_s: float = WAKE_CHECK_S,
    ) -> None:
        self.root = Path(root).resolve()
        self.notifier: Notifier = notifier or LogNotifier()
        self._own_model = model is None
        self.model = model or WorkspaceModel(LocalFileStore(self.root))
        self.store = RunStore(self.root)
        self.keeper = SlotKeeper(self.store)
        self._runner_factory = runner_factory
        self._on_event = on_event
        self._wake_check_s = wake_check_s
        self._lock = threading.RLock()  # the keeper and the bookkeeping below
        self._runs = ThreadPoolExecutor(max_parallel_runs, thread_name_prefix="cairn-run")
        self._cancels: dict[int, tuple[str, CancelToken]] = {}  # key -> automation, token
        self._active: dict[str, int] = {}  # runs per automation on this process
        self._problems: dict[str, str] = {}
        self._queued: dict[int, Claim] = {}  # claimed, waiting for a run thread
        self._sync_pending = False
        # One decision thread: decisions are short transactions, taken one at a time.
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": DecisionThread(1)},
            job_defaults={"coalesce": False, "max_instances": 1, "misfire_grace_time": None},
        )
        self._watcher: WorkspaceWatcher | None = None
        self._subscription: Subscription | None = None
        self._stopping = threading.Event()
        self._wake_thread = threading.Thread(
            target=self._watch_clocks, name="cairn-wake-check", daemon=True
        )
        self._started = False

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._own_model:
            self.model.load()  # first: recovered runs are added to their run logs
        for run in self.store.recover():
            self._finished(run)
        self._scheduler.start()
        self._sync(NOT_RUNNING)
        self._subscription = self.model.subscribe(lambda _events: self._schedule_sync())
        if self._own_model:
            from cairn.infra.watcher import WorkspaceWatcher

            watcher = WorkspaceWatcher(self.model, self.root)
            watcher.start()
            self._watcher = watcher
        self._wake_thread.start()
        self._started = True

    def stop(self, *, interrupt: bool = True, timeout: float | None = None) -> None:
        """Stop scheduling. Runs in progress are interrupted (`interrupt`, recorded as
        interrupted) or finished first; waits for them up to `timeout` seconds."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.stop()
        if self._subscription is not None:
            self._subscription.unsubscribe()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if interrupt:
            with self._lock:
                for _name, token in self._cancels.values():
                    token.cancel()
        self._runs.shutdown(wait=timeout is None, cancel_futures=True)
        with self._lock:  # claimed, never started: record them, or they would block
            unstarted, self._queued = list(self._queued.values()), {}  # (while we live)
        for claim in unstarted:
            run = self.store.finish(
                claim.id,
                "interrupted",
                cost_usd=0,
                tokens=0,
                trace=None,
                reason="Cairn stopped before the run could start; not replayed",
            )
            self._finished(run)
        if timeout is not None:
            deadline = time.monotonic() + timeout
            while self._cancels and time.monotonic() < deadline:
                time.sleep(0.05)
        if self._wake_thread.is_alive():
            self._wake_thread.join(timeout=1)
        with self._lock:
            still_running = bool(self._cancels)
        if still_running:
            # A run ignored its cancel for `timeout` s (a long model load): its thread still
            # records how it ended, so the store stays open for it; what a process exit
            # cuts short is marked interrupted at the next start.
            log.warning("a run is still winding down; it is recorded when it ends")
            return
        self.store.close()

    def __enter__(self) -> AutomationScheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the app asks ----------------------------------------------------------

    def states(self) -> list[AutomationState]:
        with self._lock:
            automations = self.model.workspace.automations
            states = []
            for name in sorted(automations):
                job = self._scheduler.get_job(_job_id(name))
                states.append(
                    AutomationState(
                        name,
                        self.keeper.timing(name) is not None,
                        job.next_run_time if job else None,
                        name in self._active,
                        self._problems.get(name),
                    )
                )
            return states

    def run_now(self, name: str) -> Future[Run | Refusal]:
        """Run `name` now (trigger `run-now`) on the run pool; never uses up a slot."""
        return self._runs.submit(self._execute, name, None, datetime.now(UTC))

    def stop_runs(self, name: str) -> int:
        """Stop `name`'s runs in progress in this process (scheduled or run now); each is
        recorded `interrupted` when its task ends. Returns how many were asked to stop."""
        with self._lock:
            tokens = [token for owner, token in self._cancels.values() if owner == name]
        for token in tokens:
            token.cancel()
        return len(tokens)

    # -- deciding ----------------------------------------------------------------------

    def _schedule_sync(self) -> None:
        """A change to the workspace: re-sync on the decision thread, not the watcher's;
        one sync waits at a time, and a change during a sync asks for another."""
        with self._lock:
            if self._sync_pending or self._stopping.is_set():
                return
            self._sync_pending = True
        self._scheduler.add_job(self._sync_now)

    def _sync_now(self) -> None:
        with self._lock:
            self._sync_pending = False
        self._sync(NOT_RUNNING)

    def _sync(self, cause: str) -> None:
        workspace = self.model.workspace
        errors: dict[str, list[str]] = {}
        for diagnostic in workspace.diagnostics:
            if diagnostic.severity == "error":
                errors.setdefault(diagnostic.path, []).append(diagnostic.message)
        wanted: dict[str, Timing] = {}
        held: dict[str, str] = {}
        for name, automation in workspace.automations.items():
            problem = self._problem(automation, errors.get(automation.path))
            if problem is None:
                try:
                    wanted[name] = Timing.of(
                        automation.schedule,
                        zone(automation.meta.timezone),
                        automation.meta.catch_up,
                    )
                except Exception as exc:  # a zone this machine does not know, say
                    problem = f"its schedule cannot be used here: {exc}"
            if problem is not None:
                held[name] = problem
        for path, messages in errors.items():
            if path.startswith("automations/") and not any(
                a.path == path for a in workspace.automations.values()
            ):
                held[path] = "; ".join(messages)
        now = datetime.now(UTC)
        with self._lock:
            for name, problem in held.items():
                if name not in self._problems or self._problems[name] != problem:
                    log.warning("%s is not scheduled: %s", name, problem)
            self._problems = held
            paused = [name for name in held if name in workspace.automations]
            added, changed, dropped = self.keeper.sync(wanted, paused, now)
        for name in dropped:
            if self._scheduler.get_job(_job_id(name)):
                self._scheduler.remove_job(_job_id(name))
            log.info("%s: unscheduled", name)
        for name in changed:
            self._schedule_next(name, now)
        for name in added:
            self._catch_up(name, cause)

    def _problem(self, automation: Automation, errors: list[str] | None) -> str | None:
        if errors:
            return "; ".join(errors) + " (`cairn check` shows how to fix it)"
        if not automation.enabled:
            return "paused (enabled: false); `cairn automations resume` turns it back on"
        return None

    def _schedule_next(self, name: str, now: datetime) -> None:
        try:
            with self._lock:
                upcoming = self.keeper.next_slot(name, now)
        except Exception:
            log.exception("%s: reading its last slot failed; trying again in a minute", name)
            self._retry(name, LATE)
            return
        if upcoming is None:
            if self._scheduler.get_job(_job_id(name)):
                self._scheduler.remove_job(_job_id(name))
            log.info("%s: no further slot", name)
            return
        self._scheduler.add_job(
            self._fire,
            "date",
            run_date=upcoming,
            args=(name, upcoming),
            id=_job_id(name),
            replace_existing=True,
        )
        log.info("%s: next run %s", name, upcoming.astimezone().isoformat(timespec="minutes"))

    def _catch_up(self, name: str, cause: str) -> None:
        now = datetime.now(UTC)
        try:
            with self._lock:
                decided = self.keeper.catch_up(name, now, cause)
        except Exception:  # the database was busy or unusable: try again, never go quiet
            log.exception("%s: deciding missed slots failed; trying again in a minute", name)
            self._retry(name, cause)
            return
        finally:
            self._schedule_next(name, now)
        self._act(name, decided, retry_cause=cause)

    def _fire(self, name: str, slot: datetime) -> None:
        now = datetime.now(UTC)
        try:
            with self._lock:
                decided = self.keeper.fire(name, slot, now)
        except Exception:  # the slot is undecided: the retry decides it by the catch-up rule
            log.exception("%s: deciding the slot %s failed; trying again", name, _local(slot))
            self._retry(name, LATE)
            return
        finally:
            self._schedule_next(name, now)
        self._act(name, decided, retry_cause=LATE)

    def _act(self, name: str, decided: Decided, *, retry_cause: str) -> None:
        if decided.skipped:
            for run in decided.skipped:
                log.info("%s: slot %s skipped: %s", name, _local(run.slot), run.reason)
            automation = self.model.workspace.automations.get(name)
            if automation is not None:
                append_skipped(self.model, automation, decided.skipped)
        outcome = decided.outcome
        if isinstance(outcome, Claim):
            with self._lock:
                self._queued[outcome.id] = outcome
            self._runs.submit(self._execute, name, outcome, outcome.slot)
        elif isinstance(outcome, Refusal):
            log.info("%s", outcome.message)
            if outcome.reason == "overlap" and outcome.trigger == "catch-up":
                self._retry(name, retry_cause)

    def _retry(self, name: str, cause: str) -> None:
        self._scheduler.add_job(
            self._catch_up,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=RETRY_S),
            args=(name, cause),
            id=f"retry:{name}",
            replace_existing=True,
        )

    # -- running -----------------------------------------------------------------------

    def _execute(self, name: str, claim: Claim | None, slot: datetime) -> Run | Refusal:
        cancel = CancelToken()
        trigger = claim.trigger if claim else "run-now"
        key = claim.id if claim else -id(cancel)
        with self._lock:  # one section: `stop()` either sees this run's token or its claim
            if claim is not None and self._queued.pop(claim.id, None) is None:
                return Refusal(name, slot, trigger, "taken", self.store.get(claim.id))
            if self._stopping.is_set():
                cancel.cancel()  # stopping already: the run ends at once, interrupted
            self._cancels[key] = (name, cancel)
            self._active[name] = self._active.get(name, 0) + 1
        log.info("%s: %s run for %s starts", name, trigger, _local(slot))
        try:
            result = execute(
                self.root,
                name,
                trigger=trigger,
                slot=slot,
                store=self.store,
                claim=claim,
                runner_factory=self._runner_factory,
                on_event=self._listener(name),
                cancel=cancel,
            )
        except Exception as exc:  # recorded as failed by `execute`; the scheduler goes on
            log.exception("%s: the run crashed", name)
            try:
                why = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
                self.notifier.notify(f"{name}: failed", why, urgency="failure")
            except Exception:
                log.exception("the notifier failed")
            if claim is None:
                raise
            return self.store.get(claim.id)
        finally:
            with self._lock:
                self._cancels.pop(key, None)
                left = self._active.get(name, 1) - 1
                if left > 0:
                    self._active[name] = left
                else:
                    self._active.pop(name, None)
        if isinstance(result, Refusal):
            log.info("%s", result.message)
            return result
        self._finished(result)
        if trigger == "catch-up" and not self._stopping.is_set():
            # `catch_up: all` may owe more; deciding again is a no-op otherwise.
            self._scheduler.add_job(self._catch_up, args=(name, NOT_RUNNING))
        return result

    def _listener(self, name: str) -> Callable[[object], None] | None:
        on_event = self._on_event
        if on_event is None:
            return None
        return lambda event: on_event(name, event)

    def _finished(self, run: Run) -> None:
        log.info("%s: run %d %s (%s)", run.automation, run.id, run.status, run.reason or "ok")
        if run.status == "interrupted" and run.finished_at and not run.trace:
            automation = self.model.workspace.automations.get(run.automation)
            if automation is not None:  # recovered at start-up: add it to the readable log
                append_run(self.model, automation, run)
        notice = notice_for(run)
        if notice is not None:
            title, body, urgency = notice
            try:
                self.notifier.notify(title, body, urgency=urgency)
            except Exception:
                log.exception("the notifier failed")

    # -- sleep ---------------------------------------------------------------------------

    def _watch_clocks(self) -> None:
        wall, mono = datetime.now(UTC), time.monotonic()
        while not self._stopping.wait(self._wake_check_s):
            now_wall, now_mono = datetime.now(UTC), time.monotonic()
            jump = wall_clock_jump(wall, mono, now_wall, now_mono)
            wall, mono = now_wall, now_mono
            if jump is None or self._stopping.is_set():
                continue
            log.info("the wall clock jumped by %s: deciding missed slots again", jump.by)
            with self._lock:
                names = self.keeper.names
            for name in names:
                self._scheduler.add_job(self._catch_up, args=(name, ASLEEP))


def _job_id(name: str) -> str:
    return f"slot:{name}"


def _local(moment: datetime) -> str:
    return moment.astimezone().isoformat(timespec="minutes")
