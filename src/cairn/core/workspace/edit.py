"""Edit markdown files without disturbing what the edit does not touch.

Only the lines of the frontmatter keys being changed are rewritten; every other key
(known or not), its comments, quoting, key order and the body stay byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from cairn.core.errors import CairnError
from cairn.core.workspace.bounded_yaml import YamlLoader
from cairn.core.workspace.documents import (
    FRONTMATTER_BOUNDARY,
    YamlTooComplexError,
    compose_frontmatter,
)


class EditError(CairnError):
    """The file cannot be edited safely as asked (for example, its frontmatter is invalid)."""


def frontmatter_span(text: str) -> tuple[int, int] | None:
    """Where the frontmatter's YAML starts and ends in `text` (None: it has none)."""
    opening = FRONTMATTER_BOUNDARY.match(text)
    if opening is None:
        return None
    closing = FRONTMATTER_BOUNDARY.search(text, opening.end())
    if closing is None:
        raise EditError("the frontmatter has no closing '---' line; fix the file first")
    start = opening.end()
    for brk in ("\r\n", "\n"):
        if text.startswith(brk, start):
            start += len(brk)
            break
    return start, closing.start()


def parse_for_edit(fm: str) -> tuple[yaml.Node | None, Any]:
    """The frontmatter's node tree and its data, composed with the bounded loader first
    (an alias bomb is refused, not expanded); an `EditError` saying why when it cannot be
    edited safely."""
    try:
        node = compose_frontmatter(fm)
        data = yaml.load(fm, Loader=YamlLoader) if node is not None else None  # noqa: S506
    except YamlTooComplexError as exc:
        raise EditError(
            f"the frontmatter is too complex to edit safely ({exc.problem}); {exc.fix}"
        ) from exc
    except yaml.YAMLError as exc:
        raise EditError(f"the frontmatter is not valid YAML ({exc}); fix the file first") from exc
    return node, data


def _dump_key(key: str, value: Any, newline: str, indent: str = "") -> str:
    # Readable first (accents as they are); a value that does not read back the same that
    # way (YAML folds some characters, such as U+0085, into spaces) is written escaped.
    for readable in (True, False):
        text = yaml.safe_dump(
            {key: value},
            sort_keys=False,
            allow_unicode=readable,
            default_flow_style=False,
            width=10_000,
        )
        if yaml.safe_load(text) == {key: value}:
            return indent + text.rstrip("\n").replace("\n", newline + indent)
    raise EditError(f"the value for '{key}' cannot be written in YAML exactly as given")


def update_frontmatter(
    text: str, changes: Mapping[str, Any] | None = None, remove: Iterable[str] = ()
) -> str:
    """Set top-level keys (in place, or appended after the last key) and remove others."""
    changes = dict(changes or {})
    removals = set(remove)
    newline = "\r\n" if "\r\n" in text else "\n"
    opening = FRONTMATTER_BOUNDARY.match(text)
    if opening is None:
        if not changes:
            return text
        block = newline.join(_dump_key(k, v, newline) for k, v in changes.items())
        return f"---{newline}{block}{newline}---{newline}{text}"
    span = frontmatter_span(text)
    assert span is not None  # the opening line is there
    start, end = span
    fm = text[start:end]
    node, _ = parse_for_edit(fm)
    if node is not None and not isinstance(node, yaml.MappingNode):
        raise EditError("the frontmatter is not a set of 'key: value' lines; fix the file first")

    pairs = list(node.value) if node is not None else []
    # Keep the author's indentation of top-level keys (YAML allows the whole block indented).
    indent = " " * pairs[0][0].start_mark.column if pairs else ""
    spans: list[tuple[int, int, str | None]] = []  # (start, end, replacement or None=delete)
    for index, (key_node, value_node) in enumerate(pairs):
        key = str(key_node.value)
        key_start = _line_start(fm, key_node.start_mark.index)
        next_start = (
            _line_start(fm, pairs[index + 1][0].start_mark.index)
            if index + 1 < len(pairs)
            else len(fm)
        )
        if key in removals:
            spans.append((key_start, next_start, ""))
        elif key in changes:
            value_end = _value_end(fm, value_node, next_start)
            spans.append((key_start, value_end, _dump_key(key, changes.pop(key), newline, indent)))
    for start_offset, end_offset, replacement in sorted(spans, reverse=True):
        fm = fm[:start_offset] + (replacement or "") + fm[end_offset:]
    if changes:
        if fm and not fm.endswith("\n"):
            fm += newline
        fm += "".join(_dump_key(k, v, newline, indent) + newline for k, v in changes.items())
    try:
        compose_frontmatter(fm)
    except (yaml.YAMLError, YamlTooComplexError) as exc:  # never hand back unreadable text
        raise EditError(f"the edit would leave invalid YAML ({exc}); nothing was changed") from exc
    return text[:start] + fm + text[end:]


def replace_body(text: str, body: str) -> str:
    """Swap the body and keep the frontmatter block exactly as it is."""
    opening = FRONTMATTER_BOUNDARY.match(text)
    closing = FRONTMATTER_BOUNDARY.search(text, opening.end()) if opening else None
    if opening is None or closing is None:
        return body
    head_end = closing.end()
    for newline in ("\r\n", "\n"):
        if text.startswith(newline, head_end):
            head_end += len(newline)
            break
    return text[:head_end] + body


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _value_end(fm: str, value_node: yaml.Node, limit: int) -> int:
    """End of a value's text, not counting the line break or trailing comment after it."""
    end = min(value_node.end_mark.index, limit)
    # Block values end at the start of the next line; step back over the break.
    while end > 0 and fm[end - 1] in "\r\n" and end > value_node.start_mark.index:
        end -= 1
    return end
