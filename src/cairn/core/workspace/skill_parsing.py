"""Skills, Claude Code commands and operators: shared formats, read the way other tools write them.

Published skills and operators often differ from Cairn's own format: no frontmatter at all
(OpenClaw), a description past the spec's 1,024 characters, a display name instead of a
name ("Brand Critic"), a name that differs from the folder, keys of their own. Each loads,
with a warning that says what differs and how to make it exact (`cairn check --strict`
reports those as errors), and with the values Cairn worked out listed in `inferred`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cairn.core.workspace.diagnostics import Diagnostic, compat, error, info, warning
from cairn.core.workspace.documents import Document, thaw
from cairn.core.workspace.entities import Operator, Skill
from cairn.core.workspace.layouts import FileRole, Layout
from cairn.core.workspace.schema import (
    COMPATIBILITY_LIMIT,
    DESCRIPTION_LIMIT,
    OperatorMeta,
    SkillMeta,
)
from cairn.core.workspace.validation import cairn_name, validate

REBEL_OPERATOR_KEYS = frozenset(
    {
        "consult_when",
        "kind",
        "roles",
        "use_cases",
        "proactive_interval_minutes",
        "live_prompt",
        "consultation_prompt",
        "display_name",
        "extends",
    }
)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def first_paragraph(body: str, limit: int = DESCRIPTION_LIMIT) -> str | None:
    """The first paragraph of prose in `body` (else its first heading), cut to `limit`."""
    heading: str | None = None
    lines: list[str] = []
    in_fence = False
    for line in _COMMENT.sub("", body).splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        found = _HEADING.match(line)
        if found:
            if lines:
                break
            heading = heading or found.group(1).strip() or None
            continue
        if not stripped:
            if lines:
                break
            continue
        lines.append(stripped)
    text = " ".join(lines) or heading
    if not text:
        return None
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return text


def parse_skill(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Skill | None:
    """`SKILL.md`, a single-file skill, or a Claude Code command (`role.kind == "command"`)."""
    data: dict[str, Any] = dict(thaw(doc.frontmatter))
    inferred: list[str] = []
    what = "command" if role.kind == "command" else "skill"
    name, title = _name(doc, role, data, what, problems)
    if not name:
        return None
    if "name" not in data and role.kind != "command":  # a command is named by its file
        inferred.append("name")
    data["name"] = name
    described = data.get("description")
    if not isinstance(described, str) or not described.strip():
        found = first_paragraph(doc.body)
        if found is None:
            problems.append(
                error(
                    doc.path,
                    "missing-description",
                    f"{what} has no description and no text to take one from",
                    "add 'description: ...' saying when to use it",
                    doc.line_of(()),
                )
            )
            return None
        data["description"] = found
        inferred.append("description")
    if role.kind != "command":
        _report_inferred(doc, name, inferred, problems)
    meta = validate(
        SkillMeta,
        doc,
        problems,
        warn_unknown=False,  # a shared format: other tools' keys are theirs, kept as written
        data=data,
        required=("name", "description"),
    )
    if meta is None:
        return None
    _check_lengths(doc, meta, problems)
    # OpenClaw keeps a JSON object under metadata.openclaw (and its older names): the advice
    # to quote the values would break it there.
    foreign = {"openclaw", "clawdbot", "clawdis"}
    if meta.metadata and any(
        not isinstance(v, str) and k not in foreign for k, v in meta.metadata.items()
    ):
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
                f"{what} has no instructions in its body",
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
        layout=role.layout,
        inferred=tuple(inferred),
        title=title,
    )


def parse_operator(doc: Document, role: FileRole, problems: list[Diagnostic]) -> Operator | None:
    """A Cairn operator, a Rebel `OPERATOR.md` or a Claude Code subagent."""
    data: dict[str, Any] = dict(thaw(doc.frontmatter))
    layout: Layout = role.layout
    if layout == "cairn" and REBEL_OPERATOR_KEYS & data.keys():
        layout = "rebel"
    inferred: list[str] = []
    name = cairn_name(role.name)
    if not name:
        problems.append(_unnamable(doc, role.name, "operator"))
        return None
    given = data.get("display_name") or data.get("name")
    title = str(given) if given is not None and str(given) != name else None
    if title is not None and cairn_name(title) == title and "display_name" not in data:
        # A Cairn name that differs from the file: the declared one wins, as for skills.
        problems.append(
            compat(
                doc.path,
                "name-mismatch",
                f"operator name '{title}' does not match its file or folder name "
                f"'{role.name}'; Cairn calls it '{title}'",
                f"rename the file or folder to '{title}' (or set 'name: {name}')",
                doc.line_of(("name",)),
            )
        )
        name, title = title, None
    elif title is not None:
        # A display name ("Brand Critic") is Rebel's way; the file or folder names it here.
        problems.append(
            compat(
                doc.path,
                "display-name",
                f"operator name '{title}' is a display name; Cairn calls it '{name}' after "
                "its file or folder",
                f"set 'name: {name}' for Cairn's format (the display name can stay in a "
                "comment or the body)",
                doc.line_of(("name",)),
            )
        )
    elif name != role.name:
        problems.append(_renamed(doc, role.name, name, "operator"))
    data.pop("name", None)
    when = data.get("consult_when")
    if "when" not in data and when:
        data["when"] = "; ".join(map(str, when)) if isinstance(when, list | tuple) else str(when)
    lens = doc.body
    for key in ("consultation_prompt", "live_prompt"):
        if not lens.strip() and isinstance(data.get(key), str):
            lens = str(data[key])  # Rebel's live coaches keep the prompt here
    described = data.get("description")
    if not isinstance(described, str) or not described.strip():
        found = first_paragraph(lens)
        if found is None:
            problems.append(
                error(
                    doc.path,
                    "empty-lens",
                    "operator has no lens prompt and no description",
                    "write how to review or work through this lens below the frontmatter",
                )
            )
            return None
        data["description"] = found
        inferred.append("description")
        problems.append(
            compat(
                doc.path,
                "inferred",
                "operator has no 'description:'; its first paragraph is used",
                "add 'description: ...' to the frontmatter",
                doc.line_of(()),
            )
        )
    meta = validate(
        OperatorMeta,
        doc,
        problems,
        warn_unknown=layout == "cairn",
        data=data,
        required=("description",) if layout == "cairn" else ("description", "name"),
    )
    if meta is None:
        return None
    if not meta.when and layout == "cairn":
        problems.append(
            warning(
                doc.path,
                "missing-when",
                "operator does not say when to consult it",
                "add 'when: ...' describing the tasks this lens suits",
                doc.line_of(()),
            )
        )
    if not lens.strip():
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
        name,
        doc.path,
        meta,
        lens,
        doc.frontmatter,
        doc.content_hash,
        space=role.space,
        layout=layout,
        inferred=tuple(inferred),
        title=title,
    )


# --- names and limits ------------------------------------------------------------------------


def _name(
    doc: Document, role: FileRole, data: Mapping[str, Any], what: str, problems: list[Diagnostic]
) -> tuple[str, str | None]:
    """(the name Cairn uses, the name as written when that differs), or ('', None).

    A valid declared name is used even when the folder is named otherwise (other tools go
    by it); else the folder's name, made into a Cairn name if it is not one."""
    folder_name = cairn_name(role.name)
    given = data.get("name")
    declared = str(given).strip() if isinstance(given, str | int) and str(given).strip() else None
    if declared is not None and cairn_name(declared) == declared:
        if declared != role.name:
            problems.append(
                compat(
                    doc.path,
                    "name-mismatch",
                    f"{what} name '{declared}' does not match its file or folder name "
                    f"'{role.name}'; Cairn calls it '{declared}'",
                    f"rename the file or folder to '{declared}'"
                    + (f" (or set 'name: {folder_name}')" if folder_name != declared else ""),
                    doc.line_of(("name",)),
                )
            )
        return declared, None
    if not folder_name:
        problems.append(_unnamable(doc, role.name, what))
        return "", None
    if declared is not None:
        problems.append(
            compat(
                doc.path,
                "invalid-name",
                f"{what} name '{declared}' is not a Cairn name; Cairn calls it '{folder_name}'",
                f"set 'name: {folder_name}' (lowercase letters, digits and single hyphens)",
                doc.line_of(("name",)),
            )
        )
        return folder_name, declared
    if folder_name != role.name:
        problems.append(_renamed(doc, role.name, folder_name, what))
    return folder_name, None


def _renamed(doc: Document, written: str, name: str, what: str) -> Diagnostic:
    return compat(
        doc.path,
        "invalid-name",
        f"{what} folder or file name '{written}' is not a Cairn name; Cairn calls it '{name}'",
        f"rename it to '{name}' (lowercase letters, digits and single hyphens)",
    )


def _unnamable(doc: Document, written: str, what: str) -> Diagnostic:
    return error(
        doc.path,
        "invalid-name",
        f"{what} '{written}' has no name Cairn can use",
        "rename the file or folder with lowercase letters, digits and single hyphens",
    )


def _report_inferred(
    doc: Document, name: str, inferred: list[str], problems: list[Diagnostic]
) -> None:
    if not inferred:
        return
    if not doc.has_frontmatter:
        problems.append(
            compat(
                doc.path,
                "no-frontmatter",
                "SKILL.md has no frontmatter: the name comes from its folder and the "
                "description from its first paragraph",
                f"add frontmatter with 'name: {name}' and a 'description:'",
                1,
            )
        )
        return
    problems.append(
        compat(
            doc.path,
            "inferred",
            f"no {' or '.join(repr(k) for k in inferred)} in the frontmatter; "
            f"{'the folder name' if 'name' in inferred else 'the first paragraph'} is used",
            f"add {' and '.join(f'{k}: ...' for k in inferred)} to the frontmatter",
            doc.line_of(()),
        )
    )


def _check_lengths(doc: Document, meta: SkillMeta, problems: list[Diagnostic]) -> None:
    if len(meta.description) > DESCRIPTION_LIMIT:
        problems.append(
            compat(
                doc.path,
                "long-description",
                f"description is {len(meta.description):,} characters; the Agent Skills "
                f"limit is {DESCRIPTION_LIMIT:,} (Cairn lists its first {DESCRIPTION_LIMIT:,})",
                "shorten it and move the detail into the body",
                doc.line_of(("description",)),
            )
        )
    if meta.compatibility and len(meta.compatibility) > COMPATIBILITY_LIMIT:
        problems.append(
            compat(
                doc.path,
                "long-compatibility",
                f"compatibility is {len(meta.compatibility):,} characters; the limit is "
                f"{COMPATIBILITY_LIMIT}",
                "shorten it",
                doc.line_of(("compatibility",)),
            )
        )
