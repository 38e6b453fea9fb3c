"""One improvement cycle: measure, mine, propose, criticise, gate; keep survivors for a
person to decide (`cairn improve`).

1. The suite runs as it is (the baseline), every case `repeat` times.
2. Weaknesses are mined from recent task traces and the *train* cases' failures, and a
   digest is written. Held-out cases are never shown to the proposing model.
3. For the most frequent weaknesses, the `improve` model proposes edits.
4. The critic refuses edits that could game the evals or reach beyond the harness.
5. Each remaining edit is tried on workspace copies against the whole suite; the gate
   keeps it only if it fixes a failing held-out case and regresses no case at all.
6. Survivors wait under `.cairn/improve/pending/` with their diff and figures. Nothing in
   the workspace changes until a person runs `cairn improve accept ID`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError
from cairn.core.harness import critic, gate
from cairn.core.harness.evals import EvalCase
from cairn.core.harness.mining import EvalFailure, Weakness, digest, mine
from cairn.core.harness.proposals import Proposal, apply_edit
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.entities import Workspace
from cairn.improve.changes import Pending, diff_of, improve_folder, read_target, save_pending
from cairn.improve.runner import Progress, SuiteResult, copy_workspace, run_cases, save

RECENT_TRACES = 200
"""How many of the latest task traces are mined."""


@dataclass
class Candidate:
    proposal: Proposal
    status: str  # kept | rejected | not applicable
    reasons: list[str] = field(default_factory=list)
    verdict: gate.GateVerdict | None = None
    after: SuiteResult | None = None
    diff: str = ""
    base_hash: str = ""  # the content hash of the file the proposal was tried on


@dataclass
class CycleReport:
    id: str
    baseline: SuiteResult
    weaknesses: list[Weakness]
    digest_path: Path
    candidates: list[Candidate] = field(default_factory=list)
    proposer_tokens: int = 0
    proposer_cost_usd: float = 0.0
    proposer_models: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""  # why the cycle stopped early, when it did

    @property
    def kept(self) -> list[Candidate]:
        return [c for c in self.candidates if c.status == "kept"]

    @property
    def tokens(self) -> int:
        """Every token the cycle spent: evals before and after, and the proposals."""
        tried = sum(c.after.tokens for c in self.candidates if c.after is not None)
        return self.baseline.tokens + tried + self.proposer_tokens

    @property
    def held_out_before(self) -> float:
        return gate.pass_rate(self.baseline.by_case("held-out"))

    @property
    def held_out_best(self) -> float:
        """The held-out pass rate with the best kept edit (the baseline's when none)."""
        rates = [c.verdict.after_rate for c in self.kept if c.verdict is not None]
        return max(rates, default=self.held_out_before)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "id": self.id,
            "baseline": self.baseline.id,
            "seconds": round(self.seconds, 3),
            "tokens": self.tokens,
            "proposer_tokens": self.proposer_tokens,
            "proposer_cost_usd": self.proposer_cost_usd,
            "proposer_models": self.proposer_models,
            "held_out_before": self.held_out_before,
            "held_out_best": self.held_out_best,
            "note": self.note,
            "problems": self.problems,
            "weaknesses": [
                {"key": w.key, "title": w.title, "tasks": len(w.tasks), "sensitive": w.sensitive}
                for w in self.weaknesses
            ],
            "candidates": [
                {
                    "id": c.proposal.id,
                    "proposal": c.proposal.to_json(),
                    "status": c.status,
                    "reasons": c.reasons,
                    "verdict": None
                    if c.verdict is None
                    else {
                        "kept": c.verdict.kept,
                        "reason": c.verdict.reason,
                        "fixed": list(c.verdict.fixed),
                        "regressed": list(c.verdict.regressed),
                        "before_rate": c.verdict.before_rate,
                        "after_rate": c.verdict.after_rate,
                    },
                    "after_run": c.after.id if c.after else None,
                }
                for c in self.candidates
            ],
        }


def recent_traces(root: Path, limit: int = RECENT_TRACES) -> dict[str, list[dict[str, Any]]]:
    """The latest task traces (not `cairn ask` calls, nor the improve model's own)."""
    from cairn.infra.trace import read_trace, trace_folder

    folder = trace_folder(root)
    paths = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    paths = [p for p in paths if not p.stem.startswith(("ask-", "improve-"))][-limit:]
    return {p.stem: [dict(r) for r in read_trace(p)] for p in paths}


def eval_evidence(
    root: Path, result: SuiteResult, cases: list[EvalCase]
) -> tuple[dict[str, list[dict[str, Any]]], list[EvalFailure]]:
    """The train cases' runs of an eval run, as traces and failures to mine. Held-out
    cases are left out: their evidence never reaches the proposing model."""
    from cairn.infra.trace import read_trace

    requests = {c.name: c.request for c in cases}
    traces: dict[str, list[dict[str, Any]]] = {}
    failures = []
    for run in result.results:
        if run.split != "train" or run.case not in requests:
            continue
        path = root / run.trace
        traces[f"eval:{run.case}#{run.repeat}"] = (
            [dict(r) for r in read_trace(path)] if path.is_file() else []
        )
        if not run.passed:
            failed = tuple(f"{c.check}: {c.detail}" for c in run.checks if not c.passed)
            failures.append(EvalFailure(run.case, requests[run.case], failed, run.sensitive))
    return traces, failures


def mine_workspace(
    root: Path, workspace: Workspace, result: SuiteResult | None, cases: list[EvalCase]
) -> tuple[list[Weakness], str]:
    """Weaknesses in the recent traces and an eval run's train cases, and their digest
    (written to `.cairn/improve/digest.md`)."""
    from cairn.infra.files import write_atomically
    from cairn.infra.state import make_folder

    traces = recent_traces(root)
    failures: list[EvalFailure] = []
    if result is not None:
        more, failures = eval_evidence(root, result, cases)
        traces.update(more)
    private = [s.name for s in workspace.spaces.values() if s.scope == "private"]
    skills = {name: s.description for name, s in workspace.skills.items()}
    weaknesses = mine(traces, skills=skills, eval_failures=failures, private_spaces=private)
    evals = len(result.results) if result is not None else 0
    text = digest(weaknesses, traces=len(traces), evals=evals)
    path = improve_folder(root) / "digest.md"
    make_folder(path.parent)
    write_atomically(path, text.encode("utf-8"))
    return weaknesses, text


def improve_cycle(
    root: Path,
    cases: list[EvalCase],
    *,
    model: str | None = None,
    improve_model: str | None = None,
    repeat: int = 1,
    patterns: int = 3,
    suite: str = "",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    proposer: Callable[..., Any] | None = None,
) -> CycleReport:
    """Run one cycle on the workspace at `root` (see the module's docstring). `model`
    runs the eval tasks (`--model`); `improve_model` answers the `improve` calls; both
    default to what agents.md routes. `proposer` stands in for `propose.propose` (tests).

    Every run of the cycle works from one snapshot of the workspace taken at its start, so
    an edit made meanwhile (by you, or by a task) is never credited to a proposal; a kept
    proposal records the snapshot's file, and `accept` refuses if the file moved on."""
    if not cases:
        raise CairnError("the suite has no cases to run")
    with tempfile.TemporaryDirectory(prefix="cairn-cycle-") as temp:
        snapshot = Path(temp) / "workspace"
        copy_workspace(root, snapshot, {})
        return _cycle(
            root,
            snapshot,
            cases,
            model=model,
            improve_model=improve_model,
            repeat=repeat,
            patterns=patterns,
            suite=suite,
            say=progress or (lambda _text: None),
            cancel=cancel or CancelToken(),
            proposer=proposer,
        )


def _cycle(
    root: Path,
    snapshot: Path,
    cases: list[EvalCase],
    *,
    model: str | None,
    improve_model: str | None,
    repeat: int,
    patterns: int,
    suite: str,
    say: Progress,
    cancel: CancelToken,
    proposer: Callable[..., Any] | None,
) -> CycleReport:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.improve.propose import editable_files, propose
    from cairn.infra.files import LocalFileStore
    from cairn.runtime import policy_with_model

    started = time.monotonic()
    say(f"baseline: {len(cases)} cases × {repeat}")
    run = partial(
        run_cases,
        root,
        model=model,
        repeat=repeat,
        suite=suite,
        progress=say,
        cancel=cancel,
        source=snapshot,
    )
    baseline = run(cases, label="baseline")
    save(root, baseline)
    workspace = WorkspaceModel(LocalFileStore(snapshot)).load()
    if workspace.agents is None:
        from cairn.runtime import policy_missing

        raise CairnError(policy_missing(workspace))
    policy = workspace.agents.policy
    if improve_model:
        policy = policy_with_model(policy, improve_model, root)
    weaknesses, _ = mine_workspace(root, workspace, baseline, cases)
    digest_path = improve_folder(root) / "digest.md"
    report = CycleReport(
        baseline.id.replace("eval-", "cycle-", 1), baseline, weaknesses, digest_path
    )
    say(f"{len(weaknesses)} weaknesses found; digest: {digest_path}")

    held_before = baseline.by_case("held-out")
    if not held_before:
        report.note = "no held-out cases: the gate has nothing to judge an edit on"
    elif all(r.always for r in held_before.values()):
        report.note = "every held-out case passes already: there is nothing an edit could fix"
    elif not weaknesses:
        report.note = "no weaknesses were found: nothing to propose"
    if report.note:
        say(report.note)
        return _finish(root, report, started)

    editable = editable_files(workspace)
    held_out = {c.name for c in cases if c.split == "held-out"}
    case_skills = {c.name: c.skill for c in cases if c.skill}
    ask = proposer or propose
    for weakness in weaknesses[:patterns]:
        if cancel.cancelled:
            break
        say(f"asking for edits: {weakness.title}")
        try:
            found = ask(
                snapshot,
                workspace,
                policy,
                weakness,
                case_skills=case_skills,
                cancel=cancel,
                ledger=root,
            )
        except Exception as exc:  # no model could answer (routing, an engine failed): go on
            said = str(exc) if isinstance(exc, CairnError) else f"{type(exc).__name__}: {exc}"
            report.problems.append(f"{weakness.key}: {said}")
            say(f"  no proposals: {said}")
            continue
        report.proposer_tokens += found.input_tokens + found.output_tokens
        report.proposer_cost_usd += found.cost_usd
        if found.model and found.model not in report.proposer_models:
            report.proposer_models.append(found.model)
        report.problems += [f"{weakness.key}: {p}" for p in found.problems]
        for proposal in found.proposals:
            if cancel.cancelled:
                break
            if any(c.proposal.id == proposal.id for c in report.candidates):
                continue  # the same edit again: tried once is enough
            candidate = _try(snapshot, proposal, cases, held_out, editable, baseline, run)
            report.candidates.append(candidate)
            if candidate.after is not None:
                save(root, candidate.after)
            if candidate.status == "kept" and candidate.verdict is not None:
                _keep(root, candidate, baseline, held_out)
            reasons = f" — {'; '.join(candidate.reasons)}" if candidate.reasons else ""
            say(f"  {proposal.id} ({proposal.summary}): {candidate.status}{reasons}")
    return _finish(root, report, started)


def _try(  # noqa: PLR0917 (one candidate's whole trial)
    snapshot: Path,
    proposal: Proposal,
    cases: list[EvalCase],
    held_out: set[str],
    editable: list[str],
    baseline: SuiteResult,
    run: Callable[..., SuiteResult],
) -> Candidate:
    """Check where the proposal writes, apply it to the snapshot's file, criticise it,
    run the whole suite with it, and ask the gate."""
    refused = critic.path_problems(proposal, editable)
    if refused:  # before the file is even read
        return Candidate(proposal, "rejected", refused)
    try:
        raw = read_target(snapshot, proposal.path)
        before = raw.decode("utf-8")
        after = apply_edit(before, proposal)
    except (OSError, UnicodeDecodeError, CairnError) as exc:
        return Candidate(proposal, "not applicable", [str(exc)])
    diff = diff_of(proposal.path, before, after)
    reasons = critic.critique(proposal, before=before, after=after, editable=editable, cases=cases)
    if reasons:
        return Candidate(proposal, "rejected", reasons, diff=diff, base_hash=content_hash(raw))
    # Every case runs: held-out ones can be fixed, and no case at all may get worse.
    tried = run(
        cases, changes={proposal.path: after.encode("utf-8")}, label=f"candidate {proposal.id}"
    )
    verdict = gate.judge(baseline.by_case(), tried.by_case(), held_out)
    return Candidate(
        proposal,
        "kept" if verdict.kept else "rejected",
        [] if verdict.kept else [verdict.reason],
        verdict,
        tried,
        diff,
        content_hash(raw),
    )


def _keep(root: Path, candidate: Candidate, baseline: SuiteResult, held_out: set[str]) -> None:
    """A kept candidate waits for a person, with its diff and figures."""
    assert candidate.verdict is not None and candidate.after is not None
    verdict, before_runs, after_runs = (
        candidate.verdict,
        baseline.by_case(),
        candidate.after.by_case(),
    )
    figures = {
        "reason": verdict.reason,
        "before_rate": verdict.before_rate,
        "after_rate": verdict.after_rate,
        "fixed": list(verdict.fixed),
        "cases": {
            name: {
                "split": "held-out" if name in held_out else "train",
                "before": before_runs[name].shown(),
                "after": after_runs[name].shown() if name in after_runs else "did not run",
            }
            for name in before_runs
        },
    }
    save_pending(
        root,
        Pending(
            candidate.proposal, candidate.base_hash, candidate.diff, figures, baseline.id, _now()
        ),
    )


def _finish(root: Path, report: CycleReport, started: float) -> CycleReport:
    import json

    from cairn.infra.files import write_atomically
    from cairn.infra.state import make_folder

    report.seconds = time.monotonic() - started
    path = improve_folder(root) / "cycles" / f"{report.id}.json"
    make_folder(path.parent)
    write_atomically(path, json.dumps(report.to_json(), indent=1).encode("utf-8"))
    return report


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
