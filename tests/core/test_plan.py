"""Planning: the fast path, and reading a planner's JSON (or falling back to one step)."""

from __future__ import annotations

import json

import pytest

from cairn.core.tasks.events import Plan, PlannedStep
from cairn.core.tasks.plan import (
    MAX_STEPS,
    PLAN_PROMPT,
    PLAN_SCHEMA,
    STEP_KINDS,
    is_simple,
    parse_plan,
    single_step,
)

REQUEST = "Prepare the board update"


def steps_json(*items: dict[str, object]) -> str:
    return json.dumps({"steps": list(items)})


def step(title: str = "Do", kind: str = "work", instruction: str = "Do it") -> dict[str, object]:
    return {"title": title, "kind": kind, "instruction": instruction}


# --- is_simple -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_text",
    [
        "Summarise the team readme in one line",
        "What is due this week?",
        "Draft a reply to Ana",
        " ".join(["word"] * 25),
        "",
    ],
)
def test_short_single_action_requests_are_simple(request_text: str) -> None:
    assert is_simple(request_text)


@pytest.mark.parametrize(
    "request_text",
    [
        " ".join(["word"] * 26),
        "Read the inbox, then draft replies",
        "First check the calendar",
        "Summarise the notes and finally file them",
        "Compare the two vendor offers",
        "Research competitor pricing",
        "Review my draft",
        "Plan the offsite",
        "Go through each note in the inbox",
        "Write a summary and a reply",
        "Draft and send the memo",
        "After that, update the table",
        "THEN update the table",
    ],
)
def test_multi_part_or_long_requests_are_not_simple(request_text: str) -> None:
    assert not is_simple(request_text)


def test_a_named_skill_is_always_one_step() -> None:
    long_request = "First research, then compare, then review each option. " * 5
    assert not is_simple(long_request)
    assert is_simple(long_request, skill="research-brief")


def test_single_step() -> None:
    assert single_step(REQUEST) == Plan((PlannedStep("Do the task", "work", REQUEST),), True)
    assert single_step(REQUEST, fast=False).fast_path is False


# --- parse_plan ------------------------------------------------------------------------------


def test_a_valid_plan_is_read_in_order() -> None:
    text = steps_json(
        step("Gather", "summarise", "Summarise the notes"),
        step("Draft", "work", "Draft the update"),
        step("Remember", "memory", "Note the decisions"),
    )
    plan, problem = parse_plan(text, REQUEST)
    assert problem is None
    assert plan == Plan(
        (
            PlannedStep("Gather", "summarise", "Summarise the notes"),
            PlannedStep("Draft", "work", "Draft the update"),
            PlannedStep("Remember", "memory", "Note the decisions"),
        ),
        fast_path=False,
    )


def test_every_step_kind_is_kept() -> None:
    plan, problem = parse_plan(steps_json(*(step(kind=k) for k in STEP_KINDS)), REQUEST)
    assert problem is None
    assert tuple(s.kind for s in plan.steps) == STEP_KINDS


@pytest.mark.parametrize("kind", ["sensitive", "deploy", "", None, 3, ["work"]])
def test_an_unknown_kind_becomes_work(kind: object) -> None:
    item = {"title": "T", "kind": kind, "instruction": "I"}
    plan, problem = parse_plan(json.dumps({"steps": [item]}), REQUEST)
    assert problem is None
    assert plan.steps == (PlannedStep("T", "work", "I"),)


def test_a_missing_kind_becomes_work() -> None:
    plan, problem = parse_plan(json.dumps({"steps": [{"title": "T", "instruction": "I"}]}), "r")
    assert problem is None
    assert plan.steps == (PlannedStep("T", "work", "I"),)


def test_too_many_steps_are_cut_to_the_limit() -> None:
    text = steps_json(*(step(f"S{n}", instruction=f"do {n}") for n in range(1, MAX_STEPS + 3)))
    plan, problem = parse_plan(text, REQUEST)
    assert problem is None
    assert len(plan.steps) == MAX_STEPS == 6
    assert [s.title for s in plan.steps] == [f"S{n}" for n in range(1, MAX_STEPS + 1)]


def test_titles_and_instructions_are_tidied() -> None:
    text = steps_json(
        step("  Gather  ", instruction="  Read the notes  "),
        step("   ", instruction="   "),
        step("T" * 100, instruction="x"),
        {"title": 7, "kind": "work", "instruction": 8},
    )
    plan, problem = parse_plan(text, REQUEST)
    assert problem is None
    assert plan.steps[0] == PlannedStep("Gather", "work", "Read the notes")
    assert plan.steps[1] == PlannedStep("Step 2", "work", REQUEST)
    assert plan.steps[2].title == "T" * 80
    assert plan.steps[3] == PlannedStep("7", "work", "8")


def test_control_characters_inside_strings_are_tolerated() -> None:
    text = '{"steps": [{"title": "A", "kind": "work", "instruction": "line one\nline two"}]}'
    plan, problem = parse_plan(text, REQUEST)
    assert problem is None
    assert plan.steps[0].instruction == "line one\nline two"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Sure! Here is the plan: first read, then write.",
        '{"steps": [',
        "null",
        "[]",
        '"steps"',
        "{}",
        '{"plan": []}',
        '{"steps": "read then write"}',
        '{"steps": {"title": "A"}}',
        '{"steps": [1, 2]}',
        '{"steps": [{"title": "A", "kind": "work"}]}',
        '{"steps": [{"kind": "work", "instruction": "I"}]}',
        '```json\n{"steps": [{"title": "A", "kind": "work", "instruction": "I"}]}\n```',
    ],
)
def test_an_unreadable_plan_falls_back_to_one_step_and_says_why(text: str) -> None:
    plan, problem = parse_plan(text, REQUEST)
    assert plan == single_step(REQUEST, fast=False)
    assert problem is not None
    assert problem.startswith("the plan could not be read (")


def test_an_empty_plan_falls_back_to_one_step() -> None:
    plan, problem = parse_plan('{"steps": []}', REQUEST)
    assert plan == single_step(REQUEST, fast=False)
    assert problem == "the plan had no steps"


# --- the schema and the prompt ---------------------------------------------------------------


def test_the_schema_matches_what_parse_plan_reads() -> None:
    items = PLAN_SCHEMA["properties"]["steps"]
    assert PLAN_SCHEMA["required"] == ["steps"]
    assert items["type"] == "array"
    assert (items["minItems"], items["maxItems"]) == (1, MAX_STEPS)
    assert items["items"]["required"] == ["title", "kind", "instruction"]
    assert items["items"]["properties"]["kind"]["enum"] == list(STEP_KINDS)
    assert items["items"]["properties"]["title"]["maxLength"] == 80


def test_the_prompt_names_the_step_limit_and_every_kind() -> None:
    prompt = PLAN_PROMPT.format(max_steps=MAX_STEPS)
    assert f"at most {MAX_STEPS} steps" in prompt
    for kind in STEP_KINDS:
        assert f"'{kind}'" in prompt
    assert "JSON only" in prompt
