"""Tiered memory: where a learnt item lands, and the markdown it is written as.

Pure functions over text and the workspace model; the writer (`cairn.core.memory.writer`)
applies them through atomic, conflict-checked writes. Formats are documented in
docs/memory.md:

    - 2026-11-20: Board meets monthly. ([task](x.md)) <!-- mem:3f9a1c2e v=0.85 src=user-said -->
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from cairn.core.tasks.proposals import (
    SOURCES,
    Source,
    clean_memory_text,
    observed_source,
    said_by_user,
)
from cairn.core.workspace.entities import Space, Workspace
from cairn.core.workspace.names import slug

__all__ = ["SOURCES", "Source", "clean_memory_text", "observed_source", "said_by_user", "slug"]

Tier = Literal["readme", "topic", "archive"]

DEFAULT_HIGH = 0.75
DEFAULT_MODERATE = 0.4
DEFAULT_BUDGET = 40
MIN_VALUE = 0.1  # below this an item is not worth keeping at all

# The one definition of a memory line, read tolerantly (a person may edit it: another bullet,
# extra spaces, attributes in another order, no date); Cairn writes it as `format_line` does.
MEMORY_LINE = re.compile(
    r"^\s*[-*+]\s+(?:(?P<date>\d{4}-\d{2}-\d{2}):\s+)?(?P<text>.*?)"
    r"\s*<!--\s*mem:(?P<id>[\w-]+)(?P<attrs>[^>]*?)\s*-->\s*$"
)
_ORIGIN = re.compile(r"\s*\(\[[^\]]*\]\((?P<origin>[^)]*)\)\)$")  # "([task](history/…))"
_ATTR = re.compile(r"(\w+)=(\S+)")
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something a memory step thinks is worth keeping."""

    text: str
    source: Source
    value: float
    space: str | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryItem:
    id: str
    text: str
    source: Source
    value: float
    date: dt.date
    origin: str | None = None  # the task record (or file) it came from
    topic: str | None = None

    @classmethod
    def new(cls, candidate: Candidate, today: dt.date, origin: str | None) -> MemoryItem:
        return cls(
            uuid.uuid4().hex[:8],
            clean_memory_text(candidate.text),
            candidate.source,
            round(max(0.0, min(1.0, candidate.value)), 2),
            today,
            origin,
            candidate.topic,
        )


@dataclass(frozen=True, slots=True)
class Placement:
    candidate: Candidate
    action: Literal["write", "stage", "skip"]
    reason: str
    space: str | None = None
    tier: Tier | None = None


# --- extraction --------------------------------------------------------------------------

EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "maxItems": 8,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "maxLength": 300},
                    "source": {"type": "string", "enum": list(SOURCES)},
                    "value": {"type": "number"},
                    "space": {"type": "string", "maxLength": 64},
                    "topic": {"type": "string", "maxLength": 40},
                },
                "required": ["text", "source", "value"],
            },
        }
    },
    "required": ["items"],
}

EXTRACTION_PROMPT = (
    "From the task transcript below, list what is worth remembering for future tasks: "
    "lasting facts, decisions and their reasons, preferences, recurring dates, who does what. "
    "Leave out one-off details and anything already obvious. For each item give: the text "
    "(one self-contained sentence), its source (user-said: the user stated it; "
    "user-confirmed: the user agreed to it; tool-output: read from a file or tool; inference: "
    "your own conclusion), a value from 0 to 1 (how likely it helps a future task), optionally "
    "the space it belongs to and a one- or two-word topic. Answer with JSON; an empty list "
    "when nothing is worth keeping."
)


def parse_candidates(text: str) -> list[Candidate]:
    """The items in a memory step's JSON answer; anything malformed is left out."""
    try:
        data = json.loads(text, strict=False)
        raw = data["items"] if isinstance(data, dict) else []
    except (ValueError, KeyError, TypeError):
        return []
    found: list[Candidate] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            continue
        source = item.get("source")
        try:
            value = float(item.get("value", 0))
        except (TypeError, ValueError):
            continue
        found.append(
            Candidate(
                text=clean_memory_text(str(item["text"])),
                source=source if source in SOURCES else "inference",
                value=value,
                space=str(item["space"]) if item.get("space") else None,
                topic=slug(str(item["topic"])) or None if item.get("topic") else None,
            )
        )
    return found


# --- placement: tier and scope --------------------------------------------------------------


def thresholds(space: Space) -> tuple[float, float, int]:
    """(high, moderate, readme budget) for a space, from its frontmatter (docs/memory.md)."""
    tiers = space.meta.memory_tiers
    return tiers.high, tiers.moderate, space.meta.memory_budget


def tier_for(value: float, high: float, moderate: float) -> Tier:
    if value >= high:
        return "readme"
    return "topic" if value >= moderate else "archive"


def place(
    candidates: Sequence[Candidate],
    workspace: Workspace,
    *,
    task_space: str | None,
    derived_from_private: bool,
) -> list[Placement]:
    """Decide, for each candidate, whether it is written (where, which tier), staged or
    skipped, and why. The scope rules live here:

    - inferences are never saved as facts;
    - nothing derived from private content lands in a team or company space;
    - team and company spaces are never written without asking (always staged);
    - memory mode: permissive writes; balanced writes what is confidently scoped (the
      task's own space, a stated source) and stages the rest; cautious stages everything.
    """
    placements: list[Placement] = []
    for candidate in candidates:
        if candidate.source == "inference":
            placements.append(Placement(candidate, "skip", "an inference is not a fact"))
            continue
        if candidate.value < MIN_VALUE:
            placements.append(Placement(candidate, "skip", "not worth keeping"))
            continue
        named = candidate.space if candidate.space in workspace.spaces else None
        target_name = named or task_space
        target = workspace.spaces.get(target_name) if target_name else None
        if target is None:
            placements.append(Placement(candidate, "stage", "no space to keep it in: choose one"))
            continue
        high, moderate, _ = thresholds(target)
        tier = tier_for(candidate.value, high, moderate)
        if derived_from_private and target.scope != "private":
            placements.append(
                Placement(
                    candidate,
                    "stage",
                    f"derived from private content: it may not go to the "
                    f"{target.scope} space '{target.name}'; choose a private space",
                    None,
                    tier,
                )
            )
            continue
        if target.scope in ("team", "company"):
            placements.append(
                Placement(
                    candidate,
                    "stage",
                    f"'{target.name}' is a {target.scope} space: shared spaces "
                    "are never written without asking",
                    target.name,
                    tier,
                )
            )
            continue
        mode = target.meta.memory
        confident = candidate.space in (None, task_space) and target_name == task_space
        if mode == "cautious" or (mode == "balanced" and not confident):
            why = (
                "the space's memory mode is cautious"
                if mode == "cautious"
                else "the right space is not certain"
            )
            placements.append(Placement(candidate, "stage", why, target.name, tier))
            continue
        placements.append(
            Placement(
                candidate,
                "write",
                f"{tier} tier (value {candidate.value:.2f}) in '{target.name}'",
                target.name,
                tier,
            )
        )
    return placements


# --- markdown -------------------------------------------------------------------------------


def format_line(item: MemoryItem, link_from: str = "") -> str:
    link = f" ([task]({_relative(item.origin, link_from)}))" if item.origin else ""
    return (
        f"- {item.date.isoformat()}: {item.text}{link} "
        f"<!-- mem:{item.id} v={item.value:.2f} src={item.source} -->"
    )


def _relative(path: str, from_folder: str) -> str:
    """A link from a file in `from_folder` to a workspace-relative `path`."""
    if not from_folder:
        return path
    depth = from_folder.strip("/").count("/") + 1
    return "../" * depth + path


@dataclass(frozen=True, slots=True)
class MemoryLine:
    """A memory line as written in a readme or topic file, before any checks."""

    id: str
    date: str | None
    text: str
    origin: str | None
    attributes: dict[str, str]


def read_line(line: str) -> MemoryLine | None:
    """The parts of a memory line (see `MEMORY_LINE`), or None for any other line."""
    if "mem:" not in line:
        return None
    match = MEMORY_LINE.match(line)
    if match is None:
        return None
    text, origin = match["text"], None
    if (link := _ORIGIN.search(text)) is not None:
        text, origin = text[: link.start()], link["origin"]
    attributes = dict(_ATTR.findall(match["attrs"]))
    return MemoryLine(match["id"], match["date"], text.strip(), origin, attributes)


def parse_line(line: str) -> MemoryItem | None:
    """A memory line as an item; None unless it has a date and a value."""
    found = read_line(line)
    if found is None or found.date is None or not found.text:
        return None
    try:
        value = float(found.attributes.get("v", ""))
        date = dt.date.fromisoformat(found.date)
    except ValueError:
        return None
    source = found.attributes.get("src", "")
    return MemoryItem(
        found.id,
        found.text,
        source if source in SOURCES else "inference",
        value,
        date,
        found.origin,
    )


def items_in(text: str) -> list[MemoryItem]:
    return [item for line in text.splitlines() if (item := parse_line(line)) is not None]


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def similar(a: str, b: str) -> bool:
    """The same memory in other words: nearly all words shared."""
    left, right = _words(a), _words(b)
    if not left or not right:
        return False
    return len(left & right) / len(left | right) >= 0.8


def _section_bounds(lines: list[str], title: str) -> tuple[int, int] | None:
    """(heading index, end index) of a `## title` section."""
    for index, line in enumerate(lines):
        if line.strip().lower() == f"## {title.lower()}":
            end = next(
                (
                    j
                    for j in range(index + 1, len(lines))
                    if lines[j].startswith("#")
                    and lines[j].lstrip("#").startswith(" ")
                    and len(lines[j]) - len(lines[j].lstrip("#")) <= 2
                ),
                len(lines),
            )
            return index, end
    return None


def _ensure_section(lines: list[str], title: str, before: str | None = None) -> tuple[int, int]:
    found = _section_bounds(lines, title)
    if found is not None:
        return found
    anchor = _section_bounds(lines, before) if before else None
    at = anchor[0] if anchor else len(lines)
    block = [f"## {title}", ""]
    if at and lines[at - 1].strip():
        block.insert(0, "")
    lines[at:at] = block
    return _section_bounds(lines, title) or (at, at + len(block))


def upsert_line(
    text: str, section: str, item: MemoryItem, *, link_from: str = "", before: str | None = None
) -> tuple[str, MemoryItem]:
    """Add `item` under `## section`, or update the line that says the same thing.

    Returns the new text and the item as stored (an update keeps the old id)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    start, end = _ensure_section(lines, section, before)
    for index in range(start + 1, end):
        old = parse_line(lines[index])
        if old is not None and (old.id == item.id or similar(old.text, item.text)):
            stored = replace(item, id=old.id, value=max(old.value, item.value))
            lines[index] = format_line(stored, link_from)
            return newline.join(lines) + newline, stored
    last = max((i for i in range(start + 1, end) if lines[i].strip()), default=start)
    lines.insert(last + 1 if last > start else start + 1, format_line(item, link_from))
    return newline.join(lines) + newline, item


def enforce_budget(text: str, section: str, budget: int) -> tuple[str, list[MemoryItem]]:
    """Keep at most `budget` memory lines in the section: the lowest-valued move out."""
    lines = text.splitlines()
    bounds = _section_bounds(lines, section)
    if bounds is None:
        return text, []
    start, end = bounds
    entries = [(i, item) for i in range(start + 1, end) if (item := parse_line(lines[i]))]
    extra = len(entries) - budget
    if extra <= 0:
        return text, []
    lowest = sorted(entries, key=lambda e: (e[1].value, e[1].date))[:extra]
    drop = {i for i, _ in lowest}
    kept = [line for i, line in enumerate(lines) if i not in drop]
    newline = "\r\n" if "\r\n" in text else "\n"
    return newline.join(kept) + newline, [item for _, item in lowest]


def remove_item(text: str, item_id: str) -> tuple[str, bool]:
    marker = f"<!-- mem:{item_id} "
    lines = text.splitlines()
    kept = [line for line in lines if marker not in line]
    if len(kept) == len(lines):
        return text, False
    newline = "\r\n" if "\r\n" in text else "\n"
    return newline.join(kept) + newline, True


def add_reference(text: str, title: str, path: str) -> str:
    """A `- [title](path)` line under `## References`, once."""
    lines = text.splitlines()
    start, end = _ensure_section(lines, "References")
    entry = f"- [{title}]({path})"
    if any(f"]({path})" in lines[i] for i in range(start + 1, end)):
        return text
    last = max((i for i in range(start + 1, end) if lines[i].strip()), default=start)
    lines.insert(last + 1 if last > start else start + 1, entry)
    newline = "\r\n" if "\r\n" in text else "\n"
    return newline.join(lines) + newline


def topic_file(topic: str) -> str:
    title = topic.replace("-", " ").strip().capitalize() or "Notes"
    return f"---\ntopic: {topic}\n---\n# {title}\n\n## Memory\n"


def archive_note(item: MemoryItem, space: str) -> tuple[str, str]:
    """(path relative to the space, text) of an archived note."""
    when = item.date
    path = (
        f"memory/archive/{when:%Y}/{when:%m}/{when.isoformat()}-"
        f"{slug(item.text, 30) or 'note'}-{item.id}.md"
    )
    front = {
        "id": item.id,
        "date": when.isoformat(),
        "source": item.source,
        "value": item.value,
        "space": space,
        "origin": item.origin or "",
    }
    # Every text value quoted: an id like "00063281" or "1e500000" must stay text, not
    # become a number when read back as YAML.
    head = "\n".join(f"{k}: {json.dumps(v) if isinstance(v, str) else v}" for k, v in front.items())
    return path, f"---\n{head}\n---\n{item.text}\n"
