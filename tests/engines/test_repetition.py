"""Looping answers end: the detector on token streams, and the real starter model caught in a
loop it really falls into."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cairn.core.engine import ChatRequest, Message, collect
from cairn.core.workspace.schema import ModelSpec
from cairn.engines.local import LocalEngine, Sampling
from cairn.engines.repetition import RepetitionDetector
from cairn.infra.starter_model import STARTER
from cairn.runtime import sampling_for
from tests.conftest import REPO


def _first_hit(tokens: list[int]) -> int | None:
    detector = RepetitionDetector()
    return next((i for i, t in enumerate(tokens) if detector.add(t)), None)


def test_a_repeated_paragraph_is_caught_when_its_second_copy_ends() -> None:
    paragraph = list(range(100, 160))  # 60 tokens
    assert _first_hit([1, 2, 3, *paragraph, *paragraph, *paragraph]) == 3 + 2 * 60 - 1


def test_a_short_block_needs_more_copies_than_a_long_one() -> None:
    assert _first_hit([7] * 47) is None
    assert _first_hit([7] * 48) == 47
    assert _first_hit([5, 6, 7, 8] * 11) is None  # 44 tokens
    assert _first_hit([5, 6, 7, 8] * 12) == 47


def test_text_that_only_resembles_a_loop_is_left_alone() -> None:
    counting = [t for n in range(200) for t in (n, 1000, n + 1, 1001)]  # "1. 1\n2. 2\n…"
    assert _first_hit(counting) is None
    rng = random.Random(3)
    prose = [rng.randrange(5000) for _ in range(5000)]
    assert _first_hit(prose) is None


def test_per_model_sampling_in_agents_md_reaches_the_engine() -> None:
    spec = ModelSpec.model_validate(
        {"engine": "local", "path": "m.gguf", "sampling": {"repeat_penalty": 1.3, "top_k": 20}}
    )
    sampling = sampling_for(spec)
    assert sampling == Sampling(repeat_penalty=1.3, top_k=20)
    assert sampling_for(ModelSpec(engine="local", path="m.gguf")) == Sampling()
    with pytest.raises(ValueError, match="temperature"):  # a misspelt or misplaced key
        ModelSpec.model_validate(
            {"engine": "local", "path": "m.gguf", "sampling": {"temperature": 0.1}}
        )
    with pytest.raises(ValueError, match="repeat_penalty"):
        ModelSpec.model_validate(
            {"engine": "local", "path": "m.gguf", "sampling": {"repeat_penalty": 0.5}}
        )


@pytest.fixture
def starter_model(starter_models: Path) -> Path:
    return starter_models / STARTER.filename


LOOPING = (
    Message("system", "You are a helpful assistant. Answer briefly."),
    Message("user", "Tell me about the sea, again and again."),
)


def test_none_of_this_repositorys_documents_or_sources_trips_it(starter_model: Path) -> None:
    """Real prose, tables, lists and code, in the starter model's own tokens."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(starter_model), vocab_only=True, verbose=False)
    paths = [*(REPO / "docs").glob("*.md"), *(REPO / "src").rglob("*.py")]
    for path in sorted(paths):
        tokens = vocab.tokenize(path.read_bytes()[:40_000], add_bos=False)
        assert _first_hit(tokens) is None, path


@pytest.mark.slow
def test_the_starter_model_in_a_loop_is_stopped_and_says_why(starter_model: Path) -> None:
    # Greedy and without the penalty, the starter model repeats one paragraph on this prompt.
    engine = LocalEngine(
        "starter",
        starter_model,
        context=2048,
        idle_unload_s=None,
        sampling=Sampling(repeat_penalty=1.0),
    )
    request = ChatRequest(LOOPING, max_tokens=500, temperature=0.0, seed=1)
    looped = collect(engine.stream(request))
    assert looped.finish_reason == "repetition"
    assert looped.usage.output_tokens < 500
    engine.sampling = Sampling(repeat_penalty=1.0, stop_loops=False)
    unchecked = collect(engine.stream(request))
    assert unchecked.finish_reason == "length"  # what the user got before: 500 tokens of it
    assert unchecked.text.startswith(looped.text)
