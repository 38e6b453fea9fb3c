"""Where a workspace's items came from: one line per layout found (Cairn, Rebel, OpenClaw,
Claude Code, Agent Skills), for `cairn check`, `cairn ls` and the app."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from cairn.core.workspace.entities import Automation, Layer, Operator, Skill, Space, Workspace
from cairn.core.workspace.layouts import LAYOUT_NAMES, Layout

Item = Space | Skill | Operator | Automation | Layer


@dataclass
class LayoutSummary:
    layout: Layout
    counts: Counter[str] = field(default_factory=Counter)  # "skill" -> 40
    inferred: int = 0  # items with a value Cairn worked out itself

    @property
    def title(self) -> str:
        return LAYOUT_NAMES[self.layout]

    def line(self) -> str:
        order = ("instruction layer", "space", "skill", "operator", "automation")
        parts = [_count(self.counts[k], k) for k in order if self.counts[k]]
        if self.inferred:
            parts.append(f"{self.inferred} with inferred values")
        return f"{self.title}: {', '.join(parts)}"


def items(workspace: Workspace) -> Iterator[tuple[str, Item]]:
    """Every item of the workspace with its kind, space items included."""
    yield from (("instruction layer", layer) for layer in workspace.layers)
    for space in workspace.spaces.values():
        yield "space", space
        yield from (("skill", s) for s in space.skills.values())
        yield from (("operator", o) for o in space.operators.values())
    yield from (("skill", s) for s in workspace.skills.values())
    yield from (("operator", o) for o in workspace.operators.values())
    yield from (("automation", a) for a in workspace.automations.values())


def summarise(workspace: Workspace) -> list[LayoutSummary]:
    """One summary per layout that contributed something, Cairn's own first."""
    found: dict[Layout, LayoutSummary] = {}
    for kind, item in items(workspace):
        summary = found.setdefault(item.layout, LayoutSummary(item.layout))
        summary.counts[kind] += 1
        if getattr(item, "inferred", ()):
            summary.inferred += 1
    order = list(LAYOUT_NAMES)
    return sorted(found.values(), key=lambda s: order.index(s.layout))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
