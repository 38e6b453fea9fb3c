"""Turn one workspace file into one typed object plus diagnostics. Never raises for content."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from cairn.core.workspace.diagnostics import Diagnostic, error, info, warning
from cairn.core.workspace.documents import Document, content_hash, parse_document, thaw
from cairn.core.workspace.entities import Agents, Automation, Operator, Skill, Space
from cairn.core.workspace.schedule import ScheduleError, parse_schedule, validate_timezone
from cairn.core.workspace.schema import (
    NAME_PATTERN,
    NAME_RULE,
    AgentsPolicy,
    AutomationMeta,
    OperatorMeta,
    SkillMeta,
    SpaceMeta,
)

Kind = Literal["agents", "space", "skill", "operator", "automation", "resource"]
RESOURCE_FOLDERS = ("scripts", "references", "assets")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class FileRole:
    """What a workspace-relative path is in the model (see `classify`)."""

    kind: Kind
    name: str
    space: str | None = None
    owner: str | None = None  # for a skill resource: the path of its SKILL.md


Entity = Agents | Space | Skill | Operator | Automation


@dataclass(frozen=True, slots=True)
class ParsedFile:
    path: str
    role: FileRole
    content_hash: str | None
    entity: Entity | None
    diagnostics: tuple[Diagnostic, ...]
    document: Document | None = None  # kept to point cross-file problems at a line


def classify(path: str) -> FileRole | None:
    """The role of a file in the workspace model, or None for files the model ignores."""
    parts = path.split("/")
    if any(not p or p.startswith(".") for p in parts):
        return None
    if len(parts) == 1:
        return FileRole("agents", "agents") if parts[0] in ("agents.md", "AGENTS.md") else None
    space: str | None = None
    rest = parts
    if parts[0] == "spaces":
        if len(parts) < 3:
            return None
        space, rest = parts[1], parts[2:]
        if len(rest) == 1:
            return (
                FileRole("space", space, space) if rest[0] in ("readme.md", "README.md") else None
            )
    head = rest[0]
    if head == "skills":
        if len(rest) == 2 and rest[1].endswith(".md"):
            return FileRole("skill", rest[1][:-3], space)
        if len(rest) >= 3:
            folder = "/".join(parts[: len(parts) - len(rest) + 2])
            if len(rest) == 3 and rest[2] == "SKILL.md":
                return FileRole("skill", rest[1], space)
            return FileRole("resource", rest[1], space, owner=f"{folder}/SKILL.md")
    if head == "operators":
        if len(rest) == 2 and rest[1].endswith(".md"):
            return FileRole("operator", rest[1][:-3], space)
        if len(rest) == 3 and rest[2] == "OPERATOR.md":
            return FileRole("operator", rest[1], space)
    if head == "automations" and space is None and len(rest) == 2 and rest[1].endswith(".md"):
        return FileRole("automation", rest[1][:-3])
    return None


def may_hold_model_files(folder: str) -> bool:
    """Whether scanning `folder` can find files `classify` cares about (prunes note folders)."""
    parts = folder.split("/")
    if any(p.startswith(".") for p in parts):
        return False
    if parts[0] == "spaces":
        return len(parts) <= 2 or parts[2] in ("skills", "operators")
    return parts[0] in ("skills", "operators", "automations")


def parse_file(path: str, role: FileRole, raw: bytes) -> ParsedFile:
    """Parse one file according to its role."""
    doc, problems = parse_document(path, raw)
    entity: Entity | None = None
    if doc is not None:
        parser = _PARSERS[role.kind]
        entity = parser(doc, role, problems)
    digest = doc.content_hash if doc else content_hash(raw)
    return ParsedFile(path, role, digest, entity, tuple(problems), doc)


def unreadable(path: str, role: FileRole, reason: str) -> ParsedFile:
    problem = error(
        path,
        "unreadable",
        f"cannot read the file: {reason}",
        "check the file's permissions, or that it is not a link leading outside the workspace",
    )
    return ParsedFile(path, role, None, None, (problem,))


# --- validation helpers ------------------------------------------------------------------

_FIXES = {
    "missing": "add '{key}: ...' to the frontmatter",
    "string_type": "write text here (quote it if YAML reads it as a number, date or yes/no)",
    "literal_error": "use one of the allowed values listed",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "string_too_short": "write at least one character",
    "string_too_long": "shorten the text",
    "dict_type": "write nested 'key: value' lines here",
    "mapping_type": "write nested 'key: value' lines here",
    "model_type": "write nested 'key: value' lines here",
    "tuple_type": "write a list: [a, b] or one '- item' per line",
    "list_type": "write a list: [a, b] or one '- item' per line",
    "value_error": "see the message",
}


def _code(error_type: str) -> str:
    if error_type == "missing":
        return "missing-key"
    if error_type.endswith(("_type", "_parsing")):
        return "wrong-type"
    return "invalid-value"


def validate(
    schema: type[M], doc: Document, problems: list[Diagnostic], *, warn_unknown: bool = True
) -> M | None:
    """Validate the frontmatter; append diagnostics. None when it cannot be used."""
    try:
        meta = schema.model_validate(thaw(doc.frontmatter))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            where = ".".join(str(p) for p in loc) or "frontmatter"
            key = str(loc[-1]) if loc else "key"
            message = err["msg"]
            if err["type"] == "missing":
                message = "required key is missing"
            elif err["type"] == "value_error":
                message = message.removeprefix("Value error, ")
            problems.append(
                error(
                    doc.path,
                    _code(err["type"]),
                    f"'{where}': {message}",
                    _FIXES.get(err["type"], "correct the value").format(key=key),
                    doc.line_of(loc),
                )
            )
        return None
    if warn_unknown:
        _warn_unknown_keys(meta, (), doc, problems)
    return meta


def _warn_unknown_keys(
    model: BaseModel, loc: tuple[str | int, ...], doc: Document, problems: list[Diagnostic]
) -> None:
    known = [f.alias or n for n, f in type(model).model_fields.items()]
    for key in model.model_extra or {}:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(
            warning(
                doc.path,
                "unknown-key",
                f"unknown key '{'.'.join(map(str, (*loc, key)))}' (kept as written, not used)",
                f"{hint}remove it if it is a typo; known keys here: {', '.join(known)}",
                doc.line_of((*loc, key)),
            )
        )
    for name in type(model).model_fields:
        _warn_nested(getattr(model, name), (*loc, name), doc, problems)


def _warn_nested(
    value: object, loc: tuple[str | int, ...], doc: Document, problems: list[Diagnostic]
) -> None:
    if isinstance(value, BaseModel):
        _warn_unknown_keys(value, loc, doc, problems)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _warn_nested(item, (*loc, key), doc, problems)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            _warn_nested(item, (*loc, index), doc, problems)


def _check_name(
    doc: Document, name: str, expected: str, what: str, problems: list[Diagnostic]
) -> bool:
    if len(name) > 64 or not NAME_PATTERN.match(name):
        problems.append(
            error(
                doc.path,
                "invalid-name",
                f"{what} name '{name}' breaks the naming rule",
                f"use {NAME_RULE}",
                doc.line_of(("name",)),
            )
        )
        return False
    if name != expected:
        problems.append(
            error(
                doc.path,
                "name-mismatch",
                f"{what} name '{name}' does not match its file or folder name '{expected}'",
                f"set 'name: {expected}' or rename the file or folder to '{name}'",
                doc.line_of(("name",)),
            )
        )
        return False
    return True


# --- one parser per kind ---------------------------------------------------------------------


def _parse_agents(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Agents | None:
    policy = validate(AgentsPolicy, doc, problems)
    if policy is None:
        return None
    for role_name, models in policy.roles.items():
        for index, model in enumerate(models):
            if model not in policy.models:
                problems.append(
                    error(
                        doc.path,
                        "unknown-model",
                        f"role '{role_name}' lists model '{model}', which is not defined",
                        f"define '{model}' under 'models:' or remove it from the role; defined "
                        f"models: {', '.join(policy.models) or 'none'}",
                        doc.line_of(("roles", role_name, index)),
                    )
                )
    for kind, role_name in policy.routing.items():
        if role_name not in policy.roles:
            problems.append(
                error(
                    doc.path,
                    "unknown-role",
                    f"step kind '{kind}' is routed to role '{role_name}', which is not defined",
                    f"define '{role_name}' under 'roles:' or route '{kind}' to one of: "
                    f"{', '.join(policy.roles) or 'none defined'}",
                    doc.line_of(("routing", kind)),
                )
            )
    if not doc.body.strip():
        problems.append(
            warning(
                doc.path,
                "empty-instructions",
                "agents.md has no instructions in its body",
                "write who the agent is and how it should work below the frontmatter",
            )
        )
    return Agents(doc.path, policy, doc.body, doc.frontmatter, doc.content_hash)


def _parse_space(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Space | None:
    meta = validate(SpaceMeta, doc, problems)
    if meta is None:
        return None
    if not meta.description:
        problems.append(
            warning(
                doc.path,
                "missing-description",
                "space has no description",
                "add 'description: ...' saying what this space is for",
                doc.line_of(()),
            )
        )
    if meta.scope is None:
        problems.append(
            warning(
                doc.path,
                "missing-scope",
                "space has no scope; it is treated as private",
                "add 'scope: private', 'scope: team' or 'scope: company'",
                doc.line_of(()),
            )
        )
    return Space(
        role.name, doc.path, meta, doc.body, doc.sections(), doc.frontmatter, doc.content_hash
    )


def _parse_skill(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Skill | None:
    # Skills are a shared format: extra keys belong to other tools and are not warned about.
    meta = validate(SkillMeta, doc, problems, warn_unknown=False)
    if meta is None or not _check_name(doc, meta.name, role.name, "skill", problems):
        return None
    if meta.metadata and any(not isinstance(v, str) for v in meta.metadata.values()):
        problems.append(
            info(
                doc.path,
                "metadata-not-text",
                "Agent Skills 'metadata' values should be text; other tools may reject it",
                "quote the values under 'metadata:'",
                doc.line_of(("metadata",)),
            )
        )
    if not doc.body.strip():
        problems.append(
            warning(
                doc.path,
                "empty-skill",
                "skill has no instructions in its body",
                "write the procedure below the frontmatter",
            )
        )
    folder = doc.path.rsplit("/", 1)[0] if doc.path.endswith("/SKILL.md") else None
    return Skill(
        meta.name,
        doc.path,
        meta,
        doc.body,
        doc.frontmatter,
        doc.content_hash,
        space=role.space,
        folder=folder,
    )


def _parse_operator(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Operator | None:
    meta = validate(OperatorMeta, doc, problems)
    if meta is None:
        return None
    if not _check_name(doc, meta.name or role.name, role.name, "operator", problems):
        return None
    if not meta.when:
        problems.append(
            warning(
                doc.path,
                "missing-when",
                "operator does not say when to consult it",
                "add 'when: ...' describing the tasks this lens suits",
                doc.line_of(()),
            )
        )
    if not doc.body.strip():
        problems.append(
            error(
                doc.path,
                "empty-lens",
                "operator has no lens prompt in its body",
                "write how to review or work through this lens below the frontmatter",
            )
        )
        return None
    return Operator(
        role.name, doc.path, meta, doc.body, doc.frontmatter, doc.content_hash, space=role.space
    )


def _parse_automation(
    doc: Document, role: FileRole, problems: list[Diagnostic]
) -> Automation | None:
    meta = validate(AutomationMeta, doc, problems)
    if meta is None:
        return None
    try:
        schedule = parse_schedule(meta.schedule)
        validate_timezone(meta.timezone)
    except ScheduleError as exc:
        key = "timezone" if "timezone" in str(exc) else "schedule"
        problems.append(error(doc.path, f"invalid-{key}", str(exc), exc.fix, doc.line_of((key,))))
        return None
    if not NAME_PATTERN.match(role.name):
        problems.append(
            warning(
                doc.path,
                "invalid-name",
                f"automation name '{role.name}' breaks the naming rule",
                f"rename the file: {NAME_RULE}",
            )
        )
    if not doc.body.strip():
        problems.append(
            error(
                doc.path,
                "empty-instruction",
                "automation has no instruction in its body",
                "write what the run should do below the frontmatter",
            )
        )
        return None
    return Automation(
        role.name, doc.path, meta, schedule, doc.body, doc.frontmatter, doc.content_hash
    )


def _no_entity(doc: Document, role: FileRole, problems: list[Diagnostic]) -> None:
    return None


_PARSERS: dict[Kind, Any] = {
    "agents": _parse_agents,
    "space": _parse_space,
    "skill": _parse_skill,
    "operator": _parse_operator,
    "automation": _parse_automation,
    "resource": _no_entity,
}
