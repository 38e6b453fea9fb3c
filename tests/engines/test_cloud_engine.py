"""The litellm engine against real servers on 127.0.0.1.

- llama.cpp's own OpenAI-compatible server with the tiny model: a real peer, streaming.
- A stub that speaks OpenAI's wire protocol for a priced model, its failures included.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    Finished,
    Message,
    TextDelta,
    ToolSpec,
    Usage,
    collect,
)
from cairn.engines.cloud import CloudEngine
from cairn.testing.openai_stub import OpenAIStub

HELLO = ChatRequest((Message("system", "Be brief."), Message("user", "Say hello.")), max_tokens=16)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tiny_model_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(tiny_model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"llama_cpp.server did not start: {process.stderr}") from None
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def test_streams_from_llama_cpp_server(llama_server: str) -> None:
    engine = CloudEngine("tiny-server", "openai/tiny", api_base=llama_server)
    assert engine.is_local  # served on this machine
    events = list(engine.stream(HELLO))
    assert isinstance(events[-1], Finished)
    usage = next(e for e in events if isinstance(e, Usage))
    # llama.cpp's server sends no usage while streaming: Cairn counts with tiktoken.
    assert usage.input_tokens > 0
    assert usage.cost_usd == 0.0  # a local endpoint is registered as free
    assert any(isinstance(e, TextDelta) for e in events) or events[-1].reason == "length"


def test_json_schema_through_llama_cpp_server(llama_server: str) -> None:
    engine = CloudEngine("tiny-server", "openai/tiny", api_base=llama_server)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    request = ChatRequest((Message("user", "Reply in JSON."),), json_schema=schema, max_tokens=40)
    data = json.loads(collect(engine.stream(request)).text, strict=False)
    assert isinstance(data["ok"], bool)


def test_priced_model_usage_cost_and_key(stub: OpenAIStub) -> None:
    keys: list[str] = []

    def resolve(provider: str) -> str:
        keys.append(provider)
        return "sk-test-cairn-0000"

    engine = CloudEngine(
        "fast", "openai/gpt-4o-mini", api_base=stub.base_url, local=False, resolve_key=resolve
    )
    assert not engine.is_local
    result = collect(engine.stream(HELLO))
    assert result.text.strip() == stub.state.reply
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.usage.cost_usd is not None and result.usage.cost_usd > 0  # local price map
    assert keys == ["openai"]  # resolved at call time
    request = stub.requests[-1]
    assert request.headers["Authorization"] == "Bearer sk-test-cairn-0000"
    assert request.body["stream"] is True
    assert request.body["messages"][1] == {"role": "user", "content": "Say hello."}


def test_tool_calls_are_parsed(stub: OpenAIStub) -> None:
    stub.state.tool_call = {"name": "read_file", "arguments": {"path": "agents.md"}}
    engine = CloudEngine("fast", "openai/gpt-4o-mini", api_base=stub.base_url, local=False)
    tools = (
        ToolSpec(
            "read_file",
            "Read a file.",
            {"type": "object", "properties": {"path": {"type": "string"}}},
        ),
    )
    result = collect(engine.stream(ChatRequest((Message("user", "open it"),), tools=tools)))
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls[0].name == "read_file"
    assert result.tool_calls[0].arguments == {"path": "agents.md"}
    assert stub.requests[-1].body["tools"][0]["function"]["name"] == "read_file"
    assert "tool_choice" not in stub.requests[-1].body  # auto: the provider's default
    for choice in ("none", "required"):
        request = ChatRequest((Message("user", "open it"),), tools=tools, tool_choice=choice)  # type: ignore[arg-type]
        collect(engine.stream(request))
        assert stub.requests[-1].body["tool_choice"] == choice


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("500", "server_error"),
        ("429", "rate_limited"),
        ("401", "authentication"),
        ("context", "context_too_long"),
        ("garbage", "server_error"),
    ],
)
def test_failures_are_classified(stub: OpenAIStub, failure: str, kind: str) -> None:
    engine = CloudEngine(
        "fast",
        "openai/gpt-4o-mini",
        api_base=stub.url(failure),
        local=False,
        resolve_key=lambda _: "sk-test",
    )
    with pytest.raises(EngineError) as caught:
        collect(engine.stream(HELLO))
    assert caught.value.kind == kind
    assert caught.value.model == "fast"
    if failure == "429":
        assert caught.value.retry_after == 7.0
    if failure == "401":
        assert "cairn keys" in str(caught.value)


def test_hang_is_a_timeout(stub: OpenAIStub) -> None:
    stub.state.hang_s = 5
    engine = CloudEngine(
        "fast",
        "openai/gpt-4o-mini",
        api_base=stub.url("hang"),
        local=False,
        timeout_s=1,
        resolve_key=lambda _: "sk-test",
    )
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        collect(engine.stream(HELLO))
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 5


def test_connection_refused_is_unavailable() -> None:
    engine = CloudEngine(
        "fast",
        "openai/gpt-4o-mini",
        api_base=f"http://127.0.0.1:{free_port()}/v1",
        local=False,
        resolve_key=lambda _: "sk-test",
    )
    with pytest.raises(EngineError) as caught:
        collect(engine.stream(HELLO))
    assert caught.value.kind == "unavailable"


def test_cancel_stops_the_stream(stub: OpenAIStub) -> None:
    stub.state.reply = " ".join(["word"] * 200)
    engine = CloudEngine("fast", "openai/gpt-4o-mini", api_base=stub.base_url, local=False)
    cancel = CancelToken()
    deltas = 0
    last = None
    for event in engine.stream(HELLO, cancel):
        last = event
        if isinstance(event, TextDelta):
            deltas += 1
            cancel.cancel()
    assert isinstance(last, Finished) and last.reason == "cancelled"
    assert deltas == 1


def test_importing_the_engine_does_not_import_litellm() -> None:
    code = "import sys, cairn.engines.cloud, cairn.runtime; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cost_map_is_read_locally() -> None:
    # With the variable set before import, litellm never fetches prices over the network;
    # the engine sets it itself, and the cost of a known model comes from the bundled map.
    code = (
        "import os; os.environ.pop('LITELLM_LOCAL_MODEL_COST_MAP', None)\n"
        "from cairn.engines.cloud import litellm_module\n"
        "m = litellm_module()\n"
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'], m.model_cost['gpt-4o-mini']"
        "['input_cost_per_token'] > 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert out.stdout.split() == ["True", "True"]


def test_missing_keychain_is_an_authentication_failure_that_says_how_to_fix_it(
    stub: OpenAIStub,
) -> None:
    from cairn.infra.keychain import KeychainUnavailableError

    def no_keychain(provider: str) -> str:
        raise KeychainUnavailableError("no usable OS keychain; set OPENAI_API_KEY instead")

    remote = CloudEngine(
        "fast",
        "openai/gpt-4o-mini",
        api_base="https://api.example.invalid/v1",
        resolve_key=no_keychain,
    )
    with pytest.raises(EngineError) as caught:
        collect(remote.stream(HELLO))
    assert caught.value.kind == "authentication" and "OPENAI_API_KEY" in str(caught.value)
    on_this_machine = CloudEngine(
        "ollama", "openai/gpt-4o-mini", api_base=stub.base_url, resolve_key=no_keychain
    )
    assert collect(on_this_machine.stream(HELLO)).text.strip() == stub.state.reply


def test_no_key_for_a_keyed_provider_says_how_to_set_one() -> None:
    engine = CloudEngine("fast", "openai/gpt-4o-mini", resolve_key=lambda _: None)
    with pytest.raises(EngineError) as caught:
        collect(engine.stream(HELLO))
    assert caught.value.kind == "authentication"
    assert "cairn keys set openai" in str(caught.value)
