"""The tiny GGUF model runs in the real llama.cpp: tokenizer, chat template, grammar, limits.

Its weights are random, so these tests assert on shapes and formats, never on the words.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import pytest

from cairn.testing.tiny_gguf import CHATML_TEMPLATE, write_tiny_model

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to the world."},
]


@pytest.fixture(scope="module")
def llm(tiny_model_path: Path) -> Iterator[llama_cpp.Llama]:
    model = llama_cpp.Llama(model_path=str(tiny_model_path), n_ctx=512, seed=0, verbose=False)
    yield model
    model.close()


def test_writes_in_well_under_a_second_and_loads_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    path = write_tiny_model(tmp_path / "tiny.gguf")
    written = time.perf_counter() - started
    assert written < 1.0
    assert 200_000 < path.stat().st_size < 1_000_000

    started = time.perf_counter()
    model = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False)
    loaded = time.perf_counter() - started
    assert loaded < 2.0
    assert model.n_ctx() == 512
    model.close()


def test_same_arguments_give_the_same_bytes(tmp_path: Path) -> None:
    first = write_tiny_model(tmp_path / "a.gguf", seed=7).read_bytes()
    assert write_tiny_model(tmp_path / "b.gguf", seed=7).read_bytes() == first
    assert write_tiny_model(tmp_path / "c.gguf", seed=8).read_bytes() != first


def test_metadata_carries_the_chat_template_and_chatml_markers(llm: llama_cpp.Llama) -> None:
    assert llm.metadata["general.architecture"] == "llama"
    assert llm.metadata["tokenizer.chat_template"] == CHATML_TEMPLATE
    im_start = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)
    im_end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    assert len(im_start) == 1 and len(im_end) == 1, "ChatML markers are single control tokens"
    assert llm.token_eos() == im_end[0]


@pytest.mark.parametrize("vocab", ["llama", "gpt2"])
def test_ascii_text_round_trips_through_the_tokenizer(tmp_path: Path, vocab: Any) -> None:
    path = write_tiny_model(tmp_path / f"{vocab}.gguf", vocab=vocab)
    model = llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False)
    text = b'Hello world, the model is a test: {"name": "note", "ok": true} [1, 2]\n\tdone!'
    # With the BOS the model asks for: llama-cpp-python drops SentencePiece's leading "▁"
    # only when the tokens start with BOS, so add_bos=False would come back as b" Hello...".
    tokens = model.tokenize(text)
    assert len(tokens) < len(text) * 0.6, "common words and JSON punctuation are whole pieces"
    assert model.detokenize(tokens) == text
    model.close()


def test_chat_completion_has_the_openai_shape(llm: llama_cpp.Llama) -> None:
    result: Any = llm.create_chat_completion(messages=MESSAGES, max_tokens=16, seed=1)
    assert result["object"] == "chat.completion"
    [choice] = result["choices"]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = result["usage"]
    assert usage["prompt_tokens"] > 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_chat_completion_has_the_openai_shape(llm: llama_cpp.Llama) -> None:
    chunks: list[Any] = list(
        llm.create_chat_completion(messages=MESSAGES, max_tokens=16, seed=1, stream=True)
    )
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[1:-1]]
    assert all(isinstance(delta.get("content"), str) for delta in deltas)
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    # llama-cpp-python reports no usage at all in a stream.
    assert not any("usage" in chunk for chunk in chunks)


def test_generation_stops_at_im_end(llm: llama_cpp.Llama) -> None:
    im_end = llm.token_eos()
    # Random weights almost never pick <|im_end|> on their own: make it likely.
    result: Any = llm.create_chat_completion(
        messages=MESSAGES, max_tokens=64, seed=3, logit_bias={im_end: 3.0}
    )
    [choice] = result["choices"]
    assert choice["finish_reason"] == "stop"
    assert "<|im_end|>" not in choice["message"]["content"]
    assert result["usage"]["completion_tokens"] < 64


@pytest.mark.parametrize("seed", range(5))
def test_json_schema_constrains_the_output(llm: llama_cpp.Llama, seed: int) -> None:
    schema = {
        "type": "object",
        # Without maxLength a random model can write one string until max_tokens.
        "properties": {"title": {"type": "string", "maxLength": 24}, "done": {"type": "boolean"}},
        "required": ["title", "done"],
    }
    result: Any = llm.create_chat_completion(
        messages=[{"role": "user", "content": "Answer in JSON."}],
        max_tokens=200,
        seed=seed,
        response_format={"type": "json_object", "schema": schema},
    )
    [choice] = result["choices"]
    assert choice["finish_reason"] == "stop"
    # strict=False: llama-cpp-python's schema grammar lets raw control characters into
    # strings (its char rule is [^"\\]), which strict JSON parsing rejects.
    value = json.loads(choice["message"]["content"], strict=False)
    assert set(value) == {"title", "done"}
    assert isinstance(value["title"], str) and len(value["title"]) <= 24
    assert isinstance(value["done"], bool)


def test_a_prompt_longer_than_the_context_raises(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "short.gguf", context_length=256)
    model = llama_cpp.Llama(model_path=str(path), n_ctx=0, verbose=False)
    assert model.n_ctx() == 256, "n_ctx=0 takes the trained context from the file"
    with pytest.raises(ValueError, match="exceed context window of 256"):
        model.create_chat_completion(
            messages=[{"role": "user", "content": "the " * 400}], max_tokens=8
        )
    model.close()


def test_shapes_that_cannot_split_into_heads_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of heads"):
        write_tiny_model(tmp_path / "bad.gguf", embedding=60, heads=8)
    with pytest.raises(ValueError, match="kv_heads"):
        write_tiny_model(tmp_path / "bad.gguf", heads=4, kv_heads=3)


def test_grouped_query_attention_and_gpt2_vocab_models_chat(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "gqa.gguf", heads=4, kv_heads=2, vocab="gpt2")
    model = llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False)
    result: Any = model.create_chat_completion(messages=MESSAGES, max_tokens=8, seed=1)
    assert result["choices"][0]["finish_reason"] in ("stop", "length")
    model.close()
