""" "Always allow" inserts one rule before the rule that decides the call, keeping every
other byte of agents.md, and the call is then allowed by the rules as read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.core.tasks.allow_rule import add_allow_rule, always_allow
from cairn.core.tasks.approvals import check_permission
from cairn.core.workspace.documents import parse_document
from cairn.core.workspace.edit import EditError
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import PermissionRule
from cairn.infra.files import LocalFileStore

FLOW = """---
name: x
# Evaluated top to bottom.
permissions:
  - {tool: read_file, decision: allow}
  - {tool: "*", action: write, path: "agents.md", decision: deny}   # only you edit it
  # Anything else that writes asks.
  - {tool: write_file, decision: ask}
  - {tool: append_file, decision: ask}

budgets:
  task: {usd: 0.5}
---
Body stays.
"""

BLOCK = """---
permissions:
  - tool: read_file
    decision: allow
  - tool: write_file
    path: "spaces/*/drafts/**"
    decision: allow   # drafts are fine
  # trailing note under the list
name: y
---
"""


def rules(text: str) -> list[PermissionRule]:
    doc, problems = parse_document("agents.md", text.encode())
    assert doc is not None and not problems
    return [PermissionRule.model_validate(r) for r in doc.frontmatter["permissions"]]


def test_the_rule_goes_above_the_rule_that_decided_and_its_comment() -> None:
    edited, index = add_allow_rule(FLOW, "write_file", "spaces/team/notes.md", comment="from app")
    assert index == 2
    expected = FLOW.replace(
        "  # Anything else",
        "  # from app\n  - {tool: write_file, path: spaces/team/notes.md, decision: allow}\n"
        "  # Anything else",
    )
    assert edited == expected
    check = check_permission(
        rules(edited), "write_file", action="write", path="spaces/team/notes.md"
    )
    assert check.decision == "allow" and check.rule == 2
    # Other paths still ask, and the deny rule above still wins for agents.md.
    assert (
        check_permission(rules(edited), "write_file", action="write", path="b.md").decision == "ask"
    )
    assert (
        check_permission(rules(edited), "write_file", action="write", path="agents.md").decision
        == "deny"
    )


def test_a_call_no_rule_decides_gets_its_rule_at_the_end_of_a_block_list() -> None:
    edited, index = add_allow_rule(BLOCK, "append_file", "spaces/team/log.md")
    assert index == 2
    assert edited == BLOCK.replace(
        "  # trailing note under the list\n",
        "  # trailing note under the list\n"
        "  - tool: append_file\n    path: spaces/team/log.md\n    decision: allow\n",
    )
    found = check_permission(
        rules(edited), "append_file", action="write", path="spaces/team/log.md"
    )
    assert found.decision == "allow"


def test_a_call_without_a_path_gets_a_tool_rule() -> None:
    text = "---\npermissions:\n  - {tool: '*', decision: ask}\n---\n"
    edited, index = add_allow_rule(text, "ask_user", None)
    assert index == 0
    rule = "  - {tool: ask_user, decision: allow}\n"
    assert edited == text.replace("  - {tool: '*'", rule + "  - {tool: '*'")


def test_crlf_and_missing_or_one_line_lists() -> None:
    crlf = FLOW.replace("\n", "\r\n")
    edited, _ = add_allow_rule(crlf, "write_file", "a.md")
    assert "\r\n  - {tool: write_file, path: a.md, decision: allow}\r\n" in edited
    assert "\n" not in edited.replace("\r\n", "")
    none, index = add_allow_rule("---\nname: z\n---\nBody\n", "write_file", "a.md")
    assert index == 0 and rules(none)[0].path == "a.md" and none.endswith("---\nBody\n")
    flow, index = add_allow_rule(
        "---\npermissions: [{tool: write_file, decision: ask}]\n---\n", "write_file", "a.md"
    )
    assert index == 0 and [r.decision for r in rules(flow)] == ["allow", "ask"]


def test_refusals_change_nothing() -> None:
    with pytest.raises(EditError):
        add_allow_rule(FLOW, "write_file", "spaces/*/x.md")  # would be a wildcard
    with pytest.raises(EditError):
        add_allow_rule("---\npermissions: {a: 1}\n---\n", "write_file", "a.md")
    with pytest.raises(EditError):
        add_allow_rule("---\npermissions:\n  - {decision: allow}\n---\n", "write_file", "a.md")


def test_always_allow_writes_the_starter_policy_through_the_model(starter: Path) -> None:
    before = (starter / "agents.md").read_text()
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    added = always_allow(model, "write_file", "spaces/team/notes.md")
    after = (starter / "agents.md").read_text()
    assert added.file == "agents.md" and "write_file on spaces/team/notes.md" in added.describe()
    new_line = "  - {tool: write_file, path: spaces/team/notes.md, decision: allow}\n"
    assert after == before.replace(
        "  - {tool: write_file, decision: ask}\n",
        new_line + "  - {tool: write_file, decision: ask}\n",
    )
    # The model already holds the new rule: a running task sees it on its next call.
    assert model.workspace.agents is not None
    permissions = model.workspace.agents.policy.permissions
    assert (
        check_permission(
            permissions, "write_file", action="write", path="spaces/team/notes.md"
        ).decision
        == "allow"
    )
