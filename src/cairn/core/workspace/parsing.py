"""Turn one workspace file into one typed object plus diagnostics. Never raises for content."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cairn.core.workspace.diagnostics import Diagnostic, compat, error, warning
from cairn.core.workspace.documents import Document, content_hash, parse_document, thaw
from cairn.core.workspace.entities import Agents, Automation, Layer, Operator, Skill, Space
from cairn.core.workspace.layouts import FileRole, Kind, space_name
from cairn.core.workspace.schedule import ScheduleError, parse_schedule, validate_timezone
from cairn.core.workspace.schema import (
    NAME_PATTERN,
    NAME_RULE,
    AgentsPolicy,
    AutomationMeta,
    SpaceMeta,
)
from cairn.core.workspace.skill_parsing import parse_operator, parse_skill
from cairn.core.workspace.validation import cairn_name, validate

Entity = Agents | Layer | Space | Skill | Operator | Automation


@dataclass(frozen=True, slots=True)
class ParsedFile:
    path: str
    role: FileRole
    content_hash: str | None
    entity: Entity | None
    diagnostics: tuple[Diagnostic, ...]
    document: Document | None = None  # kept to point cross-file problems at a line


REBEL_SPACE_KEY = "rebel_space_description"


def parse_file(path: str, role: FileRole, raw: bytes) -> ParsedFile:
    """Parse one file according to its role."""
    if role.kind == "space" and role.layout == "rebel" and REBEL_SPACE_KEY.encode() not in raw:
        # Any README.md may be a Rebel space; one that does not say so is a note, left
        # alone quietly (not parsed: it may be large, binary, or not markdown at all).
        return ParsedFile(path, role, content_hash(raw), None, ())
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


# --- one parser per kind ---------------------------------------------------------------------


_SECRET_NAME = re.compile(r"token|secret|key|password|passwd|auth|credential", re.IGNORECASE)


def _connector_secrets(policy: AgentsPolicy, doc: Document, problems: list[Diagnostic]) -> None:
    """A connector's env or header whose name says secret, written in the file as text:
    agents.md is shared and versioned, the keychain is not."""
    for name, spec in policy.connectors.items():
        for section, values in (("env", spec.env), ("headers", spec.headers)):
            for key, value in values.items():
                if isinstance(value, str) and value and _SECRET_NAME.search(key):
                    problems.append(
                        warning(
                            doc.path,
                            "secret-in-file",
                            f"connectors.{name}.{section}.{key} looks like a secret written "
                            "in agents.md",
                            f"store it with `cairn keys set {name}-{key.lower()}` and write "
                            f"`{key}: {{keychain: {name}-{key.lower()}}}` instead",
                            doc.line_of(("connectors", name, section, key)),
                        )
                    )


def _parse_agents(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Agents | None:
    policy = validate(AgentsPolicy, doc, problems)
    if policy is None:
        return None
    _connector_secrets(policy, doc, problems)
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
    # An empty body is fine when instruction layers (AGENTS.md, CLAUDE.md) say it all:
    # the assembly warns when there are no instructions at all.
    return Agents(doc.path, policy, doc.body, doc.frontmatter, doc.content_hash)


def _parse_layer(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Layer | None:
    # Another tool's instruction file: its body is used as written, its frontmatter kept.
    return Layer(doc.path, doc.body, doc.frontmatter, doc.content_hash, role.layout)


def _parse_space(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Space | None:
    if role.layout == "rebel":
        return _parse_rebel_space(doc, role, problems)
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
        role.name,
        doc.path,
        meta,
        doc.body,
        doc.sections(),
        doc.frontmatter,
        doc.content_hash,
        folder=role.base or "",
    )


# Rebel's `sharing` label, read as a Cairn scope; anything else (or none) is private.
_REBEL_SCOPES = {
    "private": "private",
    "team": "team",
    "company-wide": "company",
    "public": "company",
}


def _parse_rebel_space(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Space | None:
    """A folder whose README.md has `rebel_space_description`; any other README is a note."""
    fm = thaw(doc.frontmatter)
    if REBEL_SPACE_KEY not in fm or role.base is None:
        return None
    sharing = str(fm.get("sharing") or "").strip().lower()
    scope = _REBEL_SCOPES.get(sharing, "private")
    if fm.get("space_type") in ("chief-of-staff", "personal"):
        scope = "private"
    data: dict[str, Any] = {
        "description": str(fm.get(REBEL_SPACE_KEY) or "") or None,
        "scope": scope,
        "sensitive": str(fm.get("sensitivity") or "").lower() in ("confidential", "restricted"),
    }
    if sharing not in _REBEL_SCOPES:
        problems.append(
            compat(
                doc.path,
                "inferred",
                f"Rebel space with sharing '{sharing or 'unset'}': Cairn treats it as private",
                "set 'sharing: private', 'team' or 'company-wide' (Cairn: 'scope:')",
                doc.line_of(("sharing",)),
            )
        )
    meta = validate(SpaceMeta, doc, problems, warn_unknown=False, data=data, required=())
    if meta is None:
        return None
    title = fm.get("display_name")
    return Space(
        space_name(role.base),
        doc.path,
        meta,
        doc.body,
        doc.sections(),
        doc.frontmatter,
        doc.content_hash,
        layout="rebel",
        folder=role.base,
        title=str(title) if title else role.base,
    )


def _parse_automation(
    doc: Document, role: FileRole, problems: list[Diagnostic]
) -> Automation | None:
    if role.layout == "openclaw":
        return _parse_heartbeat(doc, role, problems)
    data: dict[str, Any] = dict(thaw(doc.frontmatter))
    inferred: list[str] = []
    name = cairn_name(role.name)
    if role.layout == "rebel":
        # Rebel keeps schedules in its app, not in AUTOMATION.md: off until one is written.
        data.pop("name", None)
        if "schedule" not in data:
            data["schedule"] = "0 9 * * *"  # a placeholder: the automation stays off
            data["enabled"] = False
            inferred.append("schedule")
            problems.append(
                compat(
                    doc.path,
                    "inferred",
                    "Rebel keeps this automation's schedule in its app, so it is off in Cairn",
                    "add 'schedule: ...' (a cron line such as '30 7 * * *', or 'every 2 hours') "
                    "to run it from Cairn",
                    doc.line_of(()),
                )
            )
        in_space = role.space or (space_name(role.base) if role.base else None)
        data.setdefault("space", in_space)
    meta = validate(AutomationMeta, doc, problems, warn_unknown=role.layout == "cairn", data=data)
    if meta is None:
        return None
    if role.layout == "cairn" and meta.space is None:
        problems.append(
            error(
                doc.path,
                "missing-key",
                "'space': required key is missing",
                "add 'space: ...' naming the space the automation runs in",
                doc.line_of(()),
            )
        )
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
        name or role.name,
        doc.path,
        meta,
        schedule,
        doc.body,
        doc.frontmatter,
        doc.content_hash,
        layout=role.layout,
        inferred=tuple(inferred),
    )


HEARTBEAT_EVERY = "every 30 minutes"  # OpenClaw's default heartbeat interval
_EMPTY_ITEM = re.compile(r"^\s*(?:[-*+]\s*(?:\[\s?\]\s*)?)?$")
_HEADING_LINE = re.compile(r"^\s{0,3}#")


def heartbeat_is_empty(body: str) -> bool:
    """OpenClaw skips a heartbeat whose checklist is headings, comments and empty items only."""
    text = re.sub(r"<!--.*?-->", "", body, flags=re.DOTALL)
    return all(_EMPTY_ITEM.match(line) or _HEADING_LINE.match(line) for line in text.splitlines())


def _parse_heartbeat(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Automation:
    """OpenClaw's `HEARTBEAT.md`: a checklist the agent works through every 30 minutes."""
    data: dict[str, Any] = dict(thaw(doc.frontmatter))
    inferred = ["schedule"] if "schedule" not in data else []
    data.setdefault("schedule", HEARTBEAT_EVERY)
    data.setdefault("description", "OpenClaw heartbeat: the checklist in HEARTBEAT.md")
    empty = heartbeat_is_empty(doc.body)
    if empty:
        data["enabled"] = False
    meta = validate(AutomationMeta, doc, problems, warn_unknown=False, data=data, required=())
    if meta is None or meta.schedule != data["schedule"]:
        meta = AutomationMeta(schedule=HEARTBEAT_EVERY, enabled=not empty)
    try:
        schedule = parse_schedule(meta.schedule)
    except ScheduleError as exc:
        problems.append(error(doc.path, "invalid-schedule", str(exc), exc.fix, 1))
        meta = AutomationMeta(schedule=HEARTBEAT_EVERY, enabled=not empty)
        schedule = parse_schedule(HEARTBEAT_EVERY)
    try:
        validate_timezone(meta.timezone)
    except ScheduleError as exc:
        where = doc.line_of(("timezone",))
        problems.append(error(doc.path, "invalid-timezone", str(exc), exc.fix, where))
        meta = meta.model_copy(update={"timezone": "local"})
    return Automation(
        "heartbeat",
        doc.path,
        meta,
        schedule,
        doc.body,
        doc.frontmatter,
        doc.content_hash,
        layout="openclaw",
        inferred=tuple(inferred),
    )


def _no_entity(doc: Document, role: FileRole, problems: list[Diagnostic]) -> None:
    return None


_PARSERS: dict[Kind, Any] = {
    "agents": _parse_agents,
    "layer": _parse_layer,
    "space": _parse_space,
    "skill": parse_skill,
    "command": parse_skill,
    "operator": parse_operator,
    "automation": _parse_automation,
    "resource": _no_entity,
}
