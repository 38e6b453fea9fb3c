"""Proposed edits to the harness: one small change to one file, tied to a weakness.

Two kinds, offered to the `improve` model as tools:
- `edit_file`: replace one exact passage of a skill, an operator or agents.md's
  instructions (its body, never its frontmatter) with new text;
- `change_setting`: set one value under agents.md's `harness:` (`harness.max_repeats`)
  or `routing:` (`routing.summarise`), through the byte-preserving frontmatter editor.

`apply_edit` turns a proposal into the file's new text, or says why it cannot; nothing
here writes a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from cairn.core.engine import ToolSpec
from cairn.core.errors import CairnError
from cairn.core.workspace.documents import parse_document
from cairn.core.workspace.edit import EditError, frontmatter_span
from cairn.core.workspace.edit_values import set_values
from cairn.core.workspace.layouts import POLICY_FILES
from cairn.core.workspace.schema import HARNESS_KEYS, AgentsPolicy

POLICY_FILE = "agents.md"
MAX_EDIT_CHARS = 1200
"""An edit adds at most this much text: proposals are small and targeted."""
PROTECTED_KINDS = frozenset({"sensitive", "approval", "memory", "improve"})
"""Step kinds whose routing no proposal may change: where private content goes, who
judges approvals, who writes memory, and who proposes the edits themselves."""


class ProposalError(CairnError):
    """A proposal that cannot be applied as written."""


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    pattern: str  # the weakness key it addresses (`loop`, `skill_unused:draft-a-reply`)
    why: str  # the model's reason, tied to the failure
    path: str  # the file it changes, workspace-relative
    find: str = ""  # edit_file: the exact passage replaced
    replace: str = ""  # edit_file: its new text
    setting: str = ""  # change_setting: `harness.KEY` or `routing.KIND`
    value: Any = None  # change_setting: the new value

    @property
    def summary(self) -> str:
        if self.setting:
            return f"set {self.setting} to {json.dumps(self.value)} in {self.path}"
        return f"edit {self.path}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proposal:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def proposal_id(pattern: str, path: str, *edit: Any) -> str:
    """A short id from the proposal's content: the same edit gets the same id."""
    text = json.dumps([pattern, path, *edit], default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


EDIT_FILE = ToolSpec(
    name="edit_file",
    description="Propose replacing one exact passage of a skill, operator or agents.md's "
    "instructions with better text. `find` must be copied exactly from the file.",
    parameters={
        "type": "object",
        "properties": {
            "file": {"type": "string", "description": "the file, e.g. skills/x/SKILL.md"},
            "find": {"type": "string", "description": "the exact text to replace"},
            "replace": {"type": "string", "description": "the new text"},
            "why": {"type": "string", "description": "which failure this fixes, and how"},
        },
        "required": ["file", "find", "replace", "why"],
    },
)
CHANGE_SETTING = ToolSpec(
    name="change_setting",
    description="Propose changing one setting in agents.md: harness.max_steps, "
    "harness.max_model_calls, harness.max_repeats, harness.max_failures, "
    "harness.tool_output_share, harness.plan_steps, harness.recall_tokens, "
    "harness.answer_after_guard, or routing.KIND (a role name; not the sensitive, "
    "approval, memory or improve kinds).",
    parameters={
        "type": "object",
        "properties": {
            "setting": {"type": "string", "description": "e.g. harness.max_repeats"},
            "value": {"type": ["integer", "number", "boolean", "string"]},
            "why": {"type": "string", "description": "which failure this fixes, and how"},
        },
        "required": ["setting", "value", "why"],
    },
)
PROPOSAL_TOOLS = (EDIT_FILE, CHANGE_SETTING)


def is_policy(path: str) -> bool:
    """Whether `path` is a runtime policy file (agents.md, or cairn.md / AGENTS.md)."""
    return path in POLICY_FILES


def from_tool_call(
    pattern: str, name: str, arguments: Mapping[str, Any], policy_path: str = POLICY_FILE
) -> Proposal:
    """A proposal from the `improve` model's tool call (its arguments as given)."""
    why = str(arguments.get("why") or "").strip()
    if name == "edit_file":
        path = _clean_path(str(arguments.get("file") or ""))
        find, replace = str(arguments.get("find") or ""), str(arguments.get("replace") or "")
        ident = proposal_id(pattern, path, find, replace, "", None)
        return Proposal(ident, pattern, why, path, find=find, replace=replace)
    if name == "change_setting":
        setting = str(arguments.get("setting") or "").strip()
        value = arguments.get("value")
        ident = proposal_id(pattern, policy_path, "", "", setting, value)
        return Proposal(ident, pattern, why, policy_path, setting=setting, value=value)
    raise ProposalError(f"'{name}' is not a proposal tool")


def _clean_path(raw: str) -> str:
    """A workspace-relative path as the workspace names it (`./a//b` → `a/b`); a path
    that could leave the workspace is kept as written, for the critic to refuse."""
    from cairn.core.errors import PathOutsideWorkspaceError
    from cairn.core.workspace.names import path_parts

    try:
        return "/".join(path_parts(raw.strip()))
    except PathOutsideWorkspaceError:
        return raw.strip()


def apply_edit(text: str, proposal: Proposal) -> str:
    """The file's text with the proposal applied; every other byte as it was."""
    try:
        if proposal.setting:
            return _apply_setting(text, proposal)
        return _apply_text(text, proposal)
    except EditError as exc:  # the file itself is broken (an unclosed frontmatter)
        raise ProposalError(f"{proposal.path} cannot be edited safely: {exc}") from exc


def _apply_text(text: str, proposal: Proposal) -> str:
    find, replace = proposal.find, proposal.replace
    if "\r\n" in text and "\r\n" not in find:
        # A model copies the passage with plain line ends; the file has CRLF.
        find, replace = find.replace("\n", "\r\n"), replace.replace("\n", "\r\n")
    if not find:
        raise ProposalError("the edit names no passage to replace")
    if find == replace:
        raise ProposalError("the edit changes nothing")
    if len(replace) > len(find) + MAX_EDIT_CHARS:
        raise ProposalError(f"the edit adds more than {MAX_EDIT_CHARS} characters")
    count = text.count(find)
    if count != 1:
        where = "does not occur" if count == 0 else f"occurs {count} times"
        raise ProposalError(f"the passage to replace {where} in {proposal.path}")
    start = text.index(find)
    new = text[:start] + replace + text[start + len(find) :]
    if _settings_block(new) != _settings_block(text):
        # A file's frontmatter holds what the loop must not edit for itself: a skill's
        # routing, an operator's `sensitive:`, agents.md's permissions and budgets.
        raise ProposalError(
            "edits may change instructions only, never a file's frontmatter; harness and "
            "routing values go through change_setting"
        )
    _still_parses(proposal.path, new)
    return new


def _settings_block(text: str) -> str:
    """The frontmatter with its `---` lines ("" for a file without one)."""
    span = frontmatter_span(text)
    if span is None:
        return ""
    end = text.find("\n", span[1])
    return text[: len(text) if end < 0 else end + 1]


def _apply_setting(text: str, proposal: Proposal) -> str:
    section, _, key = proposal.setting.partition(".")
    if not is_policy(proposal.path):
        raise ProposalError("settings live in agents.md")
    if section == "harness" and key not in HARNESS_KEYS:
        raise ProposalError(f"'{key}' is not a harness setting ({', '.join(HARNESS_KEYS)})")
    if section not in ("harness", "routing") or not key:
        raise ProposalError(
            f"'{proposal.setting}': only harness.KEY and routing.KIND settings may change"
        )
    try:
        new = set_values(text, {(section, key): proposal.value})
    except EditError as exc:
        raise ProposalError(f"cannot set {proposal.setting}: {exc}") from exc
    policy = _policy(new)
    if section == "routing" and key in PROTECTED_KINDS:
        raise ProposalError(f"routing.{key} is not the harness's to change")
    if section == "routing" and str(proposal.value) not in policy.roles:
        raise ProposalError(f"routing.{key}: '{proposal.value}' is not a role in agents.md")
    if new == text:
        raise ProposalError(f"{proposal.setting} is already {proposal.value}")
    return new


def _policy(text: str) -> AgentsPolicy:
    doc, problems = parse_document(POLICY_FILE, text.encode("utf-8"))
    if doc is None:
        raise ProposalError("agents.md would no longer parse: " + problems[0].message)
    try:
        return AgentsPolicy.model_validate(dict(doc.frontmatter))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        said = str(error["msg"]).removeprefix("Value error, ")
        raise ProposalError(f"agents.md would not be valid: {where}: {said}") from exc


def _still_parses(path: str, text: str) -> None:
    doc, problems = parse_document(path, text.encode("utf-8"))
    if doc is None:
        raise ProposalError(f"{path} would no longer parse: {problems[0].message}")
    if is_policy(path):
        _policy(text)
