"""Planning: a request becomes a short list of steps, each with a kind for the router.

A plan step (routed as kind `plan`) answers with JSON that must match `PLAN_SCHEMA`.
Simple requests skip it (the fast path): one `work` step, no planning call. A plan
that cannot be read falls back to one step with the whole request, and says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cairn.core.tasks.events import Plan, PlannedStep

STEP_KINDS = ("work", "summarise", "plan", "memory")
MAX_STEPS = 6
"""The planner's default limit; agents.md's `harness: plan_steps` changes it."""


def plan_schema(max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """The JSON a plan must match, with at most `max_steps` steps."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_steps,
                "items": _STEP_ITEM,
            }
        },
        "required": ["steps"],
    }


_STEP_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 80},
        "kind": {"type": "string", "enum": list(STEP_KINDS)},
        "instruction": {"type": "string", "maxLength": 600},
    },
    "required": ["title", "kind", "instruction"],
}

PLAN_SCHEMA: dict[str, Any] = plan_schema()

PLAN_PROMPT = (
    "Break the task below into at most {max_steps} steps that can be done one after the "
    "other with the tools available. Give each step a short title, a kind ('work' for doing "
    "and writing, 'summarise' for condensing material, 'memory' for noting what to remember, "
    "'plan' for deciding) and a precise instruction. Use one step when one is enough. "
    "Answer with JSON only."
)

_MULTI = re.compile(
    r"\b(then|after that|afterwards|and also|first|finally|step|steps|plan|each|every|"
    r"compare|research|review|draft and|write .* and)\b",
    re.IGNORECASE,
)


def is_simple(request: str, *, skill: str | None = None) -> bool:
    """The fast path: short, single-action requests need no planning call.

    A named skill is a procedure of its own, so it is run as one step too.
    """
    if skill:
        return True
    words = len(request.split())
    return words <= 25 and not _MULTI.search(request)


def single_step(request: str, *, fast: bool = True) -> Plan:
    return Plan((PlannedStep("Do the task", "work", request),), fast_path=fast)


def parse_plan(text: str, request: str, max_steps: int = MAX_STEPS) -> tuple[Plan, str | None]:
    """The plan in `text`, or a one-step plan and the reason it could not be used."""
    try:
        data = json.loads(text, strict=False)
        raw_steps = data["steps"]
        steps = tuple(
            PlannedStep(
                title=str(item["title"]).strip()[:80] or f"Step {n}",
                kind=str(item["kind"]) if item.get("kind") in STEP_KINDS else "work",
                instruction=str(item["instruction"]).strip() or request,
            )
            for n, item in enumerate(raw_steps[:max_steps], 1)
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return single_step(request, fast=False), f"the plan could not be read ({exc})"
    if not steps:
        return single_step(request, fast=False), "the plan had no steps"
    return Plan(steps), None
