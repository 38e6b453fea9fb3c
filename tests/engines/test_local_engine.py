"""The local engine against a real llama.cpp model the tests write themselves.

The model's weights are random: tests assert on shapes and behaviour, never on words.
"""

from __future__ import annotations

import json
import time
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
from cairn.core.ports import ChatEngine
from cairn.engines.local import LocalEngine
from cairn.testing.tiny_gguf import write_tiny_model

SYSTEM = "You are a careful assistant. " + "Keep the workspace tidy and answer briefly. " * 60


def ask(text: str, **kwargs: object) -> ChatRequest:
    return ChatRequest((Message("system", SYSTEM), Message("user", text)), seed=1, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def engine(tiny_model_path: Path) -> LocalEngine:
    return LocalEngine("tiny", tiny_model_path, context=2048, idle_unload_s=None)


def test_is_a_chat_engine(engine: LocalEngine) -> None:
    assert isinstance(engine, ChatEngine)
    assert engine.is_local and engine.name == "tiny"


def test_streams_deltas_then_usage_then_finished(engine: LocalEngine) -> None:
    events = list(engine.stream(ask("Say hello.", max_tokens=24)))
    assert isinstance(events[-1], Finished) and events[-1].reason in ("stop", "length")
    assert isinstance(events[-2], Usage)
    assert all(isinstance(e, TextDelta) for e in events[:-2])
    usage = events[-2]
    assert usage.input_tokens > 200 and 0 < usage.output_tokens <= 27
    assert usage.cost_usd == 0.0
    assert engine.loaded


def test_structured_output_follows_the_schema(engine: LocalEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 24},
            "urgent": {"type": "boolean"},
        },
        "required": ["title", "urgent"],
    }
    for seed in range(3):
        request = ChatRequest(
            (Message("user", "Classify this note."),), json_schema=schema, max_tokens=200, seed=seed
        )
        data = json.loads(collect(engine.stream(request)).text, strict=False)
        assert isinstance(data["title"], str) and isinstance(data["urgent"], bool)


def test_tools_through_the_json_protocol(engine: LocalEngine) -> None:
    tools = (
        ToolSpec(
            "read_file",
            "Read a workspace file.",
            {
                "type": "object",
                "properties": {"path": {"type": "string", "maxLength": 40}},
                "required": ["path"],
            },
        ),
        ToolSpec(
            "search",
            "Search the workspace.",
            {
                "type": "object",
                "properties": {"query": {"type": "string", "maxLength": 40}},
                "required": ["query"],
            },
        ),
    )
    outcomes = set()
    for seed in range(6):
        request = ChatRequest(
            (Message("user", "Open the readme."),),
            tools=tools,
            max_tokens=120,
            seed=seed,
            temperature=1.0,
        )
        result = collect(engine.stream(request))
        if result.tool_calls:
            call = result.tool_calls[0]
            assert call.name in {"read_file", "search"}
            assert isinstance(call.arguments, dict)
            assert result.finish_reason == "tool_calls"
            outcomes.add("tool")
        else:
            assert result.finish_reason in ("stop", "length")
            outcomes.add("answer")
    assert outcomes  # every run ended in a parsed tool call or an answer, never a crash


def test_cancellation_mid_stream(engine: LocalEngine) -> None:
    cancel = CancelToken()
    deltas = 0
    events = []
    for event in engine.stream(ask("Write a long story.", max_tokens=400), cancel):
        events.append(event)
        if isinstance(event, TextDelta):
            deltas += 1
            if deltas == 3:
                cancel.cancel()
    assert isinstance(events[-1], Finished) and events[-1].reason == "cancelled"
    assert deltas <= 4
    # The engine is usable again right away.
    assert collect(engine.stream(ask("Again.", max_tokens=4))).finish_reason in ("stop", "length")


def test_prefix_is_reused_across_steps(engine: LocalEngine) -> None:
    first = collect(engine.stream(ask("First step.", max_tokens=4))).usage
    second = collect(engine.stream(ask("Second step, different.", max_tokens=4))).usage
    assert first.cached_input_tokens < 50
    assert second.cached_input_tokens >= 0.9 * (second.input_tokens - 20)
    engine.unload()
    third = collect(engine.stream(ask("Second step, different.", max_tokens=4))).usage
    assert third.cached_input_tokens == 0


def test_refuses_a_model_that_cannot_fit(tiny_model_path: Path) -> None:
    absurd = LocalEngine("tiny", tiny_model_path, context=50_000_000, idle_unload_s=None)
    with pytest.raises(EngineError) as caught:
        list(absurd.stream(ask("hi")))
    assert caught.value.kind == "out_of_memory"
    assert "context" in str(caught.value) and "MiB" in str(caught.value)
    assert not absurd.loaded
    starved = LocalEngine("tiny", tiny_model_path, available=1024, idle_unload_s=None)
    with pytest.raises(EngineError, match="needs about") as caught:
        starved.load()
    assert caught.value.kind == "out_of_memory"


def test_missing_and_corrupt_files_are_clear_errors(tmp_path: Path) -> None:
    missing = LocalEngine("gone", tmp_path / "nope.gguf")
    with pytest.raises(EngineError) as caught:
        missing.load()
    assert caught.value.kind == "unavailable" and "cairn models" in str(caught.value)
    broken = tmp_path / "broken.gguf"
    good = write_tiny_model(tmp_path / "good.gguf")
    broken.write_bytes(good.read_bytes()[:5000])
    engine = LocalEngine("broken", broken)
    with pytest.raises(EngineError) as caught:
        engine.load()
    assert caught.value.kind == "unavailable"
    assert not engine.loaded


def test_prompt_longer_than_the_window(tmp_path: Path) -> None:
    small = write_tiny_model(tmp_path / "small.gguf", context_length=256)
    engine = LocalEngine("small", small, context=256, idle_unload_s=None)
    with pytest.raises(EngineError) as caught:
        list(engine.stream(ask("hello")))
    assert caught.value.kind == "context_too_long"


def test_idle_unload_and_explicit_unload(tiny_model_path: Path) -> None:
    engine = LocalEngine("tiny", tiny_model_path, context=2048, idle_unload_s=0.2)
    collect(engine.stream(ask("hi", max_tokens=2)))
    assert engine.loaded
    deadline = time.monotonic() + 5
    while engine.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not engine.loaded
    engine.load()
    engine.unload()
    assert not engine.loaded


def test_token_counts_use_the_models_tokenizer(engine: LocalEngine) -> None:
    short = engine.count_tokens([Message("user", "hello")])
    long = engine.count_tokens([Message("user", "hello " * 100)])
    assert 0 < short < long


def test_named_chat_format(tiny_model_path: Path) -> None:
    chatml = LocalEngine("tiny", tiny_model_path, chat_format="chatml", idle_unload_s=None)
    assert collect(chatml.stream(ask("hi", max_tokens=4))).usage.input_tokens > 0
    wrong = LocalEngine("tiny", tiny_model_path, chat_format="no-such-format")
    with pytest.raises(EngineError) as caught:
        wrong.load()
    assert caught.value.kind == "bad_request" and "chatml" in str(caught.value)
    assert not wrong.loaded


def test_tool_choice_required_makes_even_a_random_model_call_a_tool(engine: LocalEngine) -> None:
    from cairn.core.engine import ToolCallRequested

    pick = ToolSpec(
        "pick",
        "Pick one.",
        {
            "type": "object",
            "properties": {"x": {"type": "string", "enum": ["a", "b"]}},
            "required": ["x"],
        },
    )
    for seed in (1, 2, 3):
        request = ChatRequest(
            (Message("user", "Choose."),),
            tools=(pick,),
            tool_choice="required",
            max_tokens=200,
            seed=seed,
        )
        calls = [e.call for e in engine.stream(request) if isinstance(e, ToolCallRequested)]
        assert calls and calls[0].name == "pick" and calls[0].arguments["x"] in ("a", "b")
