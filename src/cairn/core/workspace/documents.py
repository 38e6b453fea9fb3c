"""Markdown documents with YAML frontmatter: decode, split, parse, and locate lines.

python-frontmatter defines where frontmatter starts and ends (its YAML boundary), so
Cairn reads files exactly as other tools using that library do. Cairn does not use its
`loads()`: that strips the text and re-serialises metadata, and Cairn needs byte offsets
(for line numbers in diagnostics and for edits that leave untouched bytes alone).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from cairn.core.workspace.bounded_yaml import (
    FIX_SIZE,
    MAX_YAML_ALIASES,
    MAX_YAML_CHARS,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    YamlLoader,
    YamlTooComplexError,
    compose_bounded,
    compose_frontmatter,
)
from cairn.core.workspace.diagnostics import Diagnostic, error, warning

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_YAML_ALIASES",
    "MAX_YAML_CHARS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "YamlLoader",
    "YamlTooComplexError",
    "compose_frontmatter",
    "content_hash",
    "parse_document",
]

MAX_FILE_BYTES = 1024 * 1024
"""Markdown files larger than this are reported and skipped: they are not instructions."""

FRONTMATTER_BOUNDARY: re.Pattern[str] = YAMLHandler.FM_BOUNDARY
# libyaml's loader when PyYAML was built with it: several times faster than pure Python.
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")


def content_hash(data: bytes) -> str:
    """The hash every write names as its base: sha256 of the file's bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Section:
    """A markdown heading and the text under it (up to the next heading of any level)."""

    title: str
    level: int
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Document:
    """A decoded markdown file split into frontmatter data and body."""

    path: str
    text: str
    content_hash: str
    frontmatter: Mapping[str, Any]
    body: str
    body_line: int
    has_frontmatter: bool
    _fm_text: str = field(default="", repr=False)
    _fm_line: int = field(default=0, repr=False)  # 0-based line where the YAML text starts

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the frontmatter value at `loc` (keys and list indexes).

        Walks as deep as the path exists, so a missing key points at its parent.
        Only called when reporting a problem, so the YAML is re-composed lazily.
        """
        if not self.has_frontmatter:
            return 1
        if not loc:
            return self._fm_line + 1
        try:
            node = compose_frontmatter(self._fm_text)
        except (yaml.YAMLError, YamlTooComplexError):
            return self._fm_line + 1
        line = self._fm_line
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if k.value == str(part)), None)
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                if match is None or key is None:
                    break
                line = self._fm_line + key.start_mark.line
                node = match
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    break
                node = node.value[part]
                line = self._fm_line + node.start_mark.line
            else:
                break
        return line + 1

    def sections(self) -> tuple[Section, ...]:
        return split_sections(self.body, self.body_line)


def split_sections(body: str, first_line: int = 1) -> tuple[Section, ...]:
    """ATX headings outside fenced code blocks, each with the text that follows it."""
    sections: list[Section] = []
    current: tuple[str, int, int] | None = None
    lines: list[str] = []
    in_fence = False
    for offset, raw in enumerate(body.splitlines()):
        if _FENCE.match(raw):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(raw)
        if heading:
            if current:
                sections.append(
                    Section(current[0], current[1], current[2], "\n".join(lines).strip())
                )
            current = (heading.group(2).strip(), len(heading.group(1)), first_line + offset)
            lines = []
        else:
            lines.append(raw)
    if current:
        sections.append(Section(current[0], current[1], current[2], "\n".join(lines).strip()))
    return tuple(sections)


def freeze(value: Any) -> Any:
    """Deep read-only copy of parsed YAML: dicts become mapping proxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, for validation and for JSON output."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def decode(path: str, raw: bytes) -> tuple[str | None, list[Diagnostic]]:
    """Bytes to text, or a diagnostic saying why the bytes are not a markdown file."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [
            error(
                path,
                "file-too-large",
                f"file is {len(raw):,} bytes; workspace markdown files are limited to "
                f"{MAX_FILE_BYTES:,} bytes",
                "split it into smaller files, or move large material out of the workspace's "
                "agents, spaces, skills, operators and automations folders",
            )
        ]
    if b"\x00" in raw[:8192]:
        return None, [
            error(
                path,
                "binary-file",
                "file looks binary (it contains NUL bytes), not markdown text",
                "remove it, or give it a name that does not end in .md",
            )
        ]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            error(
                path,
                "not-utf8",
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                "re-save the file with UTF-8 encoding in your editor",
                line,
            )
        ]


def parse_document(path: str, raw: bytes) -> tuple[Document | None, list[Diagnostic]]:
    """Decode and split a markdown file. Never raises for bad content."""
    text, problems = decode(path, raw)
    if text is None:
        return None, problems
    digest = content_hash(raw)
    opening = FRONTMATTER_BOUNDARY.match(text)
    if opening is None:
        doc = Document(path, text, digest, MappingProxyType({}), text, 1, False)
        return doc, problems
    closing = FRONTMATTER_BOUNDARY.search(text, opening.end())
    if closing is None:
        return None, [
            error(
                path,
                "frontmatter-unclosed",
                "frontmatter starts with '---' on line 1 but has no closing '---' line",
                "add a line containing only '---' after the last frontmatter key",
                1,
            )
        ]
    fm_text = text[opening.end() : closing.start()]
    fm_line = text.count("\n", 0, opening.end())
    body_start = closing.end()
    if text.startswith("\r\n", body_start):
        body_start += 2
    elif text.startswith("\n", body_start):
        body_start += 1
    body = text[body_start:]
    body_line = text.count("\n", 0, body_start) + 1

    data, yaml_problems = _load_yaml(path, fm_text, fm_line)
    problems.extend(yaml_problems)
    if data is None:
        return None, problems
    doc = Document(path, text, digest, freeze(data), body, body_line, True, fm_text, fm_line)
    return doc, problems


def _load_yaml(
    path: str, fm_text: str, fm_line: int
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    loader = YamlLoader(fm_text)
    try:
        node = compose_bounded(loader, fm_text)
        data = loader.construct_document(node) if node is not None else {}
    except YamlTooComplexError as exc:
        return None, [
            error(
                path,
                "yaml-too-complex",
                f"frontmatter is too complex to read safely: {exc.problem}",
                exc.fix,
                fm_line + exc.line + 1 if exc.line is not None else fm_line + 1,
            )
        ]
    except (RecursionError, MemoryError) as exc:
        # The limits above make these unreachable in practice; they must still not escape.
        return None, [
            error(
                path,
                "yaml-too-complex",
                f"frontmatter is too complex to read safely ({type(exc).__name__})",
                FIX_SIZE,
                fm_line + 1,
            )
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = fm_line + mark.line + 1 if mark else fm_line + 1
        problem = exc.problem or "invalid YAML"
        hint = " (a value containing ': ' or starting with a special character needs quotes)"
        return None, [
            error(
                path,
                "yaml-syntax",
                f"frontmatter is not valid YAML: {problem}",
                "fix the YAML on that line" + (hint if "mapping" in problem else ""),
                line,
            )
        ]
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # libyaml and the constructors raise plain errors for a few inputs (e.g. bad
        # timestamps or unhashable keys); they are still the author's YAML, not a crash.
        return None, [
            error(
                path,
                "yaml-syntax",
                f"frontmatter is not valid YAML: {exc}",
                "fix the YAML in the frontmatter",
                fm_line + 1,
            )
        ]
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [
            error(
                path,
                "frontmatter-not-mapping",
                f"frontmatter must be a set of 'key: value' lines, not a {type(data).__name__}",
                "write the frontmatter as 'key: value' lines between the two '---' lines",
                fm_line + 1,
            )
        ]
    problems: list[Diagnostic] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            key = str(key_node.value)
            line = fm_line + key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    warning(
                        path,
                        "duplicate-key",
                        f"key '{key}' appears twice (first on line {seen[key]}); the last one wins",
                        f"remove one of the two '{key}' keys",
                        line,
                    )
                )
            seen[key] = line
    for key in list(data):
        if not isinstance(key, str):
            problems.append(
                warning(
                    path,
                    "key-not-text",
                    f"key {key!r} is read by YAML as a {type(key).__name__}, not as text",
                    f"quote the key: '\"{key}\": ...' (YAML reads yes/no/on/off and numbers "
                    "as values)",
                )
            )
    return {str(k): v for k, v in data.items()}, problems
