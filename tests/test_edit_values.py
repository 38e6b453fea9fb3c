"""Value-level frontmatter edits (`edit_values`) and the budgets/roles/routing forms' writer
(`policy_edit`): only the changed values' text moves, comments and the rest stay."""

from __future__ import annotations

import pytest

from cairn.core.workspace.edit import EditError
from cairn.core.workspace.edit_values import REMOVE, frontmatter_data, set_values
from cairn.core.workspace.policy_edit import edit_policy, policy_settings

POLICY = """\
---
name: Test   # a comment on the name
models:
  small:
    engine: local
    path: small.gguf
  big:
    engine: litellm
    model: openai/gpt-4o-mini
# roles, in block style
roles:
  worker:
    - big      # first choice
    - small
  local: [small]   # never leaves the machine
routing:
  work: worker
  sensitive: local
budgets:
  task: {tokens: 1000, usd: 0.50}
  day:
    usd: 5.00        # a day's spend
  warn_at: 0.8   # warn early
---
# Body

Text that stays.
"""


def test_a_scalar_in_a_flow_mapping_changes_alone() -> None:
    edited = set_values(POLICY, {("budgets", "task", "usd"): 1.25})
    assert edited == POLICY.replace("usd: 0.50}", "usd: 1.25}")


def test_keys_are_added_beside_their_siblings_in_their_style() -> None:
    edited = set_values(
        POLICY,
        {
            ("budgets", "task", "minutes"): 20,
            ("budgets", "day", "tokens"): 9000,
            ("budgets", "automation_run"): {"usd": 0.1},
        },
    )
    assert "  task: {tokens: 1000, usd: 0.50, minutes: 20}\n" in edited
    assert "    usd: 5.00        # a day's spend\n    tokens: 9000\n" in edited
    assert "  warn_at: 0.8   # warn early\n  automation_run: {usd: 0.1}\n---\n" in edited
    assert frontmatter_data(edited)["budgets"]["automation_run"] == {"usd": 0.1}


def test_removals_take_their_comma_or_their_lines() -> None:
    edited = set_values(
        POLICY, {("budgets", "task", "tokens"): REMOVE, ("routing", "sensitive"): REMOVE}
    )
    assert "  task: {usd: 0.50}\n" in edited
    assert "routing:\n  work: worker\nbudgets:" in edited
    only = set_values(POLICY, {("budgets", "day", "usd"): REMOVE})
    assert "  day:\n    {}\n  warn_at" in only  # still a mapping, and its comment went with it
    assert frontmatter_data(only)["budgets"]["day"] == {}


def test_a_block_list_is_rewritten_in_block_style() -> None:
    edited = set_values(POLICY, {("roles", "worker"): ["small", "big"]})
    assert "  worker:\n    - small\n    - big\n  local: [small]   # never" in edited
    assert frontmatter_data(edited)["roles"]["worker"] == ["small", "big"]


def test_crlf_and_missing_keys() -> None:
    crlf = POLICY.replace("\n", "\r\n")
    edited = set_values(crlf, {("budgets", "task", "minutes"): 3, ("plan_approval",): "never"})
    assert "\n" not in edited.replace("\r\n", "")
    assert edited.endswith("plan_approval: never\r\n---\r\n# Body\r\n\r\nText that stays.\r\n")
    assert set_values("Just a body.\n", {("budgets", "day", "usd"): 1}) == (
        "---\nbudgets:\n  day:\n    usd: 1\n---\nJust a body.\n"
    )


def test_unchanged_settings_leave_the_text_as_it_was() -> None:
    settings = policy_settings(POLICY)
    assert settings.budgets["task"] == {"tokens": 1000, "usd": 0.5, "minutes": None}
    assert settings.roles == {"worker": ("big", "small"), "local": ("small",)}
    same = edit_policy(
        POLICY,
        budgets=settings.budgets,
        warn_at=settings.warn_at,
        roles=settings.roles,
        routing=settings.routing,
    )
    assert same == POLICY  # 0.50 is still written 0.50


def test_policy_edits_must_name_what_exists() -> None:
    with pytest.raises(EditError, match="role 'local' names nope"):
        edit_policy(POLICY, roles={"worker": ["big"], "local": ["nope"]})
    with pytest.raises(EditError, match="routed to role 'gone'"):
        edit_policy(POLICY, routing={"work": "gone"})
    with pytest.raises(EditError, match="role 'local' is still used by routing 'sensitive'"):
        edit_policy(POLICY, roles={"worker": ["big"]})
    with pytest.raises(EditError, match=r"budgets\.task\.tokens"):
        edit_policy(POLICY, budgets={"task": {"tokens": -5}})
    moved = edit_policy(POLICY, roles={"worker": ["big"]}, routing={"work": "worker"})
    assert "local: [small]" not in moved and "sensitive: local" not in moved
    assert "# roles, in block style" in moved and "Text that stays." in moved
