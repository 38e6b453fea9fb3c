"""What every tool dialect provides, and the small helpers the dialects share."""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cairn.core.engine import FinishReason, Message, TextDelta, ToolCallRequested, ToolSpec

# What a dialect's parser produces; the engine adds Usage and Finished itself.
StreamEvent = TextDelta | ToolCallRequested
NewId = Callable[[], str]
_GRAMMARS_KEPT = 16


def new_call_id() -> str:
    """A fresh id for a tool call the model asked for."""
    return f"call_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class TemplateFeatures:
    """What a model's chat template renders by itself, read from its Jinja source.

    When a feature is missing, the dialect renders that part as plain message text instead.
    """

    tools: bool = False  # lists the `tools` passed to it
    tool_calls: bool = False  # renders an assistant message's `tool_calls`
    tool_role: str | None = None  # the role it shows tool results under: "tool", "ipython"


PLAIN = TemplateFeatures()


@dataclass(frozen=True, slots=True)
class WirePrompt:
    """What to hand the chat formatter: `formatter(messages=p.messages, tools=p.tools)`.

    `tools` is None when the tools are described in the messages' text instead (the
    template cannot list them, or the dialect is Cairn's own JSON protocol).
    """

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


class ToolStream(ABC):
    """Turns a model's output, fed as it is generated, into text and tool calls.

    `feed` returns what is decided so far: text the user may see, and every tool call as
    soon as it is complete. Text that could still turn out to be part of a tool call is
    held back until that is decided. The events depend only on the text, never on how it
    was split into chunks (apart from where one TextDelta ends and the next begins).
    """

    @abstractmethod
    def feed(self, text: str) -> list[StreamEvent]: ...

    @abstractmethod
    def finish(self, reason: FinishReason) -> tuple[list[StreamEvent], FinishReason]:
        """The rest, once generation ended for `reason`; and the reason to report:
        "tool_calls" when a call was made (unless cancelled), otherwise `reason` as given."""


class ToolDialect(ABC):
    """One way of offering tools to a model, showing it past calls and results, and reading
    its calls back. One instance per model; it holds no state between requests."""

    name: ClassVar[str]  # the `tool_format:` value that selects it
    summary: ClassVar[str]  # a few words for `cairn models`

    def __init__(self, features: TemplateFeatures = PLAIN, *, source: str = "") -> None:
        self.features = features
        self.source = source  # why this dialect was chosen, for `describe()`
        self._grammars: dict[tuple[str, bool], str] = {}

    @abstractmethod
    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> WirePrompt:
        """The messages (and tools) to give the chat formatter for this request."""

    def grammar(self, tools: Sequence[ToolSpec], *, require_call: bool = False) -> str | None:
        """A GBNF grammar (root rule `root`) that the output must follow; None without tools.

        With `require_call` the model must call a tool; otherwise it may also just answer.
        Built once per set of tools (a task's steps repeat them) and kept.
        """
        if not tools:
            return None
        schemas = [[t.name, plain_json(t.constrained())] for t in tools]
        key = (json.dumps(schemas, default=str), require_call)
        grammar = self._grammars.get(key)
        if grammar is None:
            if len(self._grammars) >= _GRAMMARS_KEPT:
                self._grammars.clear()
            grammar = self._grammars[key] = self.build_grammar(tools, require_call=require_call)
        return grammar

    @abstractmethod
    def build_grammar(self, tools: Sequence[ToolSpec], *, require_call: bool) -> str:
        """The grammar for a non-empty set of tools (see `grammar`)."""

    @abstractmethod
    def parser(self, tools: Sequence[ToolSpec], *, new_id: NewId = new_call_id) -> ToolStream:
        """A fresh incremental parser for one generation."""

    def plain(self) -> ToolDialect:
        """The same format with everything rendered by Cairn, none of it by the template:
        the fallback when the template refuses the messages (some raise on a tool role)."""
        return type(self)(PLAIN, source=self.source)

    def describe(self) -> str:
        """One line for `cairn models`: the format, how tools reach the model, and why."""
        text = f"{self.name}: {self.summary}"
        if self.name != "json":
            where = "the model's template" if self.features.tools else "the system prompt"
            text += f"; tools listed by {where}"
        return f"{text} ({self.source})" if self.source else text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


# --- shared helpers -------------------------------------------------------------------------


def plain_json(value: Any) -> Any:
    """`value` with every mapping a dict and every sequence a list, ready for json.dumps."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value


def openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tools the way chat templates expect them (the OpenAI function-tool shape)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": plain_json(t.parameters),
            },
        }
        for t in tools
    ]


def tool_signatures(tools: Sequence[ToolSpec]) -> str:
    """One JSON line per tool, for dialects that list tools in the system prompt."""
    return "\n".join(json.dumps(t, ensure_ascii=False) for t in openai_tools(tools))


def with_system_text(messages: Sequence[Message], text: str) -> list[Message]:
    """`messages` with `text` appended to the system message (one is added if needed)."""
    result = list(messages)
    if result and result[0].role == "system":
        result[0] = Message("system", f"{result[0].content}\n\n{text}")
    else:
        result.insert(0, Message("system", text))
    return result


def as_arguments(value: Any) -> dict[str, Any] | None:
    """A call's arguments as a dict: a JSON object, or a string holding one (some models
    encode them twice); missing means none. None when they are not an object at all."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def calls_in(value: Any) -> list[tuple[str, dict[str, Any]]] | None:
    """The calls a decoded JSON value holds: one call object or a list of them.

    A call object has a "name" and its arguments under "arguments" or "parameters"; the
    OpenAI shape {"type": "function", "function": {...}} is accepted too. None when any
    part is not a well-formed call.
    """
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, dict[str, Any]]] = []
    for entry in items:
        item = entry["function"] if _openai_shaped(entry) else entry
        if not isinstance(item, dict):
            return None
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            return None
        raw = item["arguments"] if "arguments" in item else item.get("parameters")
        arguments = as_arguments(raw)
        if arguments is None:
            return None
        calls.append((name.strip(), arguments))
    return calls or None


def _openai_shaped(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("function"), dict)
