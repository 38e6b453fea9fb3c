"""The memory wing: what a finished task taught, kept in the right tier and scope.

It owns placement (value → readme, topic file or archive; scope rules and staging), the
markdown formats of memory lines and notes, the writer, and `MemoryStep` — the `Remember`
the task loop is given. It may read the tasks wing (events, transcripts, proposals); the
tasks wing never imports it.
"""

from __future__ import annotations

from cairn.core.memory.items import Candidate, MemoryItem, Placement, Tier, place
from cairn.core.memory.step import MemoryStep
from cairn.core.memory.writer import MemoryNotFoundError, MemoryWriter, Pending, Written

__all__ = [
    "Candidate",
    "MemoryItem",
    "MemoryNotFoundError",
    "MemoryStep",
    "MemoryWriter",
    "Pending",
    "Placement",
    "Tier",
    "Written",
    "place",
]
