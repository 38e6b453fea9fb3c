"""The settings a person edits in agents.md — budgets, roles, routing — read and written.

`policy_settings` reads them from the file's text; `edit_policy` writes new ones back
through `edit_values`, so only the values that really changed are touched (an unchanged
`0.50` stays `0.50`; a comment beside a limit stays). Before anything is returned the
result must validate as agents.md does, and a role or route the edit names must exist:
a form cannot save a file the loader would then reject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cairn.core.workspace.edit import EditError
from cairn.core.workspace.edit_values import REMOVE, KeyPath, frontmatter_data, set_values
from cairn.core.workspace.schema import AgentsPolicy

BUDGET_SCOPES = ("task", "automation_run", "day")
BUDGET_FIELDS = ("tokens", "usd", "minutes")
STEP_KINDS = ("plan", "work", "summarise", "sensitive", "approval", "memory")
"""The step kinds Cairn routes; agents.md may route others too."""

Limits = Mapping[str, Mapping[str, float | int | None] | None]


@dataclass(frozen=True)
class PolicySettings:
    """What the settings forms show: plain values, as the file holds them."""

    models: tuple[str, ...]
    budgets: dict[str, dict[str, float | int | None]]  # scope -> field -> value or None
    warn_at: float | None
    roles: dict[str, tuple[str, ...]]
    routing: dict[str, str]


def policy_settings(text: str) -> PolicySettings:
    """Budgets, roles and routing as `text`'s frontmatter has them."""
    data = frontmatter_data(text)
    policy = _validated(data)
    budgets: dict[str, dict[str, float | int | None]] = {}
    for scope in BUDGET_SCOPES:
        limit = getattr(policy.budgets, scope)
        budgets[scope] = {
            field: getattr(limit, field) if limit else None for field in BUDGET_FIELDS
        }
    warn_at = _budgets(data).get("warn_at")
    return PolicySettings(
        models=tuple(policy.models),
        budgets=budgets,
        warn_at=float(warn_at) if isinstance(warn_at, int | float) else None,
        roles={name: tuple(models) for name, models in policy.roles.items()},
        routing=dict(policy.routing),
    )


def edit_policy(
    text: str,
    *,
    budgets: Limits | None = None,
    warn_at: Any = REMOVE,
    roles: Mapping[str, Sequence[str]] | None = None,
    routing: Mapping[str, str] | None = None,
) -> str:
    """`text` with the given settings; those not given (None) are left alone.

    `budgets` maps a scope to its limits (a limit of None is no limit; a scope with none is
    removed); `warn_at` None removes it, and leaving it out keeps it. `roles` and `routing`
    are the whole mappings wanted: a role or route missing from them is removed.
    """
    data = frontmatter_data(text)
    changes: dict[KeyPath, Any] = {}
    if budgets is not None:
        changes.update(_budget_changes(_budgets(data), budgets))
    if warn_at is not REMOVE:
        current = _budgets(data).get("warn_at")
        if warn_at is None and "warn_at" in _budgets(data):
            changes["budgets", "warn_at"] = REMOVE
        elif warn_at is not None and current != warn_at:
            changes["budgets", "warn_at"] = warn_at
    if roles is not None:
        wanted = {name: list(models) for name, models in roles.items()}
        changes.update(_mapping_changes("roles", _section(data, "roles"), wanted))
    if routing is not None:
        changes.update(_mapping_changes("routing", _section(data, "routing"), dict(routing)))
    if not changes:
        return text
    edited = set_values(text, changes)
    policy = _validated(frontmatter_data(edited))
    _check_references(policy, changes)
    return edited


def _budgets(data: Mapping[str, Any]) -> dict[str, Any]:
    value = data.get("budgets")
    return value if isinstance(value, dict) else {}


def _section(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _budget_changes(current: Mapping[str, Any], wanted: Limits) -> dict[KeyPath, Any]:
    changes: dict[KeyPath, Any] = {}
    for scope, limits in wanted.items():
        if scope not in BUDGET_SCOPES:
            raise EditError(
                f"'{scope}' is not a budget; the budgets are {', '.join(BUDGET_SCOPES)}"
            )
        given = {k: v for k, v in (limits or {}).items() if v is not None}
        have = current.get(scope)
        if not given:
            if scope in current:
                changes["budgets", scope] = REMOVE
            continue
        if not isinstance(have, dict):
            changes["budgets", scope] = given
            continue
        for field in BUDGET_FIELDS:
            if field in given and have.get(field) != given[field]:
                changes["budgets", scope, field] = given[field]
            elif field not in given and field in have:
                changes["budgets", scope, field] = REMOVE
    return changes


def _mapping_changes(
    key: str, current: Mapping[str, Any], wanted: Mapping[str, Any]
) -> dict[KeyPath, Any]:
    changes: dict[KeyPath, Any] = {}
    for name in current:
        if name not in wanted:
            changes[key, name] = REMOVE
    for name, value in wanted.items():
        have = current.get(name)
        same = (
            list(have) == value
            if isinstance(value, list) and isinstance(have, list)
            else have == value
        )
        if not same:
            changes[key, name] = value
    return changes


def _validated(data: Mapping[str, Any]) -> AgentsPolicy:
    try:
        return AgentsPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise EditError(f"{where}: {first['msg']}") from exc


def _check_references(policy: AgentsPolicy, changes: Mapping[KeyPath, Any]) -> None:
    """A role or route this edit sets must name what exists (others are the file's own)."""
    problems: list[str] = []
    for path, value in changes.items():
        if value is REMOVE:
            continue
        if path[0] == "roles":
            missing = [m for m in value if m not in policy.models]
            if missing:
                problems.append(
                    f"role '{path[1]}' names {', '.join(missing)}, which agents.md does not "
                    f"define under models: ({', '.join(policy.models) or 'none'})"
                )
            if not value:
                problems.append(f"role '{path[1]}' names no model")
        if path[0] == "routing" and value not in policy.roles:
            problems.append(
                f"'{path[1]}' is routed to role '{value}', which is not defined "
                f"({', '.join(policy.roles) or 'no roles'})"
            )
    for kind, role in policy.routing.items():
        if ("roles", role) in changes and changes["roles", role] is REMOVE:
            problems.append(f"role '{role}' is still used by routing '{kind}'")
    if problems:
        raise EditError("; ".join(problems))
