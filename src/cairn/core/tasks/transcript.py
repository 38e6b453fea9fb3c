"""What the memory step reads about a finished task: the task loop's side of the seam.

The loop hands a `Transcript` to whatever `Remember` it was given (the memory wing's
`MemoryStep`, in the product); it never imports the memory wing itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.core.tasks.events import MemoryProposed
from cairn.core.tasks.provenance import Provenance


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the memory step reads about a finished task."""

    task: str
    request: str
    answer: str
    steps: tuple[str, ...] = ()
    proposals: tuple[MemoryProposed, ...] = ()
    user_answers: tuple[str, ...] = ()
    space: str | None = None
    sensitive_sources: tuple[str, ...] = ()  # why the task's content is sensitive
    record: str | None = None  # the task's markdown record: every memory links to it
    provenance: Provenance | None = None  # what the task took in: the step is routed from it

    def text(self) -> str:
        parts = [f"Request: {self.request}"]
        parts += [f"Step {n}: {s}" for n, s in enumerate(self.steps, 1)]
        parts += [f"The user answered: {a}" for a in self.user_answers]
        parts += [f"Proposed during the task ({p.source}): {p.text}" for p in self.proposals]
        parts.append(f"Final answer: {self.answer}")
        return "\n\n".join(parts)
