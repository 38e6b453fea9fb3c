"""Cairn's own tool protocol: one JSON object, `{"answer": ...}` or `{"tool": ..., "arguments":
{...}}`, constrained by a grammar. It works with any model that can write JSON, so it is the
fallback whenever a model's own tool-call format is unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from cairn.core.engine import FinishReason, Message, TextDelta, ToolSpec
from cairn.engines.dialects.base import (
    NewId,
    StreamEvent,
    ToolDialect,
    ToolStream,
    WirePrompt,
    as_arguments,
    new_call_id,
    plain_json,
    with_system_text,
)
from cairn.engines.dialects.grammar import json_schema_grammar, usable_schema
from cairn.engines.dialects.streaming import JsonSpan, JsonStringDecoder, make_call

PROTOCOL = """\
# Tools
Reply with exactly one JSON object and nothing else. To answer the user:
{{"answer": "<your reply>"}}
For example, to "Suggest a name for the project": {{"answer": "Call it Beacon."}}
When the task is about a file, a folder or what the workspace holds, use a tool instead
(you then get its result, and reply again):
{{"tool": "<tool name>", "arguments": {{<arguments>}}}}

The tools (an argument with ? may be left out), each with an example:
{tools}

Use the exact names the task gives (files, folders, words to search for). When the task
needs what a file says, read it first; never guess its content."""


AFTER_RESULT = 'Now reply with {"answer": ...} if this is enough, or call a different tool if not.'


def signature(tool: ToolSpec) -> str:
    """`name(argument, optional?): description`, then an example call — what a small model
    can follow. The full schema is enforced by the grammar, so the prompt need not spell it
    out (schemas with example values in their descriptions invite models to copy them)."""
    properties = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", ()))
    names = [n if n in required else f"{n}?" for n in properties]
    line = f"- {tool.name}({', '.join(names)}): {tool.description}"
    if tool.example is not None:
        call = {"tool": tool.name, "arguments": plain_json(tool.example)}
        line += f"\n  {json.dumps(call, ensure_ascii=False)}"
    return line


class JsonProtocol(ToolDialect):
    name = "json"
    summary = 'Cairn\'s JSON protocol, {"answer": ...} or {"tool": ..., "arguments": ...}'

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> WirePrompt:
        if tools:
            listing = "\n".join(signature(t) for t in tools)
            messages = with_system_text(messages, PROTOCOL.format(tools=listing))
        return WirePrompt([self.wire(m) for m in messages])

    @staticmethod
    def wire(message: Message) -> dict[str, Any]:
        """One message as the template sees it: past calls in the protocol's own JSON, and
        results as a labelled user turn (templates differ in how they show tool results;
        a user turn works with all of them)."""
        content = message.content
        if message.role == "assistant" and message.tool_calls:
            calls = [
                {"tool": c.name, "arguments": plain_json(c.arguments)} for c in message.tool_calls
            ]
            content = json.dumps(calls[0] if len(calls) == 1 else calls)
        if message.role == "tool":
            # Small models tend to repeat a call after its result; the last line asks for
            # the next move explicitly.
            return {
                "role": "user",
                "content": f"Result of tool {message.name or ''}:\n{content}\n\n{AFTER_RESULT}",
            }
        return {"role": message.role, "content": content}

    def schema(self, tools: Sequence[ToolSpec], *, require_call: bool = False) -> dict[str, Any]:
        """The JSON schema every reply must match: an answer, or a call of one tool."""
        options: list[dict[str, Any]] = []
        if not require_call:
            options.append(
                {
                    "type": "object",
                    "properties": {"answer": {"type": "string"}},
                    "required": ["answer"],
                }
            )
        for tool in tools:
            options.append(
                {
                    "type": "object",
                    "properties": {
                        "tool": {"const": tool.name},
                        "arguments": usable_schema(tool.constrained()),
                    },
                    "required": ["tool", "arguments"],
                }
            )
        return {"oneOf": options}

    def build_grammar(self, tools: Sequence[ToolSpec], *, require_call: bool) -> str:
        return json_schema_grammar(self.schema(tools, require_call=require_call))

    def parser(self, tools: Sequence[ToolSpec], *, new_id: NewId = new_call_id) -> ToolStream:
        return JsonProtocolStream(new_id)

    def plain(self) -> ToolDialect:
        return self


# The start of an answer object, up to the answer string's opening quote; and what can
# still grow into one.
_ANSWER_HEAD = re.compile(r'\{\s*"answer"\s*:\s*"')
_ANSWER_HEAD_SO_FAR = re.compile(
    r'\{\s*(?:"(?:a(?:n(?:s(?:w(?:e(?:r(?:"\s*(?::\s*)?)?)?)?)?)?)?)?)?'
)


class JsonProtocolStream(ToolStream):
    """Streams the answer string's words as they are decoded; never shows the JSON around
    them. A tool call is announced once its object is complete.

    - `{"answer": "..."}`: the string is decoded as it arrives (escapes split across chunks
      included); what follows its closing quote is ignored.
    - `{"tool": ..., "arguments": {...}}`, or any other object: held until it closes, then
      read whole. A call becomes a ToolCallRequested; an answer in an unusual key order is
      shown whole; anything else is shown as the text it is.
    - Output that does not start with `{` is not the protocol at all: it streams as text.
    - Cut short: the answer decoded so far stands (an unfinished escape is dropped); an
      unfinished call or other object is shown as the text the model wrote.
    """

    def __init__(self, new_id: NewId) -> None:
        self._new_id = new_id
        self._state = "start"  # start | text | head | answer | object | done
        self._raw = ""  # the object's text so far (head and object states)
        self._decoder = JsonStringDecoder()
        self._span = JsonSpan()
        self._called = False

    def feed(self, text: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._state == "start":
            text = text.lstrip()
            if not text:
                return out
            self._state = "head" if text[0] == "{" else "text"
        if self._state == "text":
            out.append(TextDelta(text))
        elif self._state == "answer":
            self._answer(text, out)
        elif self._state in ("head", "object"):
            self._raw += text
            if self._state == "head":
                head = _ANSWER_HEAD.match(self._raw)
                if head is not None:
                    rest, self._raw = self._raw[head.end() :], ""
                    self._state = "answer"
                    self._answer(rest, out)
                    return out
                if _ANSWER_HEAD_SO_FAR.fullmatch(self._raw):
                    return out
                self._state = "object"
            end = self._span.scan(self._raw)
            if end is not None:
                self._complete(self._raw[:end], out)
                self._state, self._raw = "done", ""
        return out

    def finish(self, reason: FinishReason) -> tuple[list[StreamEvent], FinishReason]:
        out: list[StreamEvent] = []
        if self._state == "object" and self._raw:
            out.append(TextDelta(self._raw))  # an unfinished call: what the model wrote
        self._state, self._raw = "done", ""
        if self._called and reason != "cancelled":
            return out, "tool_calls"
        return out, reason

    def _answer(self, text: str, out: list[StreamEvent]) -> None:
        decoded, _ = self._decoder.feed(text)
        if decoded:
            out.append(TextDelta(decoded))
        if self._decoder.closed:
            self._state = "done"

    def _complete(self, text: str, out: list[StreamEvent]) -> None:
        try:
            data = json.loads(text, strict=False)  # the grammar lets control characters in
        except ValueError:
            out.append(TextDelta(text))
            return
        if isinstance(data, dict) and isinstance(data.get("tool"), str):
            arguments = as_arguments(data.get("arguments")) or {}
            out.append(make_call(data["tool"], arguments, self._new_id))
            self._called = True
        elif isinstance(data, dict) and isinstance(data.get("answer"), str):
            if data["answer"]:
                out.append(TextDelta(data["answer"]))
        else:
            out.append(TextDelta(text))
