"""The context tier: a prompt prefix evaluated by one process is restored by the next.

Real files, real llama.cpp (a tiny generated GGUF for speed; the real starter model in the
slow test), real separate processes. Damaged entries of every kind are ignored, deleted and
rebuilt — never trusted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.core.engine import ChatRequest, Message, collect
from cairn.engines.local import LocalEngine
from cairn.engines.prefix_cache import MAGIC, PrefixCache
from cairn.infra.starter_model import STARTER

RUNTIME = "test-runtime"
SYSTEM = " ".join(f"Rule {n}: keep the plan short and name the files used." for n in range(40))


def _cache(folder: Path, **kwargs: object) -> PrefixCache:
    return PrefixCache(folder, runtime=RUNTIME, **kwargs)  # type: ignore[arg-type]


# --- the store ------------------------------------------------------------------------


def test_the_longest_stored_prefix_of_the_prompt_is_found(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.save("m" * 64, [1, 2, 3], b"short")
    cache.save("m" * 64, [1, 2, 3, 4, 5], b"long")
    cache.save("m" * 64, [1, 2, 9, 9, 9, 9], b"other branch")
    found = cache.find("m" * 64, [1, 2, 3, 4, 5, 6, 7])
    assert found is not None
    assert found.tokens == (1, 2, 3, 4, 5)
    assert found.state == b"long"
    assert cache.find("m" * 64, [7, 7, 7]) is None


def test_entries_of_another_model_or_runtime_are_not_used(tmp_path: Path) -> None:
    _cache(tmp_path).save("a" * 64, [1, 2, 3], b"state")
    assert _cache(tmp_path).find("b" * 64, [1, 2, 3, 4]) is None
    other_build = PrefixCache(tmp_path, runtime="another llama.cpp")
    assert other_build.find("a" * 64, [1, 2, 3, 4]) is None
    assert _cache(tmp_path).find("a" * 64, [1, 2, 3, 4]) is not None  # still there for it


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "state flipped",
        "tokens flipped",
        "appended",
        "garbage",
        "empty",
        "header lies",
        "huge header",
    ],
)
def test_a_damaged_entry_is_ignored_and_deleted(tmp_path: Path, damage: str) -> None:
    cache = _cache(tmp_path)
    path = cache.save("m" * 64, [5, 6, 7, 8], b"S" * 1000)
    assert path is not None
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[:-10]
    elif damage == "state flipped":
        data[-1] ^= 0xFF
    elif damage == "tokens flipped":
        data[-1001] ^= 0x01
    elif damage == "appended":
        data += b"more"
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "empty":
        data = bytearray()
    elif damage == "header lies":
        length = int.from_bytes(data[8:12], "little")
        header = json.loads(data[12 : 12 + length])
        header["state_bytes"] = 10
        raw = json.dumps(header).encode()
        data = bytearray(MAGIC + len(raw).to_bytes(4, "little") + raw + data[12 + length :])
    elif damage == "huge header":
        data[8:12] = (10**9).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert cache.find("m" * 64, [5, 6, 7, 8, 9]) is None
    assert not path.exists(), "a damaged entry must not stay to be read again"


def test_least_recently_used_entries_are_evicted_past_the_bound(tmp_path: Path) -> None:
    cache = _cache(tmp_path, max_bytes=3_000)
    first = cache.save("m" * 64, [1], b"x" * 1000)
    second = cache.save("m" * 64, [2], b"x" * 1000)
    assert first is not None and second is not None
    os.utime(first, (1, 1))  # long unused
    os.utime(second, (2, 2))
    assert cache.find("m" * 64, [2, 0]) is not None  # a hit makes `second` recent
    third = cache.save("m" * 64, [3], b"x" * 1000)
    assert third is not None
    assert not first.exists()
    assert second.exists() and third.exists()
    assert sum(p.stat().st_size for p in tmp_path.glob("*.kv")) <= 3_000


def test_a_failed_write_leaves_no_entry_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _cache(tmp_path)

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    assert cache.save("m" * 64, [1, 2], b"state") is None
    assert list(tmp_path.iterdir()) == []


def test_the_model_is_hashed_once_per_file_version(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 100)
    cache = _cache(tmp_path / "cache")
    first = cache.model_id(model)
    memo = json.loads((tmp_path / "cache" / "models.json").read_text())
    assert memo[str(model.resolve())]["sha256"] == first
    model.write_bytes(b"GGUF" + b"\1" * 100)  # a new file under the same name
    os.utime(model, ns=(1, 1))
    assert cache.model_id(model) != first


# --- through the engine, across processes ---------------------------------------------

_ONE_CALL = """
import json, sys
from cairn.core.engine import ChatRequest, Message, collect
from cairn.engines.local import LocalEngine
from cairn.engines.prefix_cache import PrefixCache
model, folder, system, question = sys.argv[1:5]
engine = LocalEngine("m", model, context=2048, idle_unload_s=None,
                     prefix_cache=PrefixCache(__import__("pathlib").Path(folder),
                                              runtime="test-runtime", min_tokens=16))
done = collect(engine.stream(ChatRequest(
    (Message("system", system), Message("user", question)),
    max_tokens=12, temperature=0.0, seed=7)))
print(json.dumps({"text": done.text, "in": done.usage.input_tokens,
                  "reused": done.usage.cached_input_tokens}))
"""


def _process(model: Path, folder: Path, question: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _ONE_CALL, str(model), str(folder), SYSTEM, question],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_second_process_restores_the_prefix_and_answers_the_same(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "prefixes"
    cold = _process(tiny_model_path, folder, "What is on the list?")
    assert cold["reused"] == 0
    assert len(list(folder.glob("*.kv"))) == 1
    warm = _process(tiny_model_path, folder, "What is on the list?")
    assert int(warm["reused"]) > 100  # type: ignore[call-overload]
    assert warm["text"] == cold["text"], "a restored prefix must give the same greedy answer"
    other = _process(tiny_model_path, folder, "Another question entirely")
    assert other["reused"] == warm["reused"]  # the system part is shared by every question


@pytest.mark.slow
def test_a_corrupted_state_file_is_rebuilt_not_trusted(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "prefixes"
    cold = _process(tiny_model_path, folder, "Q")
    (entry,) = folder.glob("*.kv")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the KV state
    entry.write_bytes(bytes(data))
    rebuilt = _process(tiny_model_path, folder, "Q")
    assert rebuilt["reused"] == 0  # not trusted
    assert rebuilt["text"] == cold["text"]
    (fresh,) = folder.glob("*.kv")
    assert fresh.read_bytes() != bytes(data)  # written again, whole
    assert int(_process(tiny_model_path, folder, "Q")["reused"]) > 100  # type: ignore[call-overload]


def test_a_state_llama_cpp_refuses_is_dropped_and_rebuilt(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    """An entry that passes every hash but that llama.cpp will not load (another build
    wrote it under the same runtime name, say) costs one evaluation, not a failure."""
    cache = PrefixCache(tmp_path, runtime=RUNTIME, min_tokens=16)
    engine = LocalEngine("m", tiny_model_path, context=2048, idle_unload_s=None, prefix_cache=cache)
    request = ChatRequest(
        (Message("system", SYSTEM), Message("user", "Q")), max_tokens=4, temperature=0.0, seed=1
    )
    first = collect(engine.stream(request))
    (entry,) = tmp_path.glob("*.kv")
    model = cache.model_id(tiny_model_path)
    header_and_tokens = entry.read_bytes()
    stored = cache.find(model, _tokens_of(engine, request))
    assert stored is not None
    entry.unlink()
    cache.save(model, list(stored.tokens), b"\0" * 64)  # valid entry, nonsense state
    engine.unload()
    again = collect(engine.stream(request))
    assert again.usage.cached_input_tokens == 0
    assert again.text == first.text
    (rebuilt,) = tmp_path.glob("*.kv")
    assert len(rebuilt.read_bytes()) == len(header_and_tokens)


def _tokens_of(engine: LocalEngine, request: ChatRequest) -> list[int]:
    engine.load()
    return engine._prompt_tokens(engine._llm, request.messages, ())[0]


# --- the real starter model -------------------------------------------------------------


@pytest.mark.slow
def test_the_starter_prefix_saved_by_one_process_serves_the_next(
    tmp_path: Path, starter_models: Path
) -> None:
    model = starter_models / STARTER.filename
    folder = tmp_path / "prefixes"
    cold = _process(model, folder, "Name one colour of the sky.")
    warm = _process(model, folder, "Name one colour of the sky.")
    assert cold["reused"] == 0
    assert int(warm["reused"]) >= 0.9 * int(cold["in"])  # type: ignore[call-overload]
    assert warm["text"] == cold["text"]
