"""The tools the task loop answers itself: consult an operator, propose a memory, ask the user.

They are offered to the model next to the workspace's file tools and pass the same gate,
but they touch no file: a review is another model call, a proposal waits for the memory
step, and a question waits for the person running the task.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from cairn.core.routing.dispatch import Dispatcher
from cairn.core.routing.router import Overrides
from cairn.core.tasks.context import as_data
from cairn.core.tasks.events import MemoryProposed, QuestionAsked, TaskEvent
from cairn.core.tasks.gate import SIDE_CALL_EVENTS, TaskCancelledError
from cairn.core.tasks.proposals import clean_memory_text, observed_source
from cairn.core.tasks.provenance import Provenance
from cairn.core.tasks.tools import ToolOutcome
from cairn.core.workspace.entities import Workspace

MEMORY_SOURCES = frozenset({"user-said", "user-confirmed", "tool-output", "inference"})

SPECIAL_TOOLS = (
    ToolSpec(
        "consult_operator",
        "Ask a reviewer with the named operator's lens to review a draft. Returns the review.",
        {
            "type": "object",
            "properties": {"operator": {"type": "string"}, "draft": {"type": "string"}},
            "required": ["operator", "draft"],
        },
    ),
    ToolSpec(
        "propose_memory",
        "Propose something worth remembering for future tasks.",
        {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "source": {
                    "type": "string",
                    "enum": ["user-said", "user-confirmed", "tool-output", "inference"],
                },
            },
            "required": ["text"],
        },
    ),
    ToolSpec(
        "ask_user",
        "Ask the user a question and wait for the answer.",
        {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
    ),
)


def missing_arguments(call: ToolCall) -> str | None:
    """The argument problem of a call to a special tool: only required ones are checked."""
    spec = next(s for s in SPECIAL_TOOLS if s.name == call.name)
    missing = [k for k in spec.parameters.get("required", []) if k not in call.arguments]
    return f"missing arguments: {', '.join(missing)}" if missing else None


def proposal(
    args: Mapping[str, Any], space: str | None, task: str, user_words: Sequence[str]
) -> MemoryProposed:
    """A memory the model proposes, with the source Cairn observed — never the one the
    model claims: "user-said" only when the text is the user's own words in this task
    (content it read, or an injected instruction, cannot speak with the user's authority),
    and one line that cannot forge memory metadata."""
    text = clean_memory_text(str(args["text"]))
    source = observed_source(text, str(args.get("source") or "inference"), user_words)
    return MemoryProposed(text, space, source, task)


PROPOSED = ToolOutcome(True, "proposed; the memory step decides whether to keep it")


def ask_user(
    question: str, approvals: str, cancel: CancelToken, answers: list[str]
) -> Generator[TaskEvent, None, ToolOutcome]:
    """Ask and wait for the answer (kept in `answers` for the memory step), unless no one
    can answer in this run."""
    if approvals != "ask":
        return ToolOutcome(
            False,
            "no one is available to answer in this run; proceed "
            "with your best judgement and say what you assumed",
        )
    asked = QuestionAsked(question)
    yield asked
    answer = asked.answer.wait(0.2)
    while answer is None:
        if cancel.cancelled:
            raise TaskCancelledError
        answer = asked.answer.wait(0.2)
    if answer:
        answers.append(answer)
    return ToolOutcome(answer is not None, answer or "no answer")


def consult(
    workspace: Workspace,
    dispatcher: Dispatcher,
    name: str,
    draft: str,
    *,
    provenance: Provenance,
    overrides: Overrides,
    cancel: CancelToken,
) -> Generator[TaskEvent, None, ToolOutcome]:
    """A review of `draft` by a model given the named operator's lens.

    The review is routed from the task's provenance, so a draft made from private or
    marked files is reviewed under the same limits as the task itself. Yields the
    dispatcher's events; the caller relays the routing and usage ones."""
    operator = workspace.find_operator(name, provenance.space)
    if operator is None:
        known = ", ".join(workspace.operators_for(provenance.space)) or "none"
        return ToolOutcome(False, f"no operator '{name}'; operators: {known}")
    messages = (
        Message("system", f"You are a reviewer. {operator.lens}"),
        Message(
            "user",
            "Review this draft through your lens:\n\n" + as_data("the draft under review", draft),
        ),
    )
    if operator.meta.sensitive:
        provenance.note_marked(operator.path)  # the review, and all that follows, stays local
    step = provenance.step(f"Review through {name}", "work", (draft, operator.lens))
    review = ""
    limit = dispatcher.router.policy.token_limit("review")
    for event in dispatcher.run(step, ChatRequest(messages, max_tokens=limit), overrides, cancel):
        if isinstance(event, TextDelta):
            review += event.text
        elif isinstance(event, SIDE_CALL_EVENTS):
            yield event
    return ToolOutcome(True, review.strip() or "(no comments)")
