"""Set or remove single values deep inside a frontmatter, touching only their own text.

`update_frontmatter` rewrites a top-level key whole, which drops the comments inside its
value (`# warn when 80% of any budget is used` under `budgets:`). A settings form changes
one limit or one role, so this edits at that depth: a changed value's text is replaced
where it stands (in its flow `{...}` or on its block line), a removed key's text goes
(with its comma or its lines), and a new key is added beside its siblings in their style.
Every other byte stays. The result is read back and must hold exactly the old data with
the changes applied, or `EditError` is raised and nothing is returned.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from cairn.core.workspace.edit import (
    EditError,
    frontmatter_span,
    parse_for_edit,
    update_frontmatter,
)

KeyPath = tuple[str, ...]


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


REMOVE: Any = _Remove()
"""A change's value that removes the key instead of setting it."""


def frontmatter_data(text: str) -> dict[str, Any]:
    """The frontmatter as plain data ({} when there is none); invalid YAML is an EditError."""
    span = frontmatter_span(text)
    if span is None:
        return {}
    _, data = parse_for_edit(text[span[0] : span[1]])
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EditError("the frontmatter is not a set of 'key: value' lines; fix the file first")
    return data


def set_values(text: str, changes: Mapping[KeyPath, Any]) -> str:
    """`text` with each `path -> value` set (or removed, for `REMOVE`), all else kept."""
    expected = copy.deepcopy(frontmatter_data(text))
    for path, value in changes.items():
        if not path:
            raise EditError("a change needs a key")
        _apply(expected, path, value)
        text = _set_one(text, path, value)
    if frontmatter_data(text) != expected:
        raise EditError("the edit would not read back as the values asked for; nothing changed")
    return text


def _apply(data: dict[str, Any], path: KeyPath, value: Any) -> None:
    for key in path[:-1]:
        child = data.get(key)
        if not isinstance(child, dict):
            if value is REMOVE:
                return
            child = data[key] = {}
        data = child
    if value is REMOVE:
        data.pop(path[-1], None)
    else:
        data[path[-1]] = copy.deepcopy(value)


def _set_one(text: str, path: KeyPath, value: Any) -> str:
    span = frontmatter_span(text)
    if span is None:
        return (
            text if value is REMOVE else update_frontmatter(text, {path[0]: _nest(path[1:], value)})
        )
    start, end = span
    fm = text[start:end]
    node, _ = parse_for_edit(fm)
    if node is None or path[0] not in _keys(node):
        if value is REMOVE:
            return text
        return update_frontmatter(text, {path[0]: _nest(path[1:], value)})
    newline = "\r\n" if "\r\n" in text else "\n"
    parent: yaml.Node = node
    for depth, key in enumerate(path):
        if not isinstance(parent, yaml.MappingNode):
            where = ".".join(path[:depth])
            raise EditError(f"'{where}' is not a set of 'key: value' lines; fix it first")
        pair = next(((k, v) for k, v in parent.value if k.value == key), None)
        if pair is None:
            if value is REMOVE:
                return text
            added = _insert(fm, parent, key, _nest(path[depth + 1 :], value), newline)
            return text[:start] + added + text[end:]
        if depth == len(path) - 1:
            if value is REMOVE:
                edited = _remove(fm, parent, pair)
            else:
                edited = _replace(fm, pair[1], value, newline)
            return text[:start] + edited + text[end:]
        parent = pair[1]
    raise AssertionError("unreachable")


def _keys(node: yaml.Node) -> set[str]:
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {str(k.value) for k, _ in node.value}


def _nest(rest: KeyPath, value: Any) -> Any:
    for key in reversed(rest):
        value = {key: value}
    return value


def inline(value: Any) -> str:
    """`value` as YAML on one line: `0.5`, `worker`, `[a, b]`, `{tokens: 10}`."""
    dumped = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=1_000_000, sort_keys=False
    )
    return dumped.rstrip("\n").removesuffix("\n...").strip()


def _end(node: yaml.Node) -> int:
    """Where the node's own text ends: after its last scalar or closing bracket (a block
    collection's end mark lies on the next key's line, past comments and blank lines)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    last = int(node.start_mark.index)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [item for pair in node.value for item in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        last = max(last, _end(child))
    return last


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """Just past the line break ending the line that holds `index` (or the text's end)."""
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def _block(value: Any, column: int, newline: str) -> str:
    """A collection in block style whose first line starts where the old value did."""
    dumped = yaml.safe_dump(
        value, default_flow_style=False, allow_unicode=True, width=1_000_000, sort_keys=False
    )
    lines = dumped.rstrip("\n").split("\n")
    return (newline + " " * column).join(lines)


def _replace(fm: str, node: yaml.Node, value: Any, newline: str) -> str:
    start = int(node.start_mark.index)
    block = isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style
    if block and isinstance(value, Mapping | list | tuple) and value:
        text = _block(
            list(value) if isinstance(value, tuple) else value, node.start_mark.column, newline
        )
    elif isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null") and start == _end(node):
        text = " " + inline(value)  # `key:` with nothing after it
    else:
        text = inline(list(value) if isinstance(value, tuple) else value)
    return fm[:start] + text + fm[_end(node) :]


def _remove(fm: str, mapping: yaml.MappingNode, pair: tuple[yaml.Node, yaml.Node]) -> str:
    pairs = list(mapping.value)
    index = pairs.index(pair)
    key, value = pair
    if mapping.flow_style:
        if index > 0:  # ", key: value" after the previous value
            return fm[: _end(pairs[index - 1][1])] + fm[_end(value) :]
        if len(pairs) > 1:  # "key: value, " up to the next key
            return fm[: key.start_mark.index] + fm[pairs[1][0].start_mark.index :]
        return fm[: key.start_mark.index] + fm[_end(value) :]
    if len(pairs) == 1:
        # The last key of a block mapping: `{}` keeps its parent a mapping, not null.
        # Its line's comment described what is gone, so it goes too.
        start = _line_start(fm, key.start_mark.index)
        end = _line_end(fm, _end(value))
        brk = "\r\n" if fm[:end].endswith("\r\n") else "\n" if fm[:end].endswith("\n") else ""
        return fm[:start] + " " * key.start_mark.column + "{}" + brk + fm[end:]
    start = _line_start(fm, key.start_mark.index)
    return fm[:start] + fm[_line_end(fm, _end(value)) :]


def _insert(fm: str, mapping: yaml.Node, key: str, value: Any, newline: str) -> str:
    if isinstance(mapping, yaml.ScalarNode) and mapping.tag.endswith(":null"):
        return _replace(fm, mapping, {key: value}, newline)
    assert isinstance(mapping, yaml.MappingNode)
    pairs = list(mapping.value)
    if mapping.flow_style or not pairs:
        close = int(mapping.end_mark.index) - 1  # the closing brace
        head = fm[:close].rstrip(" ")
        sep = ", " if pairs else ""
        return head + f"{sep}{inline({key: value})[1:-1]}" + fm[close:]
    column = pairs[0][0].start_mark.column
    previous = pairs[-1][1]
    flow = isinstance(previous, yaml.ScalarNode) or getattr(previous, "flow_style", False)
    if isinstance(value, Mapping | list | tuple) and not flow and value:
        step = _step(pairs, column)
        body = _block(value, column + step, newline)
        line = f"{' ' * column}{inline(key)}:{newline}{' ' * (column + step)}{body}"
    else:
        line = f"{' ' * column}{inline(key)}: {inline(value)}"
    at = _line_end(fm, _end(mapping))
    # Comment lines indented under the mapping right after its last entry belong to it.
    while at < len(fm):
        rest = fm[at : _line_end(fm, at)]
        stripped = rest.lstrip(" \t")
        if not stripped.startswith("#") or len(rest) - len(stripped) < column:
            break
        at = _line_end(fm, at)
    prefix = fm[:at]
    if prefix and not prefix.endswith("\n"):
        prefix += newline
    return prefix + line + newline + fm[at:]


def _step(pairs: list[tuple[yaml.Node, yaml.Node]], column: int) -> int:
    """How far this file indents a block under its key (2 unless it shows otherwise)."""
    for _, child in pairs:
        if isinstance(child, yaml.MappingNode | yaml.SequenceNode) and not child.flow_style:
            return max(2, child.start_mark.column - column)
    return 2
