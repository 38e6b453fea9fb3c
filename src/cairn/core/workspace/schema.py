"""Frontmatter schemas for every workspace file, validated with pydantic.

Unknown keys are allowed (kept in `model_extra` and in the raw frontmatter) so nothing
the author wrote is ever dropped; the loader warns about them where the format is
Cairn's own. Cross-file checks (a role naming an undefined model, an automation naming
a missing space) live in the loader, which can point at the exact line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_RULE = "1-64 characters: lowercase letters, digits and single hyphens, no hyphen at either end"
DESCRIPTION_LIMIT = 1024  # Agent Skills' limit; longer descriptions load with a warning
COMPATIBILITY_LIMIT = 500

Scope = Literal["private", "team", "company"]
MemoryMode = Literal["permissive", "balanced", "cautious"]
Decision = Literal["allow", "ask", "deny"]

V = TypeVar("V")


def _freeze_map(value: Mapping[str, V]) -> Mapping[str, V]:
    return MappingProxyType(dict(value))


def _none_as_empty(value: Any) -> Any:
    # `roles:` with nothing after it is YAML null; treat it as "none given".
    return {} if value is None else value


def _str_list(value: Any) -> Any:
    """Accept `[a, b]`, `a b` or `a, b` for lists of names (other tools write all three)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part for part in re.split(r"[\s,]+", value) if part)
    return value


FrozenMap = Annotated[Mapping[str, V], BeforeValidator(_none_as_empty), AfterValidator(_freeze_map)]
NameList = Annotated[tuple[str, ...], BeforeValidator(_str_list)]
Text = Annotated[str, Field(min_length=1)]


class Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class SamplingSpec(Schema):
    """Per-model sampling for local models (defaults in `cairn.engines.local.Sampling`)."""

    # A misspelt key would silently do nothing: refuse it (temperature is per request).
    model_config = ConfigDict(frozen=True, extra="forbid")

    repeat_penalty: Annotated[float, Field(ge=1.0, le=2.0)] | None = None
    repeat_last_n: Annotated[int, Field(ge=0, le=4096)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    min_p: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    stop_loops: bool | None = None


class ModelSpec(Schema):
    """A named model: a local GGUF file or a model id litellm understands."""

    engine: Literal["local", "litellm"]
    path: str | None = None
    model: str | None = None
    api_base: str | None = None
    context: Annotated[int, Field(gt=0)] | None = None
    gpu_layers: int | None = None
    threads: Annotated[int, Field(gt=0)] | None = None
    chat_format: str | None = None
    sampling: SamplingSpec | None = None
    # How a local model is offered tools: its own format where its chat template declares
    # one (auto), or Cairn's JSON protocol. Kept in step with engines.dialects.TOOL_FORMATS.
    tool_format: Literal["auto", "json", "hermes", "llama3", "mistral"] | None = None
    # Keep the evaluated system prompt on disk for the next process (engines.prefix_cache).
    prefix_cache: bool = True
    # Whether data sent to this model stays on this machine. Default: local engines
    # yes; litellm models only when api_base is a loopback address.
    local: bool | None = None

    @model_validator(mode="after")
    def _engine_needs_target(self) -> ModelSpec:
        if self.engine == "local" and not self.path:
            raise ValueError("a local model needs 'path:' (the GGUF file)")
        if self.engine == "litellm" and not self.model:
            raise ValueError("a litellm model needs 'model:' (e.g. openai/gpt-4o-mini)")
        return self


class BudgetLimit(Schema):
    tokens: Annotated[int, Field(gt=0)] | None = None
    usd: Annotated[float, Field(ge=0)] | None = None
    minutes: Annotated[float, Field(gt=0)] | None = None


class Budgets(Schema):
    task: BudgetLimit | None = None
    automation_run: BudgetLimit | None = None
    day: BudgetLimit | None = None
    warn_at: Annotated[float, Field(gt=0, le=1)] = 0.8


class PermissionRule(Schema):
    """First matching rule wins; `tool` may be `*`; `path` is a glob relative to the workspace."""

    tool: Text
    decision: Decision
    action: str | None = None
    path: str | None = None


class Providers(Schema):
    allow: NameList = ()
    deny: NameList = ()


TOKEN_LIMITS: Mapping[str, int] = MappingProxyType(
    {"plan": 600, "work": 1024, "review": 600, "memory": 700, "approval": 80}
)
"""The most tokens a model may write per call, by what the call is for (a step's kind, an
operator's review, the risk judge); `token_limits:` in agents.md changes any of them."""


class SecretRef(Schema):
    """A value taken from the OS keychain at start (`cairn keys set NAME`), never written
    in the file: `{keychain: NAME}`, optionally with text before it (`Bearer `)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keychain: Text
    prefix: str = ""


ConnectorValue = str | SecretRef


class ConnectorSpec(Schema):
    """An MCP server under `connectors:` (docs/connectors.md): a local program spoken to
    over stdio (`command`, `args`, `env`) or a remote one over streamable HTTP (`url`,
    `headers`). `scope` says whose data it returns; `spaces` limits the tasks it is
    offered to; `approval: always` asks before every call, whatever its server declares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: Text | None = None
    args: NameList = ()
    env: FrozenMap[ConnectorValue] = Field(default_factory=dict)
    url: Text | None = None
    headers: FrozenMap[ConnectorValue] = Field(default_factory=dict)
    scope: Scope
    spaces: NameList = ()
    description: str | None = None
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    approval: Literal["annotations", "always"] = "annotations"
    enabled: bool = True

    @model_validator(mode="after")
    def _one_transport(self) -> ConnectorSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a local server) or `url` (a remote one)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("`url` must start with http:// or https://")
        return self


class HarnessSettings(Schema):
    """`harness:` in agents.md: the task loop's guards and limits, as data a person can read,
    change and revert (docs/improving.md). `cairn improve` may propose changes to them;
    none applies without the user's approval."""

    # A misspelt key would silently keep the default: refuse it.
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: Annotated[int, Field(ge=1, le=20)] = 8  # steps a task may plan and run
    max_model_calls: Annotated[int, Field(ge=1, le=40)] = 12  # model calls in one step
    max_repeats: Annotated[int, Field(ge=1, le=10)] = 3  # the same call, same arguments
    max_failures: Annotated[int, Field(ge=1, le=10)] = 3  # failed tool calls in a row
    tool_output_share: Annotated[float, Field(ge=0.1, le=0.9)] = 0.6  # of the window
    plan_steps: Annotated[int, Field(ge=1, le=20)] = 6  # most steps the planner is asked for
    recall_tokens: Annotated[int, Field(ge=0, le=8000)] = 800  # memory recalled per task
    answer_after_guard: bool = True  # one last call for an answer when a guard ends a step

    @model_validator(mode="after")
    def _plans_fit(self) -> HarnessSettings:
        if self.plan_steps > self.max_steps:
            raise ValueError(
                f"plan_steps ({self.plan_steps}) is more than max_steps ({self.max_steps}): "
                "every longer plan would be stopped part-way"
            )
        return self


HARNESS_KEYS = tuple(HarnessSettings.model_fields)


class AgentsPolicy(Schema):
    """The frontmatter of `agents.md`: the runtime boundary."""

    name: str | None = None
    models: FrozenMap[ModelSpec] = Field(default_factory=dict)
    roles: FrozenMap[NameList] = Field(default_factory=dict)
    routing: FrozenMap[str] = Field(default_factory=dict)
    providers: Providers = Field(default_factory=Providers)
    permissions: tuple[PermissionRule, ...] = ()
    budgets: Budgets = Field(default_factory=Budgets)
    plan_approval: Literal["always", "multi-step", "never"] = "multi-step"
    token_limits: FrozenMap[Annotated[int, Field(gt=0, le=100_000)]] = Field(default_factory=dict)
    connectors: FrozenMap[ConnectorSpec] = Field(default_factory=dict)
    harness: HarnessSettings = Field(default_factory=HarnessSettings)

    @model_validator(mode="before")
    @classmethod
    def _harness_none(cls, value: Any) -> Any:
        # `harness:` with nothing under it (YAML null) means the defaults.
        if isinstance(value, dict) and "harness" in value and value["harness"] is None:
            return {k: v for k, v in value.items() if k != "harness"}
        return value

    @model_validator(mode="after")
    def _connector_names(self) -> AgentsPolicy:
        for name in self.connectors:
            if not NAME_PATTERN.match(name):
                raise ValueError(
                    f"connector name {name!r}: {NAME_RULE} (its tools are named {name}.TOOL)"
                )
        return self

    def token_limit(self, kind: str) -> int:
        """The output limit for a call of `kind` (a step kind without its own limit gets
        `work`'s)."""
        return self.token_limits.get(kind) or TOKEN_LIMITS.get(kind) or self.token_limit("work")


class MemoryTiers(Schema):
    """Expected-value thresholds: at or above `high` → readme; `moderate` → topic file."""

    high: Annotated[float, Field(ge=0, le=1)] = 0.75
    moderate: Annotated[float, Field(ge=0, le=1)] = 0.4


class SpaceMeta(Schema):
    description: str | None = None
    scope: Scope | None = None
    memory: MemoryMode = "balanced"
    memory_tiers: MemoryTiers = Field(default_factory=MemoryTiers)
    memory_budget: Annotated[int, Field(gt=0)] = 40  # memory lines the readme keeps
    routing: FrozenMap[str] = Field(default_factory=dict)
    sensitive: bool = False  # the readme's content is sensitive: its tasks stay local


class SkillMeta(Schema):
    """The Agent Skills fields; anything else is kept untouched for other tools."""

    name: Text
    # The spec's limits (1,024 and 500 characters) are checked by the parser: published
    # skills pass them, and are loaded with a warning.
    description: Text
    license: str | None = None
    compatibility: Text | None = None
    metadata: FrozenMap[Any] | None = None
    allowed_tools: NameList = Field(default=(), alias="allowed-tools")


class OperatorMeta(Schema):
    name: str | None = None
    description: Text
    when: str | None = None
    sensitive: bool = False  # the lens itself is sensitive: tasks that use it stay local


class Headless(Schema):
    """What an automation run may do with nobody at the keyboard."""

    allow: NameList = ()
    # queue: queue it and go on without it (the run ends `needs-approval`); stop: queue it
    # and end the run there (`needs-approval`); fail: queue it and fail the run; skip:
    # deny it, queue nothing, go on.
    on_approval: Literal["queue", "stop", "fail", "skip"] = "queue"


CatchUpMode = Literal["none", "latest", "all"]
CATCH_UP_WINDOW_LIMIT = timedelta(days=366)
_DURATION = re.compile(r"^(\d+)\s*(m|mins?|minutes?|h|hours?|d|days?|w|weeks?)$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CATCH_UP_TEXT = re.compile(r"^(\S+)(?:\s+within\s+(.+))?$")


def _duration(value: Any) -> Any:
    """`30m`, `12h`, `2d`, `1w` (or `12 hours`...) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"'within: {value}' is not a duration; write a number and a unit: 30m, 12h, 2d or 1w"
        )
    return timedelta(**{_DURATION_UNITS[match.group(2)[0]]: int(match.group(1))})


class CatchUpSetting(Schema):
    """`catch_up:` of an automation: what to do with slots missed while Cairn was not
    running or the computer slept (rules in `cairn.core.automations.catch_up`).

    Written `none`, `latest` or `all`, optionally `latest within 12h`, or as a mapping
    `{mode: latest, within: 12h}`. Without `within` the schedule's default window applies.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: CatchUpMode
    within: Annotated[timedelta, BeforeValidator(_duration)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if value is False:  # YAML reads `catch_up: off` (and `no`) as false
            return {"mode": "none"}
        if isinstance(value, str):
            match = _CATCH_UP_TEXT.match(" ".join(value.strip().lower().split()))
            if match is None:
                raise ValueError(
                    f"cannot read catch_up '{value}'; write none, latest or all, optionally "
                    "with a window: 'latest within 12h'"
                )
            mode, within = match.groups()
            return {"mode": mode} if within is None else {"mode": mode, "within": within}
        return value

    @model_validator(mode="after")
    def _window_fits(self) -> CatchUpSetting:
        if self.within is None:
            return self
        if self.mode == "none":
            raise ValueError("'within' has no effect with mode none; remove it or use latest/all")
        if not timedelta(0) < self.within <= CATCH_UP_WINDOW_LIMIT:
            raise ValueError("'within' must be more than 0 and at most 366 days")
        return self


class AutomationMeta(Schema):
    description: str | None = None
    schedule: Text
    timezone: Text = "local"
    enabled: bool = True
    space: Text | None = None  # Cairn's own automations name one; others' may run outside spaces
    skill: str | None = None
    operator: str | None = None
    budget: BudgetLimit | None = None
    headless: Headless = Field(default_factory=Headless)
    routing: FrozenMap[str] = Field(default_factory=dict)
    # Slots missed while Cairn was not running: none, latest or all (docs/automations.md).
    catch_up: CatchUpSetting | None = None
