"""The memory step: after a task, decide what to keep, and keep it in the right tier and
space (or stage it, or skip it, saying why)."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace

from cairn.core.engine import ChatRequest, EngineError, Message, TextDelta, Usage
from cairn.core.memory.items import (
    EXTRACTION_PROMPT,
    EXTRACTION_SCHEMA,
    SOURCES,
    Candidate,
    observed_source,
    parse_candidates,
    place,
)
from cairn.core.memory.writer import MemoryWriter
from cairn.core.routing.budget import BudgetPaused
from cairn.core.routing.dispatch import Dispatcher, Routed, RoutingStopped
from cairn.core.tasks.context import as_data
from cairn.core.tasks.events import (
    MemoryProposed,
    MemorySkipped,
    MemoryStaged,
    MemoryWritten,
    TaskEvent,
)
from cairn.core.tasks.provenance import Provenance
from cairn.core.tasks.transcript import Transcript

__all__ = ["PROPOSAL_VALUE", "MemoryStep", "Transcript"]

PROPOSAL_VALUE = 0.5  # what a proposal is worth when no memory model could weigh it


@dataclass
class MemoryStep:
    dispatcher: Dispatcher
    writer: MemoryWriter
    usage: list[Usage] = field(default_factory=list)

    def __call__(self, transcript: Transcript) -> Iterator[TaskEvent]:
        workspace = self.writer.model.workspace
        space = workspace.spaces.get(transcript.space) if transcript.space else None
        candidates = yield from self._extract(transcript, space.scope if space else None)
        if not candidates:
            return  # nothing worth keeping: nothing is written
        private = (space is not None and space.scope == "private") or bool(
            transcript.sensitive_sources
        )
        if transcript.provenance is not None:
            private = private or transcript.provenance.sensitive
        for placement in place(
            candidates, workspace, task_space=transcript.space, derived_from_private=private
        ):
            if placement.action == "skip":
                yield MemorySkipped(placement.candidate.text, placement.reason)
            elif placement.action == "stage":
                staged = self.writer.stage(
                    placement, transcript.record, transcript.task, sensitive=private
                )
                yield MemoryStaged(staged.id, staged.text, placement.reason, staged.path)
            else:
                assert placement.space is not None and placement.tier is not None
                written = self.writer.write(
                    placement.space, placement.candidate, placement.tier, transcript.record
                )
                yield MemoryWritten(
                    written.item.id, written.item.text, written.space, written.tier, written.paths
                )

    def _extract(
        self, transcript: Transcript, scope: str | None
    ) -> Generator[TaskEvent, None, list[Candidate]]:
        text = transcript.text()
        messages = (
            Message("system", EXTRACTION_PROMPT),
            Message("user", as_data("the task transcript", text)),
        )
        provenance = transcript.provenance or Provenance(
            self.writer.model.workspace, transcript.space
        )
        step = provenance.step("Decide what to remember", "memory", (text,))
        if transcript.sensitive_sources and not step.carried:
            step = replace(step, carried=transcript.sensitive_sources)
        answer = ""
        try:
            for event in self.dispatcher.run(
                step,
                ChatRequest(
                    messages,
                    json_schema=EXTRACTION_SCHEMA,
                    max_tokens=self.dispatcher.router.policy.token_limit("memory"),
                    temperature=0.0,
                ),
            ):
                if isinstance(event, TextDelta):
                    answer += event.text
                elif isinstance(event, Usage):
                    self.usage.append(event)
                    yield event
                elif isinstance(event, Routed):
                    yield event
        except (RoutingStopped, BudgetPaused, EngineError):
            # No model may weigh them: keep only what the task itself proposed.
            return _from_proposals(transcript.proposals)
        user_words = (transcript.request, *transcript.user_answers)
        found = [
            replace(c, source=observed_source(c.text, c.source, user_words))
            for c in parse_candidates(answer)
        ]
        known = {c.text.lower() for c in found}
        return found + [
            c for c in _from_proposals(transcript.proposals) if c.text.lower() not in known
        ]


def _from_proposals(proposals: Sequence[MemoryProposed]) -> list[Candidate]:
    return [
        Candidate(
            p.text,
            p.source if p.source in SOURCES else "inference",
            PROPOSAL_VALUE,
            p.space,
        )
        for p in proposals
    ]
