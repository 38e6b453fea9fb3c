"""The cloud engine: any provider litellm supports, or any OpenAI-compatible server.

litellm is imported on first use (it takes seconds to import), with its price map read
from the copy it ships (`LITELLM_LOCAL_MODEL_COST_MAP=True`): Cairn never fetches it.
Keys are resolved at call time and handed to litellm per call, never put in the
environment or in a file.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    EngineEvent,
    FailureKind,
    Finished,
    FinishReason,
    Message,
    TextDelta,
    ToolCall,
    ToolCallRequested,
    ToolSpec,
    Usage,
)
from cairn.core.errors import CairnError
from cairn.core.routing.router import is_loopback
from cairn.engines import tokens

_import_lock = threading.Lock()
_price_checked: set[str] = set()  # models whose price was looked up (or registered)

# Providers that authenticate with an API key (others use cloud credentials or none).
_KEYED_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "gemini",
        "mistral",
        "groq",
        "cohere",
        "together_ai",
        "deepseek",
        "xai",
        "openrouter",
        "perplexity",
        "fireworks_ai",
        "deepinfra",
        "cerebras",
    }
)

KeyResolver = Callable[[str], str | None]
"""Provider name → API key (or None). Called at every request, never cached here."""


def litellm_module() -> Any:
    """Import litellm once, offline, quietly."""
    with _import_lock:
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        import litellm

        litellm.suppress_debug_info = True
        litellm.drop_params = True  # providers that lack an option ignore it rather than fail
        return litellm


def provider_of(model: str) -> str:
    """`anthropic/claude-x` → `anthropic`; bare OpenAI names → `openai`."""
    return model.split("/", 1)[0] if "/" in model else "openai"


_READY_FOR_S = 30.0  # how long a readiness answer (is there a key?) is kept


class CloudEngine:
    """One litellm model id, optionally at a custom `api_base`."""

    def __init__(
        self,
        name: str,
        model: str,
        *,
        api_base: str | None = None,
        context: int | None = None,
        timeout_s: float = 120.0,
        resolve_key: KeyResolver | None = None,
        local: bool | None = None,
    ) -> None:
        self._name = name
        self.model = model
        self.api_base = api_base
        self._context = context
        self._timeout_s = timeout_s
        self._ready_checked: tuple[float, str | None] = (-1e9, None)  # (when, why)
        self._resolve_key = resolve_key
        # Whether data sent here stays on this machine. Inferred from a loopback api_base
        # unless said outright (a loopback stand-in for a cloud provider is not local).
        self._local = is_loopback(api_base) if local is None else local

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_local(self) -> bool:
        # A model served on this machine (Ollama, LM Studio, llama.cpp's server) keeps
        # data local even though it speaks the cloud protocol.
        return self._local

    @property
    def provider(self) -> str:
        return provider_of(self.model)

    @property
    def context_window(self) -> int | None:
        if self._context:
            return self._context
        try:
            info = litellm_module().get_model_info(self.model)
        except Exception:
            return None
        window = info.get("max_input_tokens") or info.get("max_tokens")
        return int(window) if window else None

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        count = tokens.count_messages(self.model, messages)
        if tools:  # providers put tool schemas in the prompt as JSON, more or less
            schemas = json.dumps([[t.name, t.description, dict(t.parameters)] for t in tools])
            count += tokens.count_text(self.model, schemas)
        return count

    def estimate_cost(self, input_tokens: int, output_tokens: int) -> float | None:
        """Dollars for a call of this size, from litellm's bundled price map."""
        litellm = litellm_module()
        if is_loopback(self.api_base) and self.is_local:
            # A server on this machine is free; one declared `local: false` stands in for
            # a paid service and keeps the price map's price (or none: see budgets).
            self._register_free(litellm)
        try:
            prompt, completion = litellm.cost_per_token(
                model=self.model, prompt_tokens=input_tokens, completion_tokens=output_tokens
            )
        except Exception:
            return None
        return float(prompt) + float(completion)

    def _key(self) -> str | None:
        """The provider's key; `authentication` when one is needed and there is none."""
        try:
            key = self._resolve_key(self.provider) if self._resolve_key else None
        except CairnError as exc:  # no keychain on this machine, and no env fallback set
            if not is_loopback(self.api_base):
                raise EngineError("authentication", str(exc), model=self._name) from exc
            key = None  # servers on this machine need no key
        keyed = self.provider in _KEYED_PROVIDERS and not is_loopback(self.api_base)
        if self._resolve_key is not None and not key and keyed:
            raise EngineError(
                "authentication",
                f"no API key for {self.provider}: set one with `cairn keys set {self.provider}` "
                "(or the provider's environment variable, see docs/keys.md)",
                model=self._name,
            )
        return key

    def unready(self) -> str | None:
        """Why this model cannot be called now without trying (no key), for the router to
        pass it over up front; None when it may be tried. Remembered for 30 s: a keychain
        lookup can be slow, and routing asks before every call."""
        now = time.monotonic()
        if now - self._ready_checked[0] < _READY_FOR_S:
            return self._ready_checked[1]
        try:
            self._key()
            why = None
        except EngineError:
            provider = self.provider
            why = f"no API key for {provider} (`cairn keys set {provider}`, see docs/keys.md)"
        self._ready_checked = (now, why)
        return why

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        litellm = litellm_module()
        if is_loopback(self.api_base) and self.is_local:
            # A server on this machine is free; one declared `local: false` stands in for
            # a paid service and keeps the price map's price (or none: see budgets).
            self._register_free(litellm)
        kwargs = self._arguments(request)
        try:
            response = litellm.completion(**kwargs)
        except Exception as exc:
            raise self._classify(exc) from exc
        yield from self._consume(litellm, response, request, cancel)

    # --- request ----------------------------------------------------------------------

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [_to_wire(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": request.temperature,
            "timeout": self._timeout_s,
            "num_retries": 0,  # failover is the router's job, with its own cooldowns
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        key = self._key()
        if key:
            kwargs["api_key"] = key
        elif is_loopback(self.api_base):
            kwargs["api_key"] = "local"  # OpenAI-compatible servers on this machine need none
        if request.max_tokens:
            kwargs["max_tokens"] = request.max_tokens
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": wire_name(t.name),
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in request.tools
            ]
            if request.tool_choice != "auto":
                kwargs["tool_choice"] = request.tool_choice
        if request.json_schema is not None:
            kwargs["response_format"] = self._response_format(dict(request.json_schema))
        return kwargs

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if is_loopback(self.api_base):
            # OpenAI-compatible local servers (llama.cpp's among them) accept a schema on
            # `json_object` but often reject the newer `json_schema` type.
            return {"type": "json_object", "schema": schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": False},
        }

    def _register_free(self, litellm: Any) -> None:
        """Models served on this machine cost nothing; tell litellm's cost map so.

        Only for names the price map does not know: a loopback proxy in front of a
        priced model keeps that model's price.
        """
        if self.model in _price_checked:
            return
        _price_checked.add(self.model)
        try:
            litellm.cost_per_token(model=self.model, prompt_tokens=1, completion_tokens=1)
        except Exception:  # not in the price map: register it as free
            litellm.register_model(
                {
                    self.model: {
                        "input_cost_per_token": 0.0,
                        "output_cost_per_token": 0.0,
                        "litellm_provider": self.provider,
                        "mode": "chat",
                    }
                }
            )

    # --- response ---------------------------------------------------------------------

    def _consume(
        self, litellm: Any, response: Any, request: ChatRequest, cancel: CancelToken | None
    ) -> Iterator[EngineEvent]:
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage: Any = None
        reason: FinishReason = "stop"
        try:
            for chunk in response:
                if cancel is not None and cancel.cancelled:
                    reason = "cancelled"
                    break
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta is not None and delta.content:
                    parts.append(delta.content)
                    yield TextDelta(delta.content)
                for call in (getattr(delta, "tool_calls", None) or []) if delta else []:
                    slot = calls.setdefault(call.index or 0, {"id": "", "name": "", "args": ""})
                    slot["id"] = call.id or slot["id"]
                    if call.function is not None:
                        slot["name"] += call.function.name or ""
                        slot["args"] += call.function.arguments or ""
                if choice.finish_reason:
                    reason = _finish(choice.finish_reason)
        except EngineError:
            raise
        except Exception as exc:
            raise self._classify(exc) from exc
        finally:
            close = getattr(response, "close", None) or getattr(
                getattr(response, "completion_stream", None), "close", None
            )
            if reason == "cancelled" and callable(close):
                close()
        for slot in calls.values():
            yield ToolCallRequested(_tool_call(slot, request))
        if calls and reason == "stop":
            reason = "tool_calls"
        yield self._usage(litellm, usage, request, "".join(parts))
        yield Finished(reason)

    def _usage(self, litellm: Any, usage: Any, request: ChatRequest, text: str) -> Usage:
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        if not usage:  # some servers (llama.cpp's) send no usage in streams: count ourselves
            prompt = tokens.count_messages(self.model, request.messages)
            completion = tokens.count_text(self.model, text)
        # None when the model is not in the price map: the budget then counts tokens only.
        return Usage(prompt, completion, self.estimate_cost(prompt, completion))

    def _classify(self, exc: Exception) -> EngineError:
        return classify_litellm_error(exc, self._name)


def _finish(reason: str) -> FinishReason:
    mapping: dict[str, FinishReason] = {
        "length": "length",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "content_filter": "content_filter",
    }
    return mapping.get(reason, "stop")


def wire_name(name: str) -> str:
    """A tool's name as providers accept it (OpenAI and Anthropic allow [A-Za-z0-9_-]):
    a connector's `server.tool` goes out as `server__tool`."""
    return name.replace(".", "__")


def _tool_call(slot: dict[str, str], request: ChatRequest) -> ToolCall:
    names = {wire_name(t.name): t.name for t in request.tools}
    slot = {**slot, "name": names.get(slot["name"], slot["name"])}
    try:
        arguments = json.loads(slot["args"]) if slot["args"].strip() else {}
    except json.JSONDecodeError:
        arguments = {"_unparsed": slot["args"]}
    if not isinstance(arguments, dict):
        arguments = {"value": arguments}
    return ToolCall(slot["id"] or f"call_{uuid.uuid4().hex[:12]}", slot["name"], arguments)


def _to_wire(message: Message) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": wire_name(c.name),
                    "arguments": json.dumps(dict(c.arguments)),
                },
            }
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        wire["tool_call_id"] = message.tool_call_id
    if message.name and message.role == "tool":
        wire["name"] = wire_name(message.name)
    return wire


def _retry_after(exc: Exception) -> float | None:
    for source in ("litellm_response_headers", "headers", "response"):
        headers = getattr(exc, source, None)
        headers = getattr(headers, "headers", headers) if source == "response" else headers
        if not headers:
            continue
        value = headers.get("retry-after")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _connection_failed(exc: BaseException) -> bool:
    """litellm reports a refused connection as a 500; look at what actually happened."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, ConnectionError) or name in ("ConnectError", "APIConnectionError"):
            return True
        current = current.__cause__ or current.__context__
    return "Connection error" in str(exc)


_BY_STATUS: dict[int, FailureKind] = {
    400: "bad_request",
    401: "authentication",
    403: "authentication",
    404: "bad_request",
    408: "timeout",
    413: "context_too_long",
    422: "bad_request",
    429: "rate_limited",
    502: "unavailable",
    503: "unavailable",
    504: "timeout",
}


def classify_litellm_error(exc: Exception, model: str) -> EngineError:
    """Map litellm's (OpenAI-style) exceptions to Cairn's failure kinds."""
    from litellm import exceptions as errors

    status = getattr(exc, "status_code", None)
    kind: FailureKind
    if isinstance(exc, errors.ContextWindowExceededError):
        kind = "context_too_long"
    elif isinstance(exc, errors.Timeout):
        kind = "timeout"
    elif "Missing credentials" in str(exc) or "api_key client option must be set" in str(exc):
        kind = "authentication"
    elif isinstance(exc, errors.MidStreamFallbackError):
        kind = "server_error"  # the stream broke or could not be read
    elif _connection_failed(exc):
        kind = "unavailable"
    elif isinstance(status, int) and status in _BY_STATUS:
        kind = _BY_STATUS[status]
    elif isinstance(status, int) and status >= 500:
        kind = "server_error"
    elif isinstance(exc, errors.RateLimitError):
        kind = "rate_limited"
    elif isinstance(exc, errors.AuthenticationError | errors.PermissionDeniedError):
        kind = "authentication"
    elif isinstance(exc, errors.BadRequestError | errors.NotFoundError):
        kind = "bad_request"
    else:
        kind = "unavailable"
    message = str(exc).removeprefix("litellm.")
    if kind == "authentication":
        message += " — check the key with `cairn keys list`, set it with `cairn keys set PROVIDER`"
    return EngineError(kind, message, model=model, retry_after=_retry_after(exc))
