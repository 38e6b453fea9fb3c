"""Running eval cases: each run on a fresh copy of the workspace, headless, then judged.

A run never touches the workspace itself: the case's task works in a temporary copy
(without `evals/`, so no task can read what it is checked against, and without `.cairn/`),
with approvals refused (`--no-approve`: nothing outside the rules happens, and the
`no_approval` check sees every ask). Spend goes to the workspace's own ledger, so evals
count against the daily budget like any task. Each run's trace is kept under
`.cairn/evals/runs/RUN/` for weakness mining.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.core.engine import CancelToken
from cairn.core.harness.checks import (
    CaseVerdict,
    CheckResult,
    FoundFile,
    Observation,
    judge,
    observe,
)
from cairn.core.harness.evals import EVALS_FOLDER, EvalCase
from cairn.core.harness.gate import CaseRuns, pass_rate
from cairn.core.harness.mining import is_sensitive
from cairn.core.workspace.ignore import DEPENDENCY_FOLDERS, VENV_MARKER
from cairn.core.workspace.layouts import TOOL_FOLDERS
from cairn.core.workspace.names import path_parts

Progress = Callable[[str], None]
LINK_ABOVE = 16 * 1024 * 1024
"""Files this large (model files kept in the workspace) are linked into a copy, not copied."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run of one case."""

    case: str
    split: str
    repeat: int  # 1-based
    passed: bool
    checks: tuple[CheckResult, ...]
    seen: Observation
    trace: str  # workspace-relative path of its trace
    sensitive: bool = False

    def to_json(self) -> dict[str, Any]:
        seen = self.seen
        return {
            "case": self.case,
            "split": self.split,
            "repeat": self.repeat,
            "passed": self.passed,
            "checks": [
                {"check": c.check, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
            "status": seen.status,
            "reason": seen.reason,
            "answer": seen.answer,
            "tools": list(seen.tools),
            "failed_tools": seen.failed_tools,
            "approvals": seen.approvals,
            "guards": list(seen.guards),
            "input_tokens": seen.input_tokens,
            "output_tokens": seen.output_tokens,
            "cost_usd": seen.cost_usd,
            "seconds": round(seen.seconds, 3),
            "trace": self.trace,
            "sensitive": self.sensitive,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        seen = Observation(
            status=str(data.get("status", "unfinished")),
            reason=str(data.get("reason", "")),
            answer=str(data.get("answer", "")),
            tools=tuple(data.get("tools", ())),
            failed_tools=int(data.get("failed_tools", 0)),
            approvals=int(data.get("approvals", 0)),
            guards=tuple(data.get("guards", ())),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
            seconds=float(data.get("seconds", 0.0)),
        )
        checks = tuple(
            CheckResult(str(c["check"]), bool(c["passed"]), str(c.get("detail", "")))
            for c in data.get("checks", ())
        )
        return cls(
            case=str(data["case"]),
            split=str(data.get("split", "train")),
            repeat=int(data.get("repeat", 1)),
            passed=bool(data["passed"]),
            checks=checks,
            seen=seen,
            trace=str(data.get("trace", "")),
            sensitive=bool(data.get("sensitive", False)),
        )


@dataclass
class SuiteResult:
    """Every run of a suite: what `cairn eval` reports and stores."""

    id: str
    started: str
    suite: str
    model: str | None
    repeat: int
    results: list[RunResult] = field(default_factory=list)
    seconds: float = 0.0
    label: str = ""  # what was run: "baseline", "candidate 1a2b3c4d", ""

    def by_case(self, split: str | None = None) -> dict[str, CaseRuns]:
        grouped: dict[str, list[RunResult]] = {}
        for result in self.results:
            if split is None or result.split == split:
                grouped.setdefault(result.case, []).append(result)
        return {
            case: CaseRuns(
                case,
                tuple(r.passed for r in runs),
                tuple(r.seen.tokens for r in runs),
                tuple(r.seen.seconds for r in runs),
            )
            for case, runs in sorted(grouped.items())
        }

    @property
    def pass_rate(self) -> float:
        return pass_rate(self.by_case())

    @property
    def tokens(self) -> int:
        return sum(r.seen.tokens for r in self.results)

    @property
    def cost_usd(self) -> float:
        return sum(r.seen.cost_usd for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "id": self.id,
            "started": self.started,
            "suite": self.suite,
            "model": self.model,
            "repeat": self.repeat,
            "label": self.label,
            "seconds": round(self.seconds, 3),
            "pass_rate": self.pass_rate,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteResult:
        return cls(
            id=str(data["id"]),
            started=str(data.get("started", "")),
            suite=str(data.get("suite", "")),
            model=data.get("model"),
            repeat=int(data.get("repeat", 1)),
            results=[RunResult.from_json(r) for r in data.get("results", ())],
            seconds=float(data.get("seconds", 0.0)),
            label=str(data.get("label", "")),
        )


def runs_folder(root: Path) -> Path:
    return root / ".cairn" / "evals" / "runs"


def new_run_id() -> str:
    from cairn.core.tasks.run import new_task_id

    return new_task_id("eval-")


def run_cases(
    root: Path,
    cases: Sequence[EvalCase],
    *,
    model: str | None = None,
    repeat: int = 1,
    changes: Mapping[str, bytes] | None = None,
    suite: str = "",
    label: str = "",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    source: Path | None = None,
) -> SuiteResult:
    """Run every case `repeat` times on copies of the workspace at `root` (or of `source`,
    a snapshot of it, with results still kept under `root`), with `changes` (path → new
    bytes: a candidate edit) written into each copy, judged by its checks."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    cancel = cancel or CancelToken()
    run_id = new_run_id()
    result = SuiteResult(
        run_id, datetime.now().astimezone().isoformat(), suite, model, repeat, label=label
    )
    started = time.monotonic()
    total = len(cases) * repeat
    shared = shared_spaces(source or root)  # read once, not once per run
    done = 0
    for case in cases:
        for n in range(1, repeat + 1):
            if cancel.cancelled:
                break
            done += 1
            one = run_case(
                root,
                case,
                n,
                run_id,
                model=model,
                changes=changes,
                cancel=cancel,
                source=source,
                shared=shared,
            )
            result.results.append(one)
            if progress is not None:
                verdict = "passed" if one.passed else _first_failure(one)
                progress(
                    f"[{done}/{total}] {case.name}"
                    + (f" (run {n}/{repeat})" if repeat > 1 else "")
                    + f": {verdict} · {one.seen.tokens:,} tokens · {one.seen.seconds:.1f} s"
                )
    result.seconds = time.monotonic() - started
    return result


def _first_failure(result: RunResult) -> str:
    failed = next((c for c in result.checks if not c.passed), None)
    if failed is None:
        return "failed"
    return f"failed: {failed.check}" + (f" ({failed.detail[:100]})" if failed.detail else "")


def run_case(
    root: Path,
    case: EvalCase,
    repeat: int,
    run_id: str,
    *,
    model: str | None = None,
    changes: Mapping[str, bytes] | None = None,
    cancel: CancelToken | None = None,
    source: Path | None = None,
    shared: frozenset[str] | None = None,
) -> RunResult:
    """One run of `case` on a fresh copy of the workspace (of `source`, a snapshot, when
    given); the copy is removed after. Whatever goes wrong fails this run only."""
    from cairn.core.tasks.events import TaskFailed
    from cairn.infra.state import make_folder
    from cairn.infra.trace import TraceWriter, read_trace

    keep = runs_folder(root) / run_id / f"{case.name.replace('/', '--')}-{repeat}.jsonl"
    make_folder(keep.parent)
    events: list[object] = []
    verdict = CaseVerdict(False)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cairn-eval-") as temp:
        copy = Path(temp) / "workspace"
        trace = TraceWriter(Path(temp), f"{run_id}-{repeat}")
        try:
            copy_workspace(source or root, copy, changes or {}, ledger=root)
            before = _stats(copy)
            _run_task(copy, case, model=model, cancel=cancel, trace=trace, events=events)
            seen = observe(events, time.monotonic() - started)
            verdict = judge(case, seen, lambda pattern: _find(copy, pattern, before))
        except Exception as exc:  # a case that cannot run fails; the suite goes on
            failed = TaskFailed(case.name, f"{type(exc).__name__}: {exc}", "error")
            trace.record(failed)
            events.append(failed)
            seen = observe(events, time.monotonic() - started)
            verdict = judge(case, seen, lambda _pattern: [])
        finally:
            trace.close()
        with contextlib.suppress(OSError):
            shutil.copyfile(trace.path, keep)
    records = read_trace(keep) if keep.exists() else []
    if shared is None:
        shared = shared_spaces(source or root)
    private = {case.space} if case.space and case.space not in shared else set()
    return RunResult(
        case=case.name,
        split=case.split,
        repeat=repeat,
        passed=verdict.passed,
        checks=verdict.results,
        seen=seen,
        trace=keep.relative_to(root).as_posix(),
        sensitive=is_sensitive(records, private),
    )


def _run_task(
    copy: Path,
    case: EvalCase,
    *,
    model: str | None,
    cancel: CancelToken | None,
    trace: Any,
    events: list[object],
) -> None:
    from cairn.core.tasks.options import TaskOptions
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.runtime import build_runner, close_hub

    try:
        workspace = WorkspaceModel(LocalFileStore(copy))
        workspace.load()
        runner, _ = build_runner(workspace, copy, model_override=model, connectors=case.connectors)
        runner.remember = None  # the memory step is not what an eval measures
        options = TaskOptions(
            space=case.space,
            skill=case.skill,
            operator=case.operator,
            approvals="no",
            plan=case.plan,
        )
        for event in runner.run(case.request, options, cancel):
            trace.record(event)
            events.append(event)
    finally:
        close_hub(copy)


def shared_spaces(root: Path) -> frozenset[str]:
    """The spaces of the workspace at `root` that are not private (a space not among them,
    or any space when the workspace cannot be read, counts as private)."""
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    try:
        spaces = WorkspaceModel(LocalFileStore(root)).load().spaces.values()
    except Exception:
        return frozenset()
    return frozenset(s.name for s in spaces if s.scope != "private")


Stats = dict[str, tuple[int, int]]
READ_LIMIT = 4 * 1024 * 1024
"""A `file:` check reads at most this much of a file."""


def _stats(copy: Path) -> Stats:
    """Size and modification time of every file in the copy, before the task."""
    found: Stats = {}
    for path in copy.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                info = path.stat()
                found[path.relative_to(copy).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def _find(copy: Path, pattern: str, before: Stats) -> list[FoundFile]:
    """Files of the copy matching a glob after the task, each marked written when the
    task created or changed it (never outside the copy, never a link, never `.cairn/`)."""
    try:
        paths = sorted(copy.glob(pattern))
    except (ValueError, IndexError, NotImplementedError):
        return []  # not a pattern Python can match (the parser refuses most)
    found = []
    for path in paths:
        relative = path.relative_to(copy).as_posix()
        if relative.startswith(".cairn/") or path.is_symlink() or not path.is_file():
            continue
        try:
            info = path.stat()
            with path.open("rb") as handle:
                data = handle.read(READ_LIMIT)
        except OSError:
            continue
        written = before.get(relative) != (info.st_size, info.st_mtime_ns)
        found.append(FoundFile(relative, data, written))
    return found


def copy_workspace(
    root: Path, dest: Path, changes: Mapping[str, bytes], *, ledger: Path | None = None
) -> None:
    """Copy what a task can see of `root` into `dest` (no `.cairn/`, `evals/`, hidden
    files or folders other than `.claude`/`.agents`, dependencies or virtual
    environments), write `changes` over it, and point its spend ledger at the one of the
    workspace at `ledger` (default: `root`)."""
    root = root.resolve()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        relative = here.relative_to(root)
        top = relative == Path()
        dirs[:] = [
            d
            for d in dirs
            if not (top and d in (".cairn", EVALS_FOLDER))
            and (not d.startswith(".") or (top and d in TOOL_FOLDERS))
            and d not in DEPENDENCY_FOLDERS
            and not (here / d / VENV_MARKER).exists()
        ]
        target = dest / relative
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            if name.startswith("."):
                continue  # hidden files are never a task's to read (`.env`)
            source = here / name
            if source.is_symlink():
                with contextlib.suppress(OSError):
                    (target / name).symlink_to(source.readlink())
                continue
            try:
                if source.stat().st_size > LINK_ABOVE:
                    _link(source, target / name)
                else:
                    shutil.copy2(source, target / name)
            except OSError:
                continue  # unreadable: the task could not have read it either
    for path, data in changes.items():
        changed = dest.joinpath(*path_parts(path))  # refuses a path that leaves the copy
        changed.parent.mkdir(parents=True, exist_ok=True)
        if changed.is_symlink() or changed.exists():
            changed.unlink()
        changed.write_bytes(data)
    state = dest / ".cairn"
    state.mkdir(exist_ok=True)
    own = (ledger or root).resolve() / ".cairn"
    own.mkdir(exist_ok=True)
    (state / "spend.jsonl").symlink_to(own / "spend.jsonl")


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        target.symlink_to(source)


# --- stored runs --------------------------------------------------------------------------


def save(root: Path, result: SuiteResult) -> Path:
    import json

    from cairn.infra.files import write_atomically
    from cairn.infra.state import make_folder

    path = runs_folder(root) / f"{result.id}.json"
    make_folder(path.parent)
    write_atomically(path, json.dumps(result.to_json(), indent=1).encode("utf-8"))
    return path


def stored_runs(root: Path) -> list[SuiteResult]:
    """Every stored eval run of the workspace, oldest first; unreadable ones are skipped."""
    import json

    folder = runs_folder(root)
    found = []
    for path in sorted(folder.glob("eval-*.json")) if folder.is_dir() else []:
        try:
            found.append(SuiteResult.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def previous_run(root: Path, result: SuiteResult) -> SuiteResult | None:
    """The last stored run before `result` of the same suite and model, for comparison."""
    earlier = [
        r
        for r in stored_runs(root)
        if r.id < result.id
        and r.suite == result.suite
        and r.model == result.model
        and r.label in ("", "baseline")
    ]
    return earlier[-1] if earlier else None
