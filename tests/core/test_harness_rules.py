"""The harness's pure rules: eval files and checks, weakness mining, proposals, the critic
and the gate (cairn.core.harness)."""

from __future__ import annotations

import json

import pytest

from cairn.core.engine import Usage
from cairn.core.harness import critic, gate
from cairn.core.harness.checks import FoundFile, Observation, judge, observe
from cairn.core.harness.evals import default_split, parse_eval
from cairn.core.harness.mining import EvalFailure, digest, matching_skills, mine
from cairn.core.harness.proposals import Proposal, ProposalError, apply_edit, from_tool_call
from cairn.core.tasks.events import (
    ApprovalDecided,
    GuardStopped,
    TaskFailed,
    TaskFinished,
    ToolCalled,
    ToolResult,
)

CASE = b"""---
description: a reply lands in drafts
space: team
checks:
  - file: spaces/team/drafts/*.md
    matches: "(?i)thursday"
  - answer: "(?i)saved"
  - tool_used: write_file
  - tool_not_used: ask_user
  - no_approval: true
  - max_cost_usd: 0.01
  - max_tokens: 500
---
Draft a reply moving the review to Thursday and save it in drafts.
"""


def case(raw: bytes = CASE, path: str = "evals/replies/thursday.md"):
    parsed, problems = parse_eval(path, raw)
    assert parsed is not None, [p.message for p in problems]
    return parsed


# --- eval files ---------------------------------------------------------------------------


def test_an_eval_file_is_a_request_and_its_checks() -> None:
    found = case()
    assert found.name == "replies/thursday" and found.suite == "replies"
    assert found.request.startswith("Draft a reply") and found.space == "team"
    assert [c.kind for c in found.checks] == [
        "file",
        "answer",
        "tool_used",
        "tool_not_used",
        "no_approval",
        "max_cost_usd",
        "max_tokens",
    ]
    assert found.split == default_split("replies/thursday")
    assert found.plan == "never"


@pytest.mark.parametrize(
    ("frontmatter", "said"),
    [
        ("checks: []", "no checks"),
        ("checks:\n  - answer: '('", "not a regular expression"),
        ("checks:\n  - file: x.md\n    matches: '['", "not a regular expression"),
        ("checks:\n  - answer: a\n    tool_used: b", "exactly one"),
        ("checks:\n  - wat: 1", "exactly one"),
        ("checks:\n  - tool_used: x\n    extra: 1", "unknown key 'extra'"),
        ("checks:\n  - max_cost_usd: lots", "a number"),
        ("checks:\n  - no_approval: false", "no_approval: true"),
        ("checks:\n  - answer: a\nsplit: test", "neither train nor held-out"),
        ("checks: {answer: a}", "must be a list"),
        ("checks:\n  - file: .", "a path inside the workspace"),
        ("checks:\n  - file: ../outside.md", "a path inside the workspace"),
        ("checks:\n  - file: /etc/passwd", "a path inside the workspace"),
        ("checks:\n  - file: notes**.md", "whole folder name"),
        ("checks:\n  - file: x.json\n    schema: 5", "schema must be a mapping"),
        ("checks:\n  - file: x.json\n    schema: {type: 7}", "the schema is not valid"),
        ("spaec: team\nchecks:\n  - answer: a", "unknown key 'spaec' (did you mean 'space'?)"),
        ("checks:\n  - file: x.md\n    exists: 'false'", "write `exists: true` or `exists: false`"),
        ("checks:\n  - file: x.md\n    exists: false\n    matches: a", "cannot be combined"),
        ("connectors: maybe\nchecks:\n  - answer: a", "connectors: true"),
        ("checks:\n  - answer: ''", "non-empty text"),
        ("space: [a, b]\nchecks:\n  - answer: a", "`space:` must be text"),
        (
            "checks:\n  - file: x.md\n    matchs: a",
            "unknown key 'matchs' (did you mean 'matches'?)",
        ),
    ],
)
def test_a_bad_eval_file_says_what_is_wrong(frontmatter: str, said: str) -> None:
    parsed, problems = parse_eval("evals/bad.md", f"---\n{frontmatter}\n---\nDo it.\n".encode())
    assert parsed is None
    assert said in problems[-1].message and problems[-1].path == "evals/bad.md"


def test_a_problem_points_at_its_line() -> None:
    raw = b"---\ndescription: d\nchecks:\n  - answer: a\n  - answer: '('\n---\nx\n"
    _, problems = parse_eval("evals/lines.md", raw)
    assert problems[-1].line == 5 and "check 2" in problems[-1].message


def test_an_eval_with_no_task_is_refused() -> None:
    parsed, problems = parse_eval("evals/empty.md", b"---\nchecks:\n  - answer: a\n---\n\n")
    assert parsed is None and "no task" in problems[-1].message


def test_the_split_is_stable_and_holds_out_about_a_third() -> None:
    names = [f"case-{n}" for n in range(300)]
    held = [n for n in names if default_split(n) == "held-out"]
    assert 70 < len(held) < 130
    assert [default_split(n) for n in names] == [default_split(n) for n in names]


# --- checks -------------------------------------------------------------------------------


def files(found: dict[str, bytes], before: frozenset[str] = frozenset()):
    """A file finder over `found`; the paths in `before` were there before the task."""
    import fnmatch

    return lambda pattern: [
        FoundFile(p, d, p not in before) for p, d in found.items() if fnmatch.fnmatch(p, pattern)
    ]


def test_every_check_holds_for_a_run_that_did_the_job() -> None:
    seen = Observation(
        "finished",
        answer="Saved the draft.",
        tools=("write_file",),
        input_tokens=300,
        output_tokens=100,
        cost_usd=0.001,
    )
    verdict = judge(case(), seen, files({"spaces/team/drafts/r.md": b"See you Thursday"}))
    assert verdict.passed, verdict.failures


def test_each_check_fails_for_its_own_reason() -> None:
    seen = Observation(
        "finished",
        answer="Done.",
        tools=("ask_user",),
        approvals=1,
        input_tokens=900,
        cost_usd=0.5,
    )
    verdict = judge(case(), seen, files({"spaces/team/drafts/r.md": b"See you Friday"}))
    failed = {r.check.split(":")[0].split(" ")[0]: r.detail for r in verdict.failures}
    assert set(failed) == {
        "file",
        "answer",
        "tool_used",
        "tool_not_used",
        "no_approval",
        "max_cost_usd",
        "max_tokens",
    }
    assert "Friday" in failed["file"] and "Done." in failed["answer"]
    assert failed["no_approval"] == "1 actions needed approval"


def test_a_file_that_was_there_before_the_task_does_not_count() -> None:
    seen = Observation("finished", answer="Saved.", tools=("write_file",))
    old = files(
        {"spaces/team/drafts/r.md": b"See you Thursday"}, frozenset({"spaces/team/drafts/r.md"})
    )
    failed = {r.check: r.detail for r in judge(case(), seen, old).failures}
    assert (
        "a file that was there before does not count"
        in failed["file spaces/team/drafts/*.md (matches: (?i)thursday)"]
    )


def test_a_task_that_did_not_finish_fails_whatever_the_checks_say() -> None:
    seen = Observation("failed", reason="guard: too many steps", answer="")
    only = parse_eval("evals/x.md", b"---\nchecks:\n  - answer_not: nope\n---\nx\n")[0]
    assert only is not None
    verdict = judge(only, seen, files({}))
    assert not verdict.passed
    assert verdict.failures[0].check == "the task finished"
    assert "too many steps" in verdict.failures[0].detail


def test_file_checks_for_json_schema_absence_and_unwanted_text() -> None:
    raw = b"""---
checks:
  - file: out/data.json
    schema: {type: object, required: [total], properties: {total: {type: integer}}}
  - file: out/secret.txt
    exists: false
  - file: agents.md
    not_matches: "(?i)reviewed"
---
Write the totals.
"""
    found = case(raw, "evals/json.md")
    seen = Observation("finished")
    good = files(
        {"out/data.json": b'{"total": 3}', "agents.md": b"rules"}, frozenset({"agents.md"})
    )
    assert judge(found, seen, good).passed
    bad = files(
        {"out/data.json": b'{"total": "3"}', "out/secret.txt": b"x", "agents.md": b"Reviewed"}
    )
    details = [r.detail for r in judge(found, seen, bad).failures]
    assert "does not match the schema" in details[0]
    assert details[1] == "out/secret.txt exists"
    assert details[2] == "agents.md contains 'Reviewed'"  # written or not, it must not say it
    not_json = files({"out/data.json": b"{oops", "agents.md": b"rules"})
    assert "is not JSON" in judge(found, seen, not_json).failures[0].detail


def test_observe_sums_what_the_events_say() -> None:
    events = [
        Usage(100, 20, 0.002),
        ToolCalled("c1", "read_file", {"path": "a.md"}, "allow"),
        ToolResult("c1", "read_file", False, "not found"),
        ApprovalDecided("r1", False, "--no-approve"),
        GuardStopped("loop breaker", "again"),
        Usage(50, 10, None),
        TaskFinished("t", "the answer", 150, 30, 0.002),
    ]
    seen = observe(events, 2.5)
    assert (seen.status, seen.answer, seen.tools) == ("finished", "the answer", ("read_file",))
    assert (seen.failed_tools, seen.approvals, seen.tokens) == (1, 1, 180)
    assert seen.cost_usd == pytest.approx(0.002) and seen.guards == ("loop breaker: again",)
    assert observe([TaskFailed("t", "no model", "routing")]).reason == "routing: no model"


# --- mining -------------------------------------------------------------------------------


def record(event: str, **data: object) -> dict[str, object]:
    return {"event": event, **data}


def test_mining_groups_failures_into_patterns() -> None:
    looping = [
        record("task_started", request="Draft a reply to Sam", skill=None),
        record("routed", decision={"sensitive": False}),
        record("tool_called", call_id="1", name="read_file", arguments={"path": "x"}),
        record("tool_result", call_id="1", name="read_file", ok=False, output="x: not found"),
        record("tool_called", call_id="2", name="read_file", arguments={"path": "x"}),
        record("tool_result", call_id="2", name="read_file", ok=False, output="x: not found"),
        record("guard_stopped", guard="loop breaker", reason="read_file 3 times"),
        record(
            "tool_result",
            call_id="3",
            name="wrte",
            ok=False,
            output="there is no tool 'wrte'; tools: a",
        ),
        record("tool_result", call_id="4", name="write_file", ok=True, output="ok", path="d/a.md"),
        record("guard_stopped", guard="context budget", reason="over 60%"),
        record("budget_warning", verdict={"reason": "80% of the day's tokens"}),
        record("task_finished", answer="done"),
    ]
    private = [
        record("task_started", request="Plan my week", skill=None),
        record("routed", decision={"sensitive": True}),
        record("guard_stopped", guard="step limit", reason="12 model calls"),
        record("task_failed", kind="context", reason="window full"),
    ]
    failure = EvalFailure("drafts/x", "Draft it", ("answer: nope",), sensitive=False)
    found = mine(
        {"t1": looping, "t2": private},
        skills={"draft-a-reply": "Drafts replies", "weekly-review": "Reviews the week"},
        eval_failures=[failure],
    )
    keys = {w.key: w for w in found}
    assert {
        "loop",
        "failing_calls:read_file",
        "invalid_calls:wrte",
        "context_overflow",
        "skipped_verification",
        "skill_unused:draft-a-reply",
        "budget_pause",
        "eval_failed:drafts/x",
    } == set(keys)
    assert keys["loop"].tasks == ("t1", "t2") and keys["loop"].sensitive
    assert keys["context_overflow"].sensitive  # t2's evidence came from a sensitive task
    assert not keys["skill_unused:draft-a-reply"].sensitive
    assert found[0].key in ("loop", "context_overflow")  # two tasks each: first
    text = digest(found, traces=2, evals=1)
    assert "(sensitive)" in text and "Loops" in text and "`t2`" in text


def test_damaged_records_and_early_failures_are_read_safely() -> None:
    damaged = [
        record("task_started", request="x", space="team"),
        record("routed", decision="not a mapping"),
        record("tool_called", call_id="1", name="read_file", arguments="not a mapping"),
        record("budget_warning", verdict="not a mapping"),
        "not a record at all",
    ]
    found = mine({"t": damaged})  # type: ignore[dict-item]
    assert [w.key for w in found] == ["budget_pause"]
    # A task that never reached the router, or ran in a private space, is sensitive.
    never_routed = [
        record("task_started", request="x", space="team"),
        record("task_failed", kind="budget", reason="paused"),
    ]
    assert mine({"t": never_routed})[0].sensitive
    private = [
        record("task_started", request="x", space="me"),
        record("routed", decision={"sensitive": False}),
        record("task_failed", kind="budget", reason="paused"),
    ]
    assert mine({"t": private}, private_spaces=["me"])[0].sensitive
    assert not mine({"t": private})[0].sensitive


def test_a_skill_that_was_loaded_or_does_not_match_is_not_unused() -> None:
    loaded = [
        record("task_started", request="Draft a reply", skill=None),
        record("tool_called", call_id="1", name="load_skill", arguments={"name": "draft-a-reply"}),
    ]
    assert mine({"t": loaded}, skills={"draft-a-reply": ""}) == []
    assert matching_skills("reply later", {"draft-a-reply": ""}) == []
    assert matching_skills("My morning briefs, please", {"morning-brief": ""}) == ["morning-brief"]


# --- proposals ----------------------------------------------------------------------------

AGENTS = (
    "---\r\nname: t\r\nroles:\r\n  worker: [m]\r\n  fast: [m]\r\nmodels:\r\n  m: {engine: litellm, "
    "model: openai/x}\r\nrouting:\r\n  work: worker\r\nharness:\r\n  max_repeats: 3   # kept\r\n"
    "---\r\nBe brief.  \r\nCite files.\r\n"
)


def test_an_edit_changes_only_its_passage() -> None:
    proposal = from_tool_call(
        "loop",
        "edit_file",
        {"file": "agents.md", "find": "Cite files.", "replace": "Cite files by path.", "why": "w"},
    )
    after = apply_edit(AGENTS, proposal)
    assert after == AGENTS.replace("Cite files.", "Cite files by path.")
    assert (
        proposal.id
        == from_tool_call(
            "loop",
            "edit_file",
            {
                "file": "agents.md",
                "find": "Cite files.",
                "replace": "Cite files by path.",
                "why": "other",
            },
        ).id
    )


def test_a_setting_changes_only_its_value() -> None:
    proposal = from_tool_call(
        "loop", "change_setting", {"setting": "harness.max_repeats", "value": 2, "why": "w"}
    )
    assert apply_edit(AGENTS, proposal) == AGENTS.replace("max_repeats: 3 ", "max_repeats: 2 ")
    routing = from_tool_call(
        "x", "change_setting", {"setting": "routing.work", "value": "fast", "why": ""}
    )
    assert "work: fast" in apply_edit(AGENTS, routing)


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"file": "agents.md", "find": "missing", "replace": "x"}, "does not occur"),
        ({"file": "agents.md", "find": "e", "replace": "x"}, "occurs"),
        ({"file": "agents.md", "find": "Be brief.", "replace": "Be brief."}, "changes nothing"),
        ({"file": "agents.md", "find": "name: t", "replace": "name: u"}, "change_setting"),
        ({"setting": "harness.max_loops", "value": 2}, "not a harness setting"),
        ({"setting": "harness.max_repeats", "value": 99}, "not be valid"),
        ({"setting": "permissions.0", "value": "allow"}, "only harness.KEY and routing.KIND"),
        ({"setting": "budgets.task", "value": 1}, "only harness.KEY and routing.KIND"),
        ({"setting": "routing.work", "value": "nobody"}, "not a role"),
        ({"setting": "harness.max_repeats", "value": 3}, "already"),
    ],
)
def test_a_proposal_that_cannot_apply_says_why(arguments: dict[str, object], said: str) -> None:
    tool = "change_setting" if "setting" in arguments else "edit_file"
    with pytest.raises(ProposalError, match=said):
        apply_edit(AGENTS, from_tool_call("p", tool, {**arguments, "why": "w"}))


@pytest.mark.parametrize(
    ("path", "text", "find", "replace"),
    [
        (
            "operators/lens.md",
            "---\ndescription: d\nsensitive: true\n---\nLook.\n",
            "sensitive: true",
            "sensitive: false",
        ),
        (
            "skills/s/SKILL.md",
            "---\nname: s\ndescription: d\n---\nStep.\n",
            "description: d\n",
            "description: d\nrouting:\n  work: cloud\n",
        ),
        ("agents.md", "---\nbudgets:\n  day: {usd: 1}\n---", "usd: 1", "usd: 1000"),
        (
            "AGENTS.md",
            "# Instructions\nBe kind.\n",
            "# Instructions\n",
            "---\nbudgets: {day: {usd: 9}}\n---\n# Instructions\n",
        ),
    ],
)
def test_no_edit_reaches_a_files_frontmatter(path: str, text: str, find: str, replace: str) -> None:
    with pytest.raises(ProposalError, match="never a file's frontmatter"):
        apply_edit(text, Proposal("i", "p", "w", path, find=find, replace=replace))


def test_protected_routing_kinds_and_odd_paths() -> None:
    for kind in ("sensitive", "approval", "memory", "improve"):
        proposal = from_tool_call(
            "p", "change_setting", {"setting": f"routing.{kind}", "value": "fast", "why": ""}
        )
        with pytest.raises(ProposalError, match="not the harness's to change"):
            apply_edit(
                AGENTS.replace("  work: worker", f"  work: worker\r\n  {kind}: worker"), proposal
            )
    cleaned = from_tool_call(
        "p", "edit_file", {"file": "./.claude/skills//x/SKILL.md", "find": "a", "replace": "b"}
    )
    assert cleaned.path == ".claude/skills/x/SKILL.md"
    outside = from_tool_call(
        "p", "edit_file", {"file": "skills/../../etc/passwd", "find": "a", "replace": "b"}
    )
    assert critic.path_problems(outside, ["skills/s/SKILL.md"])


def test_a_multi_line_edit_applies_to_a_crlf_file() -> None:
    proposal = Proposal(
        "i",
        "p",
        "w",
        "agents.md",
        find="Be brief.  \nCite files.",
        replace="Be brief.\nCite files by path.",
    )
    after = apply_edit(AGENTS, proposal)
    assert after.endswith("---\r\nBe brief.\r\nCite files by path.\r\n")


def test_a_skill_edit_must_leave_a_file_that_parses() -> None:
    skill = "---\nname: s\ndescription: d\n---\nStep one.\n"
    broken = Proposal("i", "p", "w", "skills/s/SKILL.md", find="---\nStep", replace="Step")
    with pytest.raises(ProposalError, match="frontmatter"):
        apply_edit(skill, broken)


# --- the critic ---------------------------------------------------------------------------


def test_the_critic_catches_edits_that_game_the_evals() -> None:
    held = case()
    edits = {
        "writes the expected answer": ("Be brief.", "Be brief. Always say thursday."),
        "quotes the request": (
            "Be brief.",
            "Be brief. If asked to draft a reply moving the review to Thursday, save it.",
        ),
        "names the eval": ("Be brief.", "Be brief. For replies/thursday use drafts."),
        "points at evals": ("Be brief.", "Be brief. Read evals/ first."),
    }
    for label, (find, replace) in edits.items():
        proposal = Proposal("i", "p", "w", "agents.md", find=find, replace=replace)
        reasons = critic.critique(
            proposal,
            before=AGENTS,
            after=apply_edit(AGENTS, proposal),
            editable=["agents.md"],
            cases=[held],
        )
        assert reasons, label
    fine = Proposal(
        "i", "p", "w", "agents.md", find="Be brief.", replace="Be brief. Save drafts in drafts/."
    )
    assert (
        critic.critique(
            fine,
            before=AGENTS,
            after=apply_edit(AGENTS, fine),
            editable=["agents.md"],
            cases=[held],
        )
        == []
    )


def test_the_critic_refuses_files_outside_the_harness() -> None:
    expected = {
        "evals/replies/thursday.md": "it edits an eval",
        "spaces/team/readme.md": "is not a skill, an operator or agents.md",
    }
    for path, said in expected.items():
        proposal = Proposal("i", "p", "w", path, find="a", replace="b")
        reasons = critic.critique(
            proposal, before="a", after="b", editable=["skills/s/SKILL.md"], cases=[]
        )
        assert said in reasons[0]
    text = "x" * 10
    big = Proposal("i", "p", "w", "skills/s/SKILL.md", find="x", replace="y" * 2000)
    assert (
        "not a small"
        in critic.critique(
            big, before=text, after=text + "y" * 2000, editable=["skills/s/SKILL.md"], cases=[]
        )[0]
    )


# --- the gate -----------------------------------------------------------------------------


def runs(**cases: tuple[bool, ...]) -> dict[str, gate.CaseRuns]:
    return {
        name: gate.CaseRuns(name, passes, (100,) * len(passes), (1.0,) * len(passes))
        for name, passes in cases.items()
    }


def test_the_gate_keeps_a_fix_that_regresses_nothing() -> None:
    verdict = gate.judge(
        runs(a=(False, False), b=(True, True)), runs(a=(True, True), b=(True, True))
    )
    assert verdict.kept and verdict.fixed == ("a",) and verdict.delta == pytest.approx(0.5)


def test_the_gate_rejects_a_regression_even_with_a_fix() -> None:
    verdict = gate.judge(
        runs(a=(False, False), b=(True, True)), runs(a=(True, True), b=(True, False))
    )
    assert not verdict.kept and verdict.regressed == ("b",) and "regresses b" in verdict.reason


def test_fixes_count_on_held_out_cases_and_regressions_everywhere() -> None:
    before = runs(held=(False,), train=(True,), other=(False,))
    only_train_fixed = gate.judge(
        before, runs(held=(False,), train=(True,), other=(True,)), {"held"}
    )
    assert (
        not only_train_fixed.kept and only_train_fixed.reason == "it fixes no failing held-out case"
    )
    train_broken = gate.judge(before, runs(held=(True,), train=(False,), other=(False,)), {"held"})
    assert not train_broken.kept and train_broken.regressed == ("train",)
    good = gate.judge(before, runs(held=(True,), train=(True,), other=(False,)), {"held"})
    assert good.kept and (good.before_rate, good.after_rate) == (0.0, 1.0)


def test_the_gate_wants_a_case_fixed_on_every_run() -> None:
    half = gate.judge(runs(a=(False, False)), runs(a=(True, False)))
    assert not half.kept and half.reason == "it fixes no failing held-out case"
    flaky_fixed = gate.judge(runs(a=(True, False)), runs(a=(True, True)))
    assert flaky_fixed.kept


def test_the_gate_refuses_what_it_cannot_compare() -> None:
    assert not gate.judge({}, {}).kept
    assert "did not run" in gate.judge(runs(a=(False,)), {}).reason
    assert "repeat counts" in gate.judge(runs(a=(False,)), runs(a=(True, True))).reason


def test_case_runs_show_their_spread() -> None:
    shown = gate.CaseRuns("a", (True, False, True), (100, 120, 110), (1.0, 1.2, 1.1)).shown()
    assert shown == "2/3 passed, 110 ± 10 tokens, 1.1 ± 0.1 s"
    assert json.dumps(shown)
