"""Models' own tool-call formats: Hermes/Qwen `<tool_call>`, Llama 3.x JSON, Mistral
`[TOOL_CALLS]`.

Each dialect presents tools the model's way (through its chat template when the template
lists tools, else as system-prompt text in the same style), shows past calls and results
as the model was trained to see them, constrains the output with a grammar that allows
free text or well-formed calls, and parses calls back while the answer streams.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from cairn.core.engine import Message, ToolCall, ToolSpec
from cairn.engines.dialects.base import (
    NewId,
    TemplateFeatures,
    ToolDialect,
    ToolStream,
    WirePrompt,
    new_call_id,
    openai_tools,
    plain_json,
    tool_signatures,
    with_system_text,
)
from cairn.engines.dialects.grammar import GrammarBuilder, char_class, literal
from cairn.engines.dialects.streaming import NativeStream, Syntax


class NativeDialect(ToolDialect):
    """What the native formats share: rendering, and a parser driven by their `syntax`."""

    syntax: ClassVar[Syntax]

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> WirePrompt:
        features = self.features
        if tools and not features.tools:
            messages = with_system_text(messages, self.tools_text(tools))
        wire: list[dict[str, Any]] = []
        results: list[Message] = []  # tool results Cairn renders itself: one turn for a run

        for message in messages:
            if message.role == "tool" and not features.tool_role:
                results.append(message)
                continue
            if results:
                wire.append({"role": "user", "content": self.results_text(results)})
                results = []
            if message.role == "tool":
                wire.append(self.result_message(message))
            elif message.role == "assistant" and message.tool_calls:
                wire.append(self.assistant_message(message))
            else:
                wire.append({"role": message.role, "content": message.content})
        if results:
            wire.append({"role": "user", "content": self.results_text(results)})
        return WirePrompt(wire, openai_tools(tools) if tools and features.tools else None)

    def parser(self, tools: Sequence[ToolSpec], *, new_id: NewId = new_call_id) -> ToolStream:
        return NativeStream(self.syntax, tuple(tools), new_id)

    # --- pieces each format fills in ---------------------------------------------------------

    def assistant_message(self, message: Message) -> dict[str, Any]:
        if self.features.tool_calls and self.template_takes(message.tool_calls):
            return {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [self.wire_call(c) for c in message.tool_calls],
            }
        return {
            "role": "assistant",
            "content": self.calls_text(message.content, message.tool_calls),
        }

    def template_takes(self, calls: Sequence[ToolCall]) -> bool:
        """Whether the template can render these calls itself."""
        return True

    def wire_call(self, call: ToolCall) -> dict[str, Any]:
        return {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": plain_json(call.arguments)},
        }

    def result_message(self, message: Message) -> dict[str, Any]:
        result: dict[str, Any] = {"role": self.features.tool_role, "content": message.content}
        if message.tool_call_id:
            result["tool_call_id"] = message.tool_call_id
        if message.name:
            result["name"] = message.name
        return result

    def results_text(self, results: Sequence[Message]) -> str:
        return "\n\n".join(f"Result of tool {m.name or ''}:\n{m.content}" for m in results)

    def tools_text(self, tools: Sequence[ToolSpec]) -> str:
        raise NotImplementedError

    def calls_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        raise NotImplementedError


def _call_json(call: ToolCall, arguments_key: str = "arguments") -> str:
    return json.dumps(
        {"name": call.name, arguments_key: plain_json(call.arguments)}, ensure_ascii=False
    )


def _joined(content: str, text: str, separator: str = "\n") -> str:
    return f"{content}{separator}{text}" if content else text


GAP = char_class(" \t\n") + "{0,3}"  # whitespace around and between call blocks


class Hermes(NativeDialect):
    """Hermes 2/3 and Qwen 2.5/3: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`,
    tools as JSON signatures inside `<tools></tools>`, results inside `<tool_response>`."""

    name = "hermes"
    summary = "<tool_call> blocks (Hermes, Qwen)"
    syntax = Syntax("<tool_call>", close="</tool_call>", bare="{")

    def tools_text(self, tools: Sequence[ToolSpec]) -> str:
        return (
            "# Tools\n\nYou may call functions to help with the request. Their signatures, "
            "as JSON, are inside <tools></tools>:\n<tools>\n"
            f"{tool_signatures(tools)}\n</tools>\n\n"
            "To call one, write its name and arguments as a JSON object between "
            "<tool_call></tool_call> tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <arguments-object>}\n</tool_call>'
        )

    def calls_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        blocks = "\n".join(f"<tool_call>\n{_call_json(c)}\n</tool_call>" for c in calls)
        return _joined(content, blocks)

    def results_text(self, results: Sequence[Message]) -> str:
        return "\n".join(f"<tool_response>\n{m.content}\n</tool_response>" for m in results)

    def build_grammar(self, tools: Sequence[ToolSpec], *, require_call: bool) -> str:
        g = GrammarBuilder()
        body = g.call_object("tc-body", tools, arguments_key="arguments")
        g.add("tc-gap", GAP)
        start, end = literal(self.syntax.marker), literal(self.syntax.close or "")
        g.add("tc-call", f"{start} tc-gap {body} tc-gap {end}")
        g.add("tc-calls", "tc-call ( tc-gap tc-call )* tc-gap")
        if require_call:
            return g.text("tc-calls")
        g.prose("tc-prose", self.syntax.marker)
        return g.text("tc-prose tc-calls?")


class Llama3(NativeDialect):
    """Llama 3.1 / 3.2 / 3.3 JSON tool calls: `{"name": ..., "parameters": {...}}` as the
    whole reply (after `<|python_tag|>` on some), results in the `ipython` role."""

    name = "llama3"
    summary = 'JSON calls {"name": ..., "parameters": ...} (Llama 3.x)'
    syntax = Syntax("<|python_tag|>", bare="{", separators=";")

    def template_takes(self, calls: Sequence[ToolCall]) -> bool:
        return len(calls) == 1  # Llama 3.x templates refuse more than one call per message

    def tools_text(self, tools: Sequence[ToolSpec]) -> str:
        return (
            "You can call the functions below. To call one, reply with nothing but a JSON "
            'object of the form {"name": <function name>, "parameters": <arguments object>}. '
            "When no call is needed, answer in plain text.\n\n" + tool_signatures(tools)
        )

    def calls_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        objects = "; ".join(_call_json(c, "parameters") for c in calls)
        return _joined(content, self.syntax.marker + objects) if content else objects

    def build_grammar(self, tools: Sequence[ToolSpec], *, require_call: bool) -> str:
        g = GrammarBuilder()
        body = g.call_object("tc-body", tools, arguments_key="parameters")
        g.add("tc-call", f"( {literal(self.syntax.marker)} )? {body}")
        if require_call:
            return g.text("tc-call")
        # Prose may not open with "{" (or whitespace before one): a reply that starts like
        # JSON must be a call.
        g.prose("tc-prose", self.syntax.marker, not_first="{ \t\r\n")
        return g.text("tc-call | tc-prose")


_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")


def mistral_id(call_id: str | None) -> str:
    """Mistral's templates insist on call ids of nine letters and digits: keep one that is,
    derive one (the same every time) from any other."""
    if call_id and _MISTRAL_ID.fullmatch(call_id):
        return call_id
    return hashlib.sha256((call_id or "").encode("utf-8")).hexdigest()[:9]


class Mistral(NativeDialect):
    """Mistral: `[TOOL_CALLS] [{"name": ..., "arguments": {...}}]` (v3, Nemo), or
    `[TOOL_CALLS]name[ARGS]{...}` (newer templates that mention `[ARGS]`); tools inside
    `[AVAILABLE_TOOLS]`. The parser reads both forms either way."""

    name = "mistral"
    summary = "[TOOL_CALLS] (Mistral)"
    syntax = Syntax("[TOOL_CALLS]", bare="[", args="[ARGS]")

    def __init__(
        self, features: TemplateFeatures | None = None, *, source: str = "", args: bool = False
    ) -> None:
        super().__init__(features or TemplateFeatures(), source=source)
        self.args = args  # calls written `name[ARGS]{...}` rather than as a JSON list

    def plain(self) -> ToolDialect:
        return Mistral(source=self.source, args=self.args)

    def wire_call(self, call: ToolCall) -> dict[str, Any]:
        return {**super().wire_call(call), "id": mistral_id(call.id)}

    def result_message(self, message: Message) -> dict[str, Any]:
        result = super().result_message(message)
        result["tool_call_id"] = mistral_id(message.tool_call_id)
        return result

    def tools_text(self, tools: Sequence[ToolSpec]) -> str:
        listing = json.dumps(openai_tools(tools), ensure_ascii=False)
        form = (
            "[TOOL_CALLS]<function name>[ARGS]<arguments object>"
            if self.args
            else '[TOOL_CALLS] [{"name": <function name>, "arguments": <arguments object>}]'
        )
        return (
            f"[AVAILABLE_TOOLS] {listing}[/AVAILABLE_TOOLS]\n"
            f"To call functions, reply with {form}; otherwise answer in plain text."
        )

    def calls_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        if self.args:
            text = "".join(
                f"{self.syntax.marker}{c.name}{self.syntax.args}"
                + json.dumps(plain_json(c.arguments), ensure_ascii=False)
                for c in calls
            )
        else:
            items = [
                {"name": c.name, "arguments": plain_json(c.arguments), "id": mistral_id(c.id)}
                for c in calls
            ]
            text = f"{self.syntax.marker} {json.dumps(items, ensure_ascii=False)}"
        return _joined(content, text)

    def build_grammar(self, tools: Sequence[ToolSpec], *, require_call: bool) -> str:
        g = GrammarBuilder()
        marker = literal(self.syntax.marker)
        if self.args:
            g.named_arguments("tc-named", tools, self.syntax.args or "")
            g.add("tc-calls", f"( {marker} tc-named )+")
        else:
            call_id = (
                f'( "," space {literal(json.dumps("id"))} space ":" space '
                f"{literal(chr(34))} [a-zA-Z0-9]{{9}} {literal(chr(34))} space )?"
            )
            item = g.call_object("tc-item", tools, arguments_key="arguments", extra=call_id)
            g.add(
                "tc-calls",
                f'{marker} " "? {literal("[")} space {item} ( "," space {item} )* '
                f"{literal(']')} space",
            )
        if require_call:
            return g.text("tc-calls")
        g.prose("tc-prose", self.syntax.marker)
        return g.text("tc-prose tc-calls?")
