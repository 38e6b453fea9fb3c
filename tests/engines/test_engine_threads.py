"""The local engine and the engine registry under threads, against a real llama.cpp model.

A GUI worker may start a stream, drop it, and leave it to be closed or garbage-collected on
another thread; the engine must not stay locked. Loads race: the model loads once.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import llama_cpp
import pytest

from cairn import runtime
from cairn.core.engine import (
    ChatRequest,
    EngineError,
    EngineEvent,
    Finished,
    Message,
    collect,
)
from cairn.core.ports import ChatEngine
from cairn.core.workspace.schema import AgentsPolicy, ModelSpec
from cairn.engines.local import LocalEngine
from cairn.runtime import Engines

T = TypeVar("T")
BOUND_S = 20.0  # far above the milliseconds these take; a hang fails instead of blocking


def ask(text: str, max_tokens: int = 4) -> ChatRequest:
    return ChatRequest(
        (Message("system", "Be brief."), Message("user", text)), seed=1, max_tokens=max_tokens
    )


def on_thread(fn: Callable[[], T], timeout: float = BOUND_S) -> T:
    """Run `fn` on a new (daemon) thread; its result, or its exception, or a failure if it
    has not finished within `timeout` seconds."""
    results: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def target() -> None:
        try:
            results.put((True, fn()))
        except BaseException as exc:
            results.put((False, exc))

    threading.Thread(target=target, daemon=True).start()
    try:
        ok, value = results.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"still running after {timeout} s: the engine is locked")
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


@pytest.fixture
def engine(tiny_model_path: Path) -> LocalEngine:
    return LocalEngine("tiny", tiny_model_path, context=2048, idle_unload_s=None)


@pytest.mark.parametrize("abandon", ["close", "collect"])
def test_a_stream_abandoned_on_another_thread_does_not_lock_the_engine(
    engine: LocalEngine, abandon: str
) -> None:
    handed: list[Iterator[EngineEvent]] = []

    def start() -> EngineEvent:  # thread A: start a long answer, take one event, walk away
        stream = engine.stream(ask("Tell me a long story.", max_tokens=500))
        first = next(stream)
        handed.append(stream)
        return first

    on_thread(start)
    assert engine._generating.locked()  # the stream is suspended mid-generation

    def drop() -> None:  # thread B: close it, or drop the last reference to it
        stream = handed.pop()
        if abandon == "close":
            stream.close()
        del stream
        gc.collect()

    on_thread(drop)
    assert not engine._generating.locked()
    # Thread C: a new stream runs to the end.
    answer = on_thread(lambda: collect(engine.stream(ask("Again, briefly."))))
    assert answer.finish_reason in {"stop", "length"}
    assert answer.usage.input_tokens > 0


def test_count_tokens_and_unload_on_the_streaming_thread_do_not_deadlock(
    engine: LocalEngine,
) -> None:
    def same_thread() -> tuple[int, int, int]:
        before = engine.count_tokens([Message("user", "hello")])
        stream = engine.stream(ask("Tell me a long story.", max_tokens=500))
        next(stream)
        during = engine.count_tokens([Message("user", "hello")])
        # A second stream on the thread that holds the first would wait for itself: refused.
        with pytest.raises(EngineError, match="still open on this thread"):
            next(engine.stream(ask("hi")))
        engine.unload()  # deferred: never frees the model under a running generation
        assert engine.loaded
        rest = list(stream)
        assert isinstance(rest[-1], Finished)
        assert not engine.loaded  # ...and done once the generation ended
        after = engine.count_tokens([Message("user", "hello")])
        return before, during, after

    before, during, after = on_thread(same_thread)
    assert before == during == after > 0


def test_the_idle_timer_never_unloads_during_a_generation(tiny_model_path: Path) -> None:
    engine = LocalEngine("tiny", tiny_model_path, context=2048, idle_unload_s=0.05)
    collect(engine.stream(ask("hi", max_tokens=2)))  # arms the idle timer
    stream = engine.stream(ask("Tell me a long story.", max_tokens=500))
    next(stream)
    time.sleep(0.4)  # the deadline passes several times while the stream is suspended
    assert engine.loaded
    assert isinstance(list(stream)[-1], Finished)
    deadline = time.monotonic() + BOUND_S
    while engine.loaded and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not engine.loaded  # idle again: unloaded after all


@pytest.mark.parametrize("second", ["load", "count_tokens"])
def test_two_threads_loading_at_once_load_the_model_once(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    constructed: list[object] = []
    real = llama_cpp.Llama

    class CountingLlama(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            constructed.append(self)
            time.sleep(0.2)  # a slow load: the other thread arrives while it runs
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", CountingLlama)
    barrier = threading.Barrier(2)

    def first() -> None:
        barrier.wait()
        engine.load()

    def other() -> int:
        barrier.wait()
        if second == "load":
            engine.load()
            return 0
        return engine.count_tokens([Message("user", "hello")])

    threads = [threading.Thread(target=first, daemon=True)]
    threads[0].start()
    counted = on_thread(other)
    threads[0].join(BOUND_S)
    assert not threads[0].is_alive()
    assert len(constructed) == 1
    assert engine._llm is constructed[0]
    assert second == "load" or counted > 0


def test_engines_build_one_engine_per_name_under_concurrent_first_calls(
    tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = AgentsPolicy.model_validate(
        {"models": {"local-small": {"engine": "local", "path": str(tiny_model_path)}}}
    )
    engines = Engines(policy)
    built: list[ChatEngine] = []
    real = runtime.build_engine

    def slow_build(name: str, spec: ModelSpec, root: Path | None = None) -> ChatEngine:
        time.sleep(0.1)  # every thread arrives before the first build finishes
        engine = real(name, spec, root)
        built.append(engine)
        return engine

    monkeypatch.setattr(runtime, "build_engine", slow_build)
    barrier = threading.Barrier(8)
    got: list[ChatEngine] = []
    lock = threading.Lock()

    def first_call() -> None:
        barrier.wait()
        engine = engines("local-small")
        with lock:
            got.append(engine)

    threads = [threading.Thread(target=first_call, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND_S)
    assert len(got) == 8
    assert len(built) == 1
    assert all(engine is built[0] for engine in got)
