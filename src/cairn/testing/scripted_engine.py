"""A real `ChatEngine` that replays scripted answers: exact behaviour for loop and router tests.

Each call to `stream` takes the next item of the script:
- a string: streamed word by word as the answer;
- a `ToolCall`: requested as a tool call;
- an `EngineError`: raised before any output (or after `fail_after` words, if given).
When the script runs out, the last item repeats. Every request is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    EngineEvent,
    Finished,
    Message,
    TextDelta,
    ToolCall,
    ToolCallRequested,
    ToolSpec,
    Usage,
)

ScriptItem = str | ToolCall | EngineError


@dataclass
class ScriptedEngine:
    name: str
    script: list[ScriptItem] = field(default_factory=lambda: ["ok"])
    is_local: bool = True
    context_window: int | None = 8192
    cost_per_token: float = 0.0
    fail_after: int | None = None  # raise the scripted error after this many words
    requests: list[ChatRequest] = field(default_factory=list)

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)  # tools are not counted

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        prompt = self.count_tokens(request.messages, request.tools)
        if isinstance(item, EngineError) and self.fail_after is None:
            raise item
        if isinstance(item, ToolCall):
            yield ToolCallRequested(item)
            yield Usage(prompt, 10, self.cost_per_token * (prompt + 10))
            yield Finished("tool_calls")
            return
        words = (item if isinstance(item, str) else "partial answer before failing").split()
        for index, word in enumerate(words):
            if cancel is not None and cancel.cancelled:
                yield Usage(prompt, index, self.cost_per_token * (prompt + index))
                yield Finished("cancelled")
                return
            if isinstance(item, EngineError) and index == self.fail_after:
                raise item
            yield TextDelta(word if index == 0 else " " + word)
        yield Usage(prompt, len(words), self.cost_per_token * (prompt + len(words)))
        yield Finished("stop")
