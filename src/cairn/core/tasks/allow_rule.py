""" "Always allow": a new `allow` rule in agents.md's `permissions:`, every other byte kept.

Rules are read top to bottom and the first match wins, so the new rule goes just before
the rule that decides the call today (at the end when none does, the call then being
`ask` by default): it changes that call's decision and nothing above it. Only new lines
are inserted, in the style of the neighbouring rule (`- {tool: …}` or a block mapping),
so the author's comments, quoting and order stay; the result is read back and must hold
exactly the old rules with the new one in place, or nothing is written.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from cairn.core.errors import CairnError
from cairn.core.tasks.approvals import check_permission
from cairn.core.tasks.tools import file_tools
from cairn.core.workspace.bounded_yaml import YamlLoader, YamlTooComplexError
from cairn.core.workspace.documents import (
    MAX_FILE_BYTES,
    compose_frontmatter,
    content_hash,
)
from cairn.core.workspace.edit import (
    EditError,
    frontmatter_span,
    parse_for_edit,
    update_frontmatter,
)
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import PermissionRule

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class AddedRule:
    file: str  # the policy file, workspace-relative
    index: int  # 0-based position of the new rule in `permissions:`
    rule: Mapping[str, str]

    def describe(self) -> str:
        where = f" on {self.rule['path']}" if "path" in self.rule else ""
        return f"rule {self.index + 1} of {self.file}: {self.rule['tool']}{where} → allow"


def allow_rule_for(tool: str, path: str | None) -> dict[str, str]:
    """The rule that lets this exact call through: its tool, and its path when it has one."""
    if path is not None and any(char in path for char in "*?"):
        # A rule's path is a glob: this path would widen into a pattern.
        raise EditError(f"{path} holds '*' or '?', which a rule would read as a wildcard")
    return {"tool": tool, **({"path": path} if path is not None else {}), "decision": "allow"}


def effect_of(tool: str) -> str:
    """What the gate calls the tool's action: `write` for tools that change files."""
    return next((t.effect for t in file_tools() if t.name == tool), "read")


def add_allow_rule(
    text: str, tool: str, path: str | None, *, comment: str | None = None
) -> tuple[str, int]:
    """`text` with an allow rule for (tool, path) before the rule that decides that call
    today; returns the new text and the new rule's 0-based index."""
    rule = allow_rule_for(tool, path)
    span = frontmatter_span(text)
    if span is None:
        return update_frontmatter(text, {"permissions": [rule]}), 0
    start, end = span
    fm = text[start:end]
    root, before = parse_for_edit(fm)
    if root is None or not isinstance(before, dict) or before.get("permissions") is None:
        return update_frontmatter(text, {"permissions": [rule]}), 0
    if not isinstance(root, yaml.MappingNode):
        raise EditError("the frontmatter is not a set of 'key: value' lines; fix the file first")
    current = before["permissions"]
    key_node, seq = next((k, v) for k, v in root.value if k.value == "permissions")
    if not isinstance(current, list) or not isinstance(seq, yaml.SequenceNode):
        raise EditError("'permissions:' is not a list of rules; fix it first (`cairn check`)")
    try:
        rules = [PermissionRule.model_validate(item) for item in current]
    except ValidationError as exc:
        raise EditError("'permissions:' holds a rule that is not valid; fix it first") from exc
    decided = check_permission(rules, tool, action=effect_of(tool), path=path).rule
    at = decided if decided is not None else len(rules)
    expected = copy.deepcopy(before)
    expected["permissions"].insert(at, rule)
    if seq.flow_style or not seq.value:
        # `permissions: [...]` on one line has no line to insert: rewrite that key only.
        return update_frontmatter(text, {"permissions": expected["permissions"]}), at
    new_fm = _insert(fm, key_node, seq, at, rule, comment, "\r\n" if "\r\n" in text else "\n")
    try:
        compose_frontmatter(new_fm)
        after = yaml.load(new_fm, Loader=YamlLoader)  # noqa: S506
    except (yaml.YAMLError, YamlTooComplexError) as exc:
        raise EditError(f"adding the rule would leave invalid YAML ({exc})") from exc
    if after != expected:
        raise EditError("the new lines would not read back as the rule alone")
    return text[:start] + new_fm + text[end:], at


def _insert(  # noqa: PLR0917 (one caller, the parts of one edit)
    fm: str,
    key_node: yaml.Node,
    seq: yaml.SequenceNode,
    at: int,
    rule: Mapping[str, str],
    comment: str | None,
    newline: str,
) -> str:
    lines = fm.splitlines(keepends=True)
    items = seq.value
    neighbour = items[at] if at < len(items) else items[-1]
    dash = fm.rfind("-", 0, neighbour.start_mark.index)
    column = dash - (fm.rfind("\n", 0, dash) + 1)
    if at < len(items):
        line = fm.count("\n", 0, dash)
        # Comment lines right above a rule describe it: the new rule goes above them.
        while line - 1 > key_node.start_mark.line and _is_comment(lines[line - 1], column):
            line -= 1
    else:
        line = _last_content_line(items[-1]) + 1
        # Comments indented under `permissions:` after the last rule belong to the list.
        while line < len(lines) and _is_comment(lines[line], key_node.start_mark.column + 1):
            line += 1
    pad = " " * column
    added = [f"{pad}# {' '.join(comment.split())}"] if comment else []
    if isinstance(neighbour, yaml.MappingNode) and neighbour.flow_style:
        flow = yaml.safe_dump(dict(rule), default_flow_style=True, sort_keys=False, width=10_000)
        added.append(f"{pad}- {flow.strip()}")
    else:
        block = yaml.safe_dump([dict(rule)], default_flow_style=False, sort_keys=False)
        added += [pad + text for text in block.splitlines()]
    if line == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    return "".join(lines[:line]) + "".join(a + newline for a in added) + "".join(lines[line:])


def _is_comment(line: str, min_indent: int) -> bool:
    stripped = line.lstrip(" \t")
    return stripped.startswith("#") and len(line) - len(stripped) >= min_indent


def _last_content_line(node: yaml.Node) -> int:
    """The last line (0-based) holding any of the node's text: a block collection's end
    mark can lie past the comments and blank lines that follow it."""
    last = node.start_mark.line
    stack = [node]
    while stack:
        current = stack.pop()
        flow = bool(getattr(current, "flow_style", False))
        if isinstance(current, yaml.ScalarNode) or flow:
            mark = current.end_mark
            last = max(last, mark.line if mark.column > 0 else mark.line - 1)
        elif isinstance(current, yaml.MappingNode):
            stack.extend(item for pair in current.value for item in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return int(last)


def always_allow(
    model: WorkspaceModel, tool: str, path: str | None, *, comment: str | None = None
) -> AddedRule:
    """Add the allow rule to the workspace's policy file through the model's safe writer
    (refused if the file changed meanwhile), so the running task sees it at once."""
    agents = model.workspace.agents
    if agents is None:
        raise CairnError("the workspace has no agents.md to hold the rule")
    raw = model.store.read(agents.path, MAX_FILE_BYTES)
    if len(raw) > MAX_FILE_BYTES:
        raise EditError(f"{agents.path} is too large to edit safely")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(f"{agents.path} is not UTF-8 text; re-save it as UTF-8") from exc
    bom = _BOM if text.startswith(_BOM) else ""
    edited, index = add_allow_rule(text.removeprefix(_BOM), tool, path, comment=comment)
    model.write(agents.path, bom + edited, base_hash=content_hash(raw))
    return AddedRule(agents.path, index, allow_rule_for(tool, path))
