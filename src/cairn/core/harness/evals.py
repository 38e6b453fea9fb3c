"""Eval cases: tasks in markdown under `evals/`, each with deterministic checks.

```markdown
---
description: A reply lands in the team's drafts
space: team
skill: draft-a-reply
checks:
  - file: spaces/team/drafts/*.md
    matches: "(?i)thursday"
  - tool_used: write_file
  - no_approval: true
  - max_cost_usd: 0.05
---
Draft a reply to Sam saying the launch review moves to Thursday.
```

The body is the request. A case passes when its task finishes and every check holds.
`split:` puts a case in the `train` set (its failures may be shown to the model that
proposes edits) or the `held-out` set (only the gate sees it); without one, the name
decides, so a suite splits the same way on every machine.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cairn.core.errors import CairnError
from cairn.core.workspace.diagnostics import Diagnostic, error
from cairn.core.workspace.documents import parse_document, thaw

EVALS_FOLDER = "evals"
Split = Literal["train", "held-out"]

CHECK_KINDS = (
    "file",
    "answer",
    "answer_not",
    "no_approval",
    "max_cost_usd",
    "max_tokens",
    "tool_used",
    "tool_not_used",
)
"""What a check may look at (docs/improving.md says what each holds for)."""
_FILE_OPTIONS = ("matches", "not_matches", "json", "schema", "exists")


class EvalError(CairnError):
    """An eval file that cannot be run as written; `loc` is where, in its frontmatter."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


CASE_KEYS = (
    "description",
    "space",
    "skill",
    "operator",
    "plan",
    "split",
    "connectors",
    "checks",
    "task",
)
"""The keys an eval file's frontmatter may have (`task:` is the request when the body is
empty)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One deterministic check: `kind` (one of `CHECK_KINDS`), its value and, for
    `file`, its options."""

    kind: str
    value: Any
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "file":
            extra = ", ".join(f"{k}: {v}" for k, v in self.options.items())
            return f"file {self.value}" + (f" ({extra})" if extra else "")
        return f"{self.kind}: {self.value}"

    def expected_texts(self) -> tuple[str, ...]:
        """The literal text a check looks for: an edit that writes it into the harness
        special-cases the eval (the critic looks for these)."""
        found: list[str] = []
        if self.kind in ("answer", "answer_not"):
            found.append(str(self.value))
        if self.kind == "file" and "matches" in self.options:
            found.append(str(self.options["matches"]))
        return tuple(t for text in found for t in _literals(text))


@dataclass(frozen=True, slots=True)
class EvalCase:
    name: str  # its path under evals/ without `.md`: `drafts/reply-to-sam`
    path: str  # workspace-relative
    request: str
    checks: tuple[Check, ...]
    split: Split
    description: str = ""
    space: str | None = None
    skill: str | None = None
    operator: str | None = None
    plan: Literal["auto", "always", "never"] = "never"
    connectors: bool = False  # offer agents.md's connectors (their tools really run)

    @property
    def suite(self) -> str:
        """The folder under evals/ it is in ("" at the top)."""
        return self.name.rpartition("/")[0]


def default_split(name: str) -> Split:
    """One case in three is held out, chosen by a hash of its name (stable everywhere)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return "held-out" if digest[0] % 3 == 0 else "train"


def parse_eval(path: str, raw: bytes) -> tuple[EvalCase | None, list[Diagnostic]]:
    """An eval file as a case, or None and what is wrong with it (never raises)."""
    doc, problems = parse_document(path, raw)
    if doc is None:
        return None, problems
    name = path.removeprefix(f"{EVALS_FOLDER}/").removesuffix(".md")
    data = dict(doc.frontmatter)
    request = doc.body.strip() or str(data.get("task") or "").strip()
    try:
        checks, split, plan = _settings(name, request, data)
    except EvalError as exc:
        line = doc.line_of(exc.loc) if exc.loc else 1
        fix = "see evals/README.md and docs/improving.md for the format"
        problems.append(error(path, "eval-invalid", str(exc), fix, line))
        return None, problems
    case = EvalCase(
        name=name,
        path=path,
        request=request,
        checks=checks,
        split=split,
        description=" ".join(str(data.get("description") or "").split()),
        space=_optional(data.get("space")),
        skill=_optional(data.get("skill")),
        operator=_optional(data.get("operator")),
        plan=plan,
        connectors=data.get("connectors") is True,
    )
    return case, problems


def _settings(
    name: str, request: str, data: Mapping[str, Any]
) -> tuple[tuple[Check, ...], Split, Any]:
    unknown = [k for k in data if k not in CASE_KEYS]
    if unknown:
        raise EvalError(
            f"unknown key {unknown[0]!r}{_did_you_mean(unknown[0], CASE_KEYS)}; an eval "
            f"file's keys are: {', '.join(CASE_KEYS)}",
            (unknown[0],),
        )
    if not request:
        raise EvalError("the file has no task: write the request below the frontmatter")
    for key in ("space", "skill", "operator", "description"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise EvalError(f"`{key}:` must be text", (key,))
    if "connectors" in data and not isinstance(data["connectors"], bool):
        raise EvalError("write `connectors: true` or `connectors: false`", ("connectors",))
    checks = tuple(_check(item, n) for n, item in enumerate(_list(data.get("checks")), 1))
    if not checks:
        raise EvalError("no checks: add at least one under `checks:`")
    split = data.get("split") or default_split(name)
    if split not in ("train", "held-out"):
        raise EvalError(f"split '{split}' is neither train nor held-out", ("split",))
    plan = data.get("plan", "never")
    if plan not in ("auto", "always", "never"):
        raise EvalError(f"plan '{plan}' is not auto, always or never", ("plan",))
    return checks, split, plan


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _optional(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _list(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise EvalError("`checks:` must be a list", ("checks",))
    return value


def _check(item: Any, number: int) -> Check:
    try:
        return _one_check(item, number)
    except EvalError as exc:
        raise EvalError(str(exc), ("checks", number - 1)) from None


def _one_check(item: Any, number: int) -> Check:
    if not isinstance(item, Mapping):
        raise EvalError(f"check {number} is not a mapping such as `- tool_used: write_file`")
    kinds = [k for k in item if k in CHECK_KINDS]
    if len(kinds) != 1:
        known = ", ".join(CHECK_KINDS)
        raise EvalError(f"check {number} must name exactly one of: {known}")
    kind = kinds[0]
    value = item[kind]
    options = {k: v for k, v in item.items() if k != kind}
    allowed = _FILE_OPTIONS if kind == "file" else ()
    unknown = [k for k in options if k not in allowed]
    if unknown:
        hint = _did_you_mean(str(unknown[0]), allowed) if allowed else ""
        raise EvalError(f"check {number} ({kind}): unknown key {unknown[0]!r}{hint}")
    patterns = [value] if kind in ("answer", "answer_not") else []
    if kind == "file":
        patterns += [options[k] for k in ("matches", "not_matches") if k in options]
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise EvalError(f"check {number}: a regular expression must be non-empty text")
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"check {number}: {pattern!r} is not a regular expression: {exc}"
            raise EvalError(message) from exc
    if kind in ("max_cost_usd", "max_tokens") and (
        isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    ):
        raise EvalError(f"check {number}: {kind} must be a number of at least 0")
    if kind == "no_approval" and value is not True:
        raise EvalError(f"check {number}: write `no_approval: true`")
    if kind in ("file", "tool_used", "tool_not_used") and (
        not isinstance(value, str) or not value.strip()
    ):
        raise EvalError(f"check {number}: {kind} needs a name")
    for flag in ("json", "exists"):
        if flag in options and not isinstance(options[flag], bool):
            raise EvalError(f"check {number}: write `{flag}: true` or `{flag}: false`")
    if options.get("exists") is False and len(options) > 1:
        raise EvalError(f"check {number}: `exists: false` cannot be combined with other options")
    if kind == "file":
        _glob(str(value), number)
        if "schema" in options:
            _schema(options["schema"], number)
    return Check(kind, value, options)


def _glob(pattern: str, number: int) -> None:
    """A `file:` glob must stay inside the workspace and be one Python can match."""
    parts = pattern.replace("\\", "/").split("/")
    if pattern.startswith(("/", "~")) or ".." in parts or not pattern.strip(" ./"):
        raise EvalError(f"check {number}: file {pattern!r} must be a path inside the workspace")
    if any("**" in part and part != "**" for part in parts):
        raise EvalError(f"check {number}: in {pattern!r}, ** must be a whole folder name")


def _schema(schema: Any, number: int) -> None:
    import jsonschema

    if not isinstance(schema, Mapping):
        raise EvalError(f"check {number}: schema must be a mapping (a JSON schema)")
    thawed = thaw(schema)
    try:
        jsonschema.validators.validator_for(thawed).check_schema(thawed)
    except jsonschema.SchemaError as exc:
        raise EvalError(f"check {number}: the schema is not valid: {exc.message}") from exc


_REGEX_META = re.compile(r"\\[dDsSwWbB]|[.^$*+?{}\[\]|()\\]")


def _literals(pattern: str) -> list[str]:
    """Runs of plain text of three or more characters inside a regular expression
    (`(?i)launch.*thursday` → `launch`, `thursday`; `\\bana\\b` → `ana`)."""
    text = re.sub(r"\(\?[a-zA-Z]+\)", " ", pattern)
    return [part.strip() for part in _REGEX_META.split(text) if len(part.strip()) >= 3]
