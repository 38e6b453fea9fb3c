"""Benchmark: what LocalEngine adds over calling llama.cpp directly, and what prefix reuse saves.

Both parts run on one model generated on the spot by `write_tiny_model` (a real llama-
architecture GGUF with random weights; its size is set by the flags below), on the CPU.

* engine overhead: a one-shot completion through `LocalEngine.stream` (drained with `collect`)
  against llama-cpp-python driven directly: a second `Llama` loaded from the same file with
  the same n_ctx, n_threads and n_gpu_layers, fed the *same prompt tokens* (those the engine
  itself computes: `engine._prompt_tokens(llm, messages, ())`, i.e. the model's own Jinja chat
  template rendered by llama_cpp's Jinja2ChatFormatter, then tokenized) with the same sampling
  settings (seed, temperature, and the engine's own top_k/top_p/min_p and penalties) and the
  same limit of --max-tokens. The direct side is the leanest correct use of the library: a
  loop over `Llama.generate` that stops at an end-of-generation token or at the limit, then
  one `detokenize`. The engine's time includes what it does on top: chat formatting and
  tokenization, the prefix count, per-token incremental UTF-8 decoding and stop-string
  checks, the usage event and idle-timer handling. Prefix reuse is off on both sides
  (`reset()` before every call, outside the timed region), so each call evaluates the whole
  prompt. --runs calls each, interleaved (the order alternates), after one warm-up each;
  the generated token counts must match on every call, else the run is invalid (exit 1).
  Target: median(engine) / median(direct) <= 1.05. For reference, `create_completion` on the
  same tokens is timed too (informational, no target).
* prefix reuse: a long agents.md-like system message (at least --prefix-tokens tokens) plus a
  different short user message each call, --max-tokens 1 so that the time is prompt
  processing. Reuse off: `reset()` then a call. Reuse on: the next call straight after it on
  the warm engine, which only evaluates the new suffix; its Usage.cached_input_tokens must be
  >= --prefix-tokens. Pairs alternate off/on, --reuse-runs pairs after one warm-up pair.
  Target: median(off) / median(on) >= 5.

Exit status is 0 whatever the figures (benchmarks report, they do not gate); 1 only when the
comparison is invalid (token counts differ, too little of the prefix was reused).
--profile adds a cProfile of --runs engine calls (top functions by own time).

Run from the repository root:
    .venv/bin/python bench/engines.py [--runs 20] [--embedding 256 --layers 4 --heads 8
        --feed-forward 512 --context 4096] [--threads N] [--profile]
    .venv/bin/python bench/engines.py --model starter --temperature 0 --runs 5  # real model
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEM_SHORT = (
    "You are a working assistant for a small team. Read the space readme before acting, "
    "keep answers short, and say which file you used."
)
USER_SHORT = "Summarise the open loops in the weekly notes and name an owner for each one."

AGENTS_SECTION = """## Section {n}: how to work in this workspace

You are a working assistant. Before you act, read the readme of the space the task
belongs to, then the skills it names. Keep a short plan and update it as you go.

Rules:
1. Never write outside the space you were given; ask first when a task needs another one.
2. Prefer the local model for anything marked sensitive; the cloud models are for drafts.
3. Every answer names the files it used, with their paths, and the open questions left.
4. When a tool fails, say what failed and what you tried; do not invent results.
5. Budgets: stop and report when the task budget is spent, and never retry a tool more
   than twice in a row.

Routing: plan and work go to the worker role, summaries to the fast role, anything that
touches customer data or contracts stays on the local role. Memory notes are written by
the local model only, after the task ends, and list the decision, the owner and the date.

Review checklist: the owner is named, the deadline is a date, the risk has a next step,
the budget line is right, and the customer was told. If one is missing, flag it.
"""

USER_TASKS = (
    "Draft the weekly status memo for the release.",
    "List the open risks in the vendor contract.",
    "Which invoices are still waiting for a decision?",
    "Summarise yesterday's incident and its follow-up actions.",
    "Plan the customer interview for next week.",
    "What changed in the roadmap since the last quarter?",
    "Write a short brief for the hiring meeting.",
    "Check the budget estimate against the dashboard.",
)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- the two sides ----------------------------------------------------------------------


def engine_call(engine: Any, request: Any, *, reset: bool) -> tuple[float, Any]:
    from cairn.core.engine import collect

    if reset:
        engine._llm.reset()
    start = time.perf_counter()
    completion = collect(engine.stream(request))
    return time.perf_counter() - start, completion


def penalties(sampling: Any) -> dict[str, Any]:
    """The engine's sampling settings, for the direct side to use the same."""
    return {
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "min_p": sampling.min_p,
        "repeat_penalty": sampling.repeat_penalty,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
    }


def direct_call(
    llm: Any,
    tokens: list[int],
    *,
    seed: int,
    temperature: float,
    max_tokens: int,
    sampling: dict[str, Any],
) -> tuple[float, list[int], str]:
    """The leanest correct use of llama_cpp: generate, stop at end-of-generation or the limit."""
    import llama_cpp

    llm.reset()
    start = time.perf_counter()
    llm.set_seed(seed)
    vocab = llm._model.vocab
    out: list[int] = []
    for token in llm.generate(tokens, temp=temperature, **sampling):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        out.append(token)
        if len(out) >= max_tokens:
            break
    text = llm.detokenize(out).decode("utf-8", errors="replace")
    return time.perf_counter() - start, out, text


def completion_call(
    llm: Any,
    tokens: list[int],
    *,
    seed: int,
    temperature: float,
    max_tokens: int,
    sampling: dict[str, Any],
) -> tuple[float, int]:
    llm.reset()
    start = time.perf_counter()
    result = llm.create_completion(
        tokens,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        **sampling,
        stop=[],
    )
    return time.perf_counter() - start, int(result["usage"]["completion_tokens"])


# --- the two parts ----------------------------------------------------------------------


def overhead(engine: Any, direct: Any, args: argparse.Namespace) -> None:
    from cairn.core.engine import ChatRequest, Message

    messages = (Message("system", SYSTEM_SHORT), Message("user", USER_SHORT))
    request = ChatRequest(
        messages, max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed
    )
    tokens = engine._prompt_tokens(engine._llm, messages, ())[0]
    same = {
        "seed": args.seed,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "sampling": penalties(engine.sampling),
    }

    def run(side: str) -> tuple[float, int, str]:
        if side == "engine":
            took, done = engine_call(engine, request, reset=True)
            return took, done.usage.output_tokens, done.text
        if side == "direct":
            took, out, text = direct_call(direct, tokens, **same)
            return took, len(out), text.lstrip(" ")  # the engine drops SentencePiece's space
        took, generated = completion_call(direct, tokens, **same)
        return took, generated, ""

    sides = ("engine", "direct", "completion")
    for side in sides:  # warm-up
        run(side)
    times: dict[str, list[float]] = {side: [] for side in sides}
    counts: set[tuple[int, ...]] = set()
    texts_match = 0
    for i in range(args.runs):
        results = {}
        for side in sides if i % 2 == 0 else sides[::-1]:
            results[side] = run(side)
            times[side].append(results[side][0])
        counts.add(tuple(results[side][1] for side in sides))
        texts_match += results["engine"][2] == results["direct"][2]
    generated = {count for row in counts for count in row}
    if len(generated) != 1:
        raise SystemExit(f"invalid: generated token counts differ {sides}: {sorted(counts)}")
    n = generated.pop()
    early = "" if n == args.max_tokens else " (an end-of-generation token came first)"
    print(
        f"  prompt {len(tokens)} tokens (the engine's own _prompt_tokens), {n} tokens generated "
        f"on every call of every side{early}; same text engine/direct on "
        f"{texts_match}/{args.runs} calls"
    )
    labels = {
        "engine": "LocalEngine",
        "direct": "Llama.generate",
        "completion": "create_completion",
    }
    for side in sides:
        values = sorted(times[side])
        median = statistics.median(values)
        print(
            f"  {labels[side]:<18} median {ms(median)}, min {ms(values[0])}, "
            f"max {ms(values[-1])}, {median / n * 1000:.2f} ms per generated token"
        )
    engine_ms, direct_ms, completion_ms = (statistics.median(times[side]) for side in sides)
    pairs = statistics.median(e / d for e, d in zip(times["engine"], times["direct"], strict=True))
    print(
        f"  median of per-round ratios engine/direct {pairs:.3f}; ratio of minimums "
        f"{min(times['engine']) / min(times['direct']):.3f}; (reference) create_completion / "
        f"Llama.generate {completion_ms / direct_ms:.3f}"
    )
    ratio = engine_ms / direct_ms
    print(
        f"engine overhead: engine {ms(engine_ms)} vs llama_cpp {ms(direct_ms)} "
        f"(median of {args.runs}) → ratio {ratio:.3f} (target <= 1.05) {verdict(ratio <= 1.05)}"
    )


def long_system(engine: Any, minimum: int) -> str:
    from cairn.core.engine import Message

    sections = [AGENTS_SECTION.format(n=1)]
    while engine.count_tokens([Message("system", "\n".join(sections))]) < minimum + 16:
        sections.append(AGENTS_SECTION.format(n=len(sections) + 1))
    return "---\nmodels: {local-small: {engine: local}}\n---\n" + "\n".join(sections)


def prefix_reuse(engine: Any, args: argparse.Namespace) -> None:
    from cairn.core.engine import ChatRequest, Message

    system = long_system(engine, args.prefix_tokens)

    def request(i: int) -> ChatRequest:
        user = f"{USER_TASKS[i % len(USER_TASKS)]} (request {i})"
        messages = (Message("system", system), Message("user", user))
        return ChatRequest(messages, max_tokens=1, temperature=args.temperature, seed=args.seed)

    off: list[float] = []
    on: list[float] = []
    cached: list[int] = []
    prompts: list[int] = []
    for i in range(args.reuse_runs + 1):  # pair 0 is the warm-up
        took_off, _ = engine_call(engine, request(2 * i), reset=True)
        took_on, done = engine_call(engine, request(2 * i + 1), reset=False)
        if i:
            off.append(took_off)
            on.append(took_on)
            cached.append(done.usage.cached_input_tokens)
            prompts.append(done.usage.input_tokens)
    if min(cached) < args.prefix_tokens:
        raise SystemExit(
            f"invalid: only {min(cached):,} prompt tokens reused, want >= {args.prefix_tokens:,}"
        )
    off_ms, on_ms = statistics.median(off), statistics.median(on)
    speedup = off_ms / on_ms
    print(
        f"  system message {len(system):,} chars; prompts {min(prompts):,}-{max(prompts):,} "
        f"tokens; reused {min(cached):,}-{max(cached):,} tokens per warm call"
    )
    print(
        f"  reuse off: median {ms(off_ms)} (min {ms(min(off))}, max {ms(max(off))}); "
        f"reuse on: median {ms(on_ms)} (min {ms(min(on))}, max {ms(max(on))})"
    )
    print(
        f"prefix reuse: {statistics.median(cached):,.0f} of {statistics.median(prompts):,.0f} "
        f"prompt tokens reused; {ms(on_ms)} vs {ms(off_ms)} → {speedup:.1f}x faster "
        f"(median of {args.reuse_runs}, target >= 5x) {verdict(speedup >= 5)}"
    )


def profile(engine: Any, args: argparse.Namespace) -> None:
    from cairn.core.engine import ChatRequest, Message

    messages = (Message("system", SYSTEM_SHORT), Message("user", USER_SHORT))
    request = ChatRequest(
        messages, max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed
    )
    profiler = cProfile.Profile()
    for _ in range(args.runs):
        engine._llm.reset()
        profiler.enable()
        engine_call(engine, request, reset=False)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    print(f"\ncProfile of {args.runs} engine calls (own time, top 25):")
    print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed calls per side (default 20)")
    parser.add_argument("--reuse-runs", type=int, default=5, help="off/on pairs (default 5)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per call (default 64)")
    parser.add_argument(
        "--prefix-tokens", type=int, default=1000, help="shared prefix (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    parser.add_argument("--temperature", type=float, default=0.8, help="(default 0.8)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: llama.cpp's)")
    parser.add_argument("--embedding", type=int, default=256, help="model width (default 256)")
    parser.add_argument("--layers", type=int, default=4, help="(default 4)")
    parser.add_argument("--heads", type=int, default=8, help="(default 8)")
    parser.add_argument("--feed-forward", type=int, default=512, help="(default 512)")
    parser.add_argument(
        "--context", type=int, default=4096, help="n_ctx and trained context (default 4096)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the engine path too")
    parser.add_argument(
        "--model",
        metavar="GGUF",
        help="a real model instead of a generated one ('starter': the installed starter model)",
    )
    args = parser.parse_args()

    from llama_cpp import Llama

    from cairn.engines.local import LocalEngine
    from cairn.testing.tiny_gguf import write_tiny_model

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as temp:
        start = time.perf_counter()
        if args.model == "starter":
            from cairn.infra.starter_model import STARTER, models_folder

            path = models_folder() / STARTER.filename
        elif args.model:
            path = Path(args.model)
        else:
            path = write_tiny_model(
                Path(temp) / "bench.gguf",
                embedding=args.embedding,
                layers=args.layers,
                heads=args.heads,
                feed_forward=args.feed_forward,
                context_length=args.context,
            )
        written = time.perf_counter() - start
        engine = LocalEngine("bench", path, context=args.context, threads=args.threads)
        start = time.perf_counter()
        engine.load()
        loaded = time.perf_counter() - start
        direct = Llama(
            model_path=str(path),
            n_ctx=args.context,
            n_gpu_layers=0,
            n_threads=args.threads,
            last_n_tokens_size=engine.sampling.repeat_last_n,
            verbose=False,
        )
        llm = engine._llm
        if (llm.n_ctx(), llm.n_threads, llm.n_batch) != (
            direct.n_ctx(),
            direct.n_threads,
            direct.n_batch,
        ):
            raise SystemExit("invalid: the engine's Llama and the direct Llama differ in settings")
        shape = (
            f"{path.name}"
            if args.model
            else f"embedding {args.embedding}, {args.layers} layers, {args.heads} heads, "
            f"feed-forward {args.feed_forward}, written in {ms(written)}"
        )
        print(
            f"model: {shape}, {path.stat().st_size / 1e6:.1f} MB, loaded in {ms(loaded)}; "
            f"n_ctx {llm.n_ctx()}, {llm.n_threads} threads, seed {args.seed}, temperature "
            f"{args.temperature}; sampling {penalties(engine.sampling)}"
        )
        try:
            overhead(engine, direct, args)
            prefix_reuse(engine, args)
            if args.profile:
                profile(engine, args)
        finally:
            engine.unload()
            direct.close()
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
