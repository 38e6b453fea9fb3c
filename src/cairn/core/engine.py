"""The one seam every model call goes through: chat messages in, typed events out.

Engines (`cairn.engines.local`, `cairn.engines.cloud`) implement `ChatEngine`. The core
only sees these types, so the router and the task loop never import a model client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cairn.core.errors import CairnError

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal[
    "stop",
    "length",
    "tool_calls",
    "cancelled",
    "content_filter",
    "repetition",  # the answer kept repeating itself and was stopped (see engines.repetition)
]
FailureKind = Literal[
    "unavailable",  # the model cannot be reached or loaded (server down, file missing)
    "timeout",
    "rate_limited",  # retry after `retry_after` seconds when given
    "context_too_long",  # the prompt does not fit the model's window
    "authentication",  # missing or rejected key
    "bad_request",  # the request itself is wrong; retrying elsewhere will not help
    "out_of_memory",  # the model does not fit in memory
    "server_error",  # the provider failed (HTTP 5xx, malformed stream)
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run a tool. `arguments` is the parsed JSON object."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role "tool": which call this answers
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: `parameters` is a JSON schema for its arguments.

    `choices` narrows string arguments to the values that can work right now (the files
    that exist, the skills there are). It is not shown to the model: engines that constrain
    output with a grammar use it, so a small model cannot name a file that is not there.
    `patterns` does the same for arguments that name something new (a file to create in an
    existing folder). `example` is one typical call's arguments, for prompts to show.
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    example: Mapping[str, Any] | None = None  # arguments of a typical call, for prompts
    patterns: Mapping[str, str] = field(default_factory=dict)  # argument -> regular expression

    def constrained(self) -> dict[str, Any]:
        """`parameters` with each argument in `choices` held to those values."""
        schema = dict(self.parameters)
        if not self.choices and not self.patterns:
            return schema
        properties = dict(schema.get("properties", {}))
        for name in {*self.patterns, *self.choices} & set(properties):
            values, pattern = self.choices.get(name), self.patterns.get(name)
            options = [{**properties[name], "enum": list(values)}] if values else []
            if pattern:
                options.append({**properties[name], "pattern": pattern})
            if options:  # one of what exists, or a new name the pattern allows
                properties[name] = options[0] if len(options) == 1 else {"anyOf": options}
        schema["properties"] = properties
        return schema


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    json_schema: Mapping[str, Any] | None = None  # constrain the answer to this schema
    max_tokens: int | None = None
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    seed: int | None = None
    prompt_tokens: int | None = None  # already counted by whoever built it (saves a count)
    # "none": the tools stay in the request (the history has calls) but the model must
    # answer now; engines that cannot force it still get told, and calls are ignored.
    # "required": the model must call one of the tools (a grammar holds a local model).
    tool_choice: Literal["auto", "none", "required"] = "auto"


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequested:
    call: ToolCall


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = None  # None: unknown; 0.0 for local models
    cached_input_tokens: int = 0  # prompt tokens served from a reused prefix


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason


EngineEvent = TextDelta | ToolCallRequested | Usage | Finished


class EngineError(CairnError):
    """A classified model failure; the router decides what to do from `kind`."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        model: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.model = model
        self.retry_after = retry_after


class CancelToken:
    """Set from any thread to stop a stream at the next token."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole answer gathered from a stream (see `collect`)."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    finish_reason: FinishReason


def collect(events: Iterator[EngineEvent]) -> Completion:
    """Drain a stream into one `Completion`."""
    parts: list[str] = []
    calls: list[ToolCall] = []
    usage = Usage(0, 0)
    reason: FinishReason = "stop"
    for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ToolCallRequested):
            calls.append(event.call)
        elif isinstance(event, Usage):
            usage = event
        else:
            reason = event.reason
    return Completion("".join(parts), tuple(calls), usage, reason)
