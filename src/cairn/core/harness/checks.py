"""What one eval run did (`Observation`, from the task's events) and whether its case's
checks hold. Every check is deterministic: the same run always gets the same verdict."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.engine import Usage
from cairn.core.harness.evals import Check, EvalCase
from cairn.core.tasks.events import (
    ApprovalDecided,
    GuardStopped,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    ToolCalled,
    ToolResult,
)
from cairn.core.workspace.documents import thaw


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str  # workspace-relative
    data: bytes
    written: bool  # the task created or changed it


FindFiles = Callable[[str], Sequence[FoundFile]]
"""A glob, relative to the workspace copy → the files it matches after the task."""


@dataclass(frozen=True, slots=True)
class Observation:
    status: str  # finished | failed | cancelled | unfinished
    reason: str = ""  # why it failed
    answer: str = ""
    tools: tuple[str, ...] = ()  # every tool called, in order
    failed_tools: int = 0
    approvals: int = 0  # actions that needed a person
    guards: tuple[str, ...] = ()  # "guard: reason" for each guard that stopped something
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def observe(events: Iterable[object], seconds: float = 0.0) -> Observation:
    """Summarise a task's events (the loop's, the router's and the engines')."""
    status, reason, answer = "unfinished", "", ""
    tools: list[str] = []
    guards: list[str] = []
    failed = approvals = tokens_in = tokens_out = 0
    cost = 0.0
    for event in events:
        if isinstance(event, Usage):
            tokens_in += event.input_tokens
            tokens_out += event.output_tokens
            cost += event.cost_usd or 0.0
        elif isinstance(event, ToolCalled):
            tools.append(event.name)
        elif isinstance(event, ToolResult) and not event.ok:
            failed += 1
        elif isinstance(event, ApprovalDecided):
            approvals += 1
        elif isinstance(event, GuardStopped):
            guards.append(f"{event.guard}: {event.reason}")
        elif isinstance(event, TaskFinished):
            status, answer = "finished", event.answer
        elif isinstance(event, TaskFailed):
            status, reason = "failed", f"{event.kind}: {event.reason}"
        elif isinstance(event, TaskCancelled):
            status, reason = "cancelled", event.reason
    return Observation(
        status=status,
        reason=reason,
        answer=answer,
        tools=tuple(tools),
        failed_tools=failed,
        approvals=approvals,
        guards=tuple(guards),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=cost,
        seconds=seconds,
    )


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str  # as `Check.describe` says it
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CaseVerdict:
    passed: bool
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def judge(case: EvalCase, seen: Observation, find: FindFiles) -> CaseVerdict:
    """Whether the run passed: the task finished, and every check holds."""
    finished = CheckResult(
        "the task finished",
        seen.status == "finished",
        "" if seen.status == "finished" else f"{seen.status}: {seen.reason}".strip(": "),
    )
    results = (finished, *(_one(check, seen, find) for check in case.checks))
    return CaseVerdict(all(r.passed for r in results), results)


def _one(check: Check, seen: Observation, find: FindFiles) -> CheckResult:
    name = check.describe()
    kind, value = check.kind, check.value
    if kind == "file":
        return CheckResult(name, *_file(check, find))
    if kind in ("answer", "answer_not"):
        found = re.search(str(value), seen.answer) is not None
        ok = found if kind == "answer" else not found
        return CheckResult(name, ok, "" if ok else f"the answer was: {_short(seen.answer)}")
    if kind == "no_approval":
        ok = seen.approvals == 0
        return CheckResult(name, ok, "" if ok else f"{seen.approvals} actions needed approval")
    if kind == "max_cost_usd":
        ok = seen.cost_usd <= float(value)
        return CheckResult(name, ok, "" if ok else f"it cost ${seen.cost_usd:.6f}")
    if kind == "max_tokens":
        ok = seen.tokens <= int(value)
        return CheckResult(name, ok, "" if ok else f"it used {seen.tokens:,} tokens")
    used = str(value) in seen.tools
    ok = used if kind == "tool_used" else not used
    called = ", ".join(dict.fromkeys(seen.tools)) or "none"
    return CheckResult(name, ok, "" if ok else f"tools called: {called}")


def _file(check: Check, find: FindFiles) -> tuple[bool, str]:
    """`exists: false`: no file matches. Only `not_matches:`: no matching file, written or
    not, contains the text. Otherwise a file the task wrote (not one that was there
    before) must match and pass every option."""
    found = find(str(check.value))
    options = check.options
    if options.get("exists") is False:
        return (not found, f"{found[0].path} exists" if found else "")
    unwanted = options.get("not_matches")
    positive = any(k in options for k in ("matches", "json", "schema"))
    if unwanted is not None and not positive:
        bad = [f for f in found if _contains(f.data, str(unwanted))]
        return (
            not bad,
            f"{bad[0].path} contains {_contains(bad[0].data, str(unwanted))!r}" if bad else "",
        )
    written = [f for f in found if f.written]
    if not written:
        there = " (a file that was there before does not count)" if found else ""
        return False, f"the task wrote no such file{there}"
    problems: list[str] = []
    for item in written:
        problem = _file_problem(check, item.data)
        if problem is None:
            return True, ""  # one written file that passes is enough
        problems.append(f"{item.path}: {problem}")
    return False, "; ".join(problems[:3])


def _contains(data: bytes, pattern: str) -> str | None:
    found = re.search(pattern, data.decode("utf-8", errors="replace"))
    return found.group(0) if found else None


def _file_problem(check: Check, data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    pattern = check.options.get("matches")
    if pattern is not None and re.search(str(pattern), text) is None:
        return f"does not match {pattern!r}: {_short(text)}"
    unwanted = check.options.get("not_matches")
    if unwanted is not None and (hit := _contains(data, str(unwanted))) is not None:
        return f"contains {hit!r}, which it must not"
    if check.options.get("json") or "schema" in check.options:
        try:
            parsed: Any = json.loads(text)
        except ValueError as exc:
            return f"is not JSON ({exc})"
        schema = check.options.get("schema")
        if schema is not None:
            import jsonschema

            try:
                jsonschema.validate(parsed, thaw(schema))
            except jsonschema.ValidationError as exc:
                return f"does not match the schema: {exc.message}"
            except Exception as exc:  # a schema that cannot be used (an unresolvable $ref)
                return f"the check's schema cannot be used: {exc}"
    return None


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
