"""A loopback server that speaks OpenAI's chat-completions wire protocol, for tests.

It stands in for a paid cloud provider: it answers with a fixed reply (streamed as
server-sent events, with usage), records every request it receives, and can fail on
purpose, one failure class per URL prefix:

    http://127.0.0.1:PORT/v1              a normal answer
    http://127.0.0.1:PORT/fail-500/v1     HTTP 500
    http://127.0.0.1:PORT/fail-429/v1     HTTP 429 with `Retry-After: 7`
    http://127.0.0.1:PORT/fail-401/v1     HTTP 401 (bad key)
    http://127.0.0.1:PORT/fail-hang/v1    accepts, then never answers
    http://127.0.0.1:PORT/fail-garbage/v1 HTTP 200 with a malformed event stream
    http://127.0.0.1:PORT/fail-context/v1 HTTP 400 "context_length_exceeded"
    http://127.0.0.1:PORT/fail-slow/v1    a normal answer, one word every `slow_s` seconds

It binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def offered_name(name: str) -> str:
    """A scripted call's name as a provider's model writes it: the name it was offered,
    which for a connector's `server.tool` is `server__tool` (see engines.cloud.wire_name)."""
    return name.replace(".", "__")


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (HTTP header names are).

    Clients differ in how they spell names (the openai client sends `authorization`);
    iteration gives the names as they were sent. A repeated header keeps its last value.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class Recorded:
    path: str
    headers: Headers
    body: dict[str, Any]


@dataclass
class StubState:
    reply: str = "Hello from the stub."
    tool_call: dict[str, Any] | None = None  # {"name": ..., "arguments": {...}} to call a tool
    # Answers for the next requests, in order: a string (a reply) or a tool call dict as
    # above. Once used up, `reply` / `tool_call` apply again.
    script: list[str | dict[str, Any]] = field(default_factory=list)
    # Or a function of the request body that picks the answer (a reply or a tool call
    # dict), like a model that follows what its prompt says; None falls back to the above.
    respond: Callable[[dict[str, Any]], str | dict[str, Any] | None] | None = None
    requests: list[Recorded] = field(default_factory=list)
    hang_s: float = 30.0
    slow_s: float = 0.2  # seconds between streamed words at /fail-slow/
    lock: threading.Lock = field(default_factory=threading.Lock)


class OpenAIStub:
    """Start with `with OpenAIStub() as stub:`; `stub.base_url` is the normal endpoint."""

    def __init__(self) -> None:
        self.state = StubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def url(self, failure: str) -> str:
        return f"http://127.0.0.1:{self.port}/fail-{failure}/v1"

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.requests)

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    state: StubState
    protocol_version = "HTTP/1.1"
    _next: str | dict[str, Any] | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        with self.state.lock:
            self.state.requests.append(Recorded(self.path, Headers(self.headers.items()), body))
            self._next = self.state.script.pop(0) if self.state.script else None
            if self._next is None and self.state.respond is not None:
                self._next = self.state.respond(body)
        failure = self.path.split("/")[1].removeprefix("fail-") if "/fail-" in self.path else ""
        bad = [
            name
            for tool in body.get("tools") or ()
            if not _FUNCTION_NAME.fullmatch(name := str((tool.get("function") or {}).get("name")))
        ]
        if bad:  # as OpenAI answers a function name outside its pattern
            message = (
                f"Invalid 'tools[].function.name': {bad[0]!r} does not match '^[a-zA-Z0-9_-]+$'"
            )
            self._json(400, {"error": {"message": message, "type": "invalid_request_error"}})
        elif failure == "500":
            self._json(500, {"error": {"message": "internal error", "type": "server_error"}})
        elif failure == "429":
            self._json(
                429,
                {"error": {"message": "slow down", "type": "rate_limit_error"}},
                {"Retry-After": "7"},
            )
        elif failure == "401":
            error = {
                "message": "invalid api key",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            self._json(401, {"error": error})
        elif failure == "context":
            self._json(
                400,
                {
                    "error": {
                        "message": "This model's maximum context length is 8 "
                        "tokens. However, your messages resulted in 99 tokens.",
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                },
            )
        elif failure == "hang":
            time.sleep(self.state.hang_s)
        elif failure == "garbage":
            self._events([b"data: {this is not json\n\n", b"data: [DONE]\n\n"])
        elif body.get("stream"):
            self._stream(body, delay=self.state.slow_s if failure == "slow" else 0.0)
        else:
            self._json(200, self._completion(body))

    def _json(
        self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _events(self, events: list[bytes], delay: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        self.close_connection = True

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in body.get("messages", []))
        completion = len(self._reply().split())
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _reply(self) -> str:
        return self._next if isinstance(self._next, str) else self.state.reply

    def _tool(self) -> dict[str, Any] | None:
        if isinstance(self._next, dict):
            return self._next
        return None if isinstance(self._next, str) else self.state.tool_call

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self._reply()}
        reason = "stop"
        if self._tool() and body.get("tools"):
            message = {"role": "assistant", "content": None, "tool_calls": [self._call()]}
            reason = "tool_calls"
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "usage": self._usage(body),
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        }

    def _call(self) -> dict[str, Any]:
        tool = self._tool()
        assert tool is not None
        return {
            "id": f"call_stub{len(self.state.requests)}",
            "type": "function",
            "function": {
                "name": offered_name(tool["name"]),
                "arguments": json.dumps(tool["arguments"]),
            },
        }

    def _stream(self, body: dict[str, Any], delay: float = 0.0) -> None:
        def chunk(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> bytes:
            data = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        events = [chunk({"role": "assistant", "content": ""})]
        if self._tool() and body.get("tools"):
            call = self._call()
            events.append(chunk({"tool_calls": [{"index": 0, **call}]}))
            events.append(chunk({}, "tool_calls"))
        else:
            for word in self._reply().split(" "):
                events.append(chunk({"content": word + " "}))
            events.append(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [],
                "usage": self._usage(body),
            }
            events.append(f"data: {json.dumps(usage)}\n\n".encode())
        events.append(b"data: [DONE]\n\n")
        self._events(events, delay)
