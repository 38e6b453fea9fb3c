"""Benchmark: time to first token of a new process that restores the system prompt from disk.

Issue 12: the evaluated system message is kept on disk (`cairn.engines.prefix_cache`), so a
second `cairn ask` does not evaluate it again. Every measurement here is a real, separate
Python process (this file run with --child) that does what `cairn ask` does with the
starter workspace: the system message is `workspace_instructions` of a fresh copy of the
repository's starter workspace (`copy_starter`, then `WorkspaceModel(...).load()`), the
user message a short question that differs on every run, and the engine a `LocalEngine`
on the starter model (context 8192, as in the starter agents.md; sampling defaults)
whose prefix cache is `cairn.runtime.prefix_cache()` with $CAIRN_CACHE_DIR set to a
folder of this run's own. Inside the child are timed: the model load (`engine.load()`),
and the time from calling `engine.stream(...)` to its first TextDelta (TTFT); the child
also reports Usage.cached_input_tokens and prints one JSON line that this process reads.

* cold: a fresh, empty cache folder: the child evaluates the prefix and saves it (its TTFT
  includes hashing the model file once, evaluating, and writing the entry).
* warm: the folder a previous cold run filled: the child restores the prefix and
  evaluates only the question.

--runs pairs, cold and warm interleaved (the order alternates from one pair to the next),
with no warm-up before them. Reported: medians of TTFT and of load + TTFT (what the user
waits for before the first word), the prefix's size in tokens and its entry's size on
disk, and for reference the in-process figure: each child's second call on the same
engine (KV kept in memory), with a question that is the same in every child, so its
answer (greedy) must be the same whether the prefix was evaluated or restored.
Greedy sampling (temperature 0, a seed) and --max-tokens 8, so the time is the prompt's.
Target: median TTFT cold / median TTFT warm >= 10.

Exit status is 0 whatever the figures (benchmarks report, they do not gate); 1 only when
the comparison is invalid: a warm run reused fewer than 90% of the prompt's system tokens,
a cold run reused any, a child failed, or the model is not installed.

Run from the repository root:
    .venv/bin/python bench/prefix_cache.py [--runs 3] [--model PATH] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TARGET = 10.0
MIN_REUSE = 0.9  # of the prompt's system tokens, for a warm run to count
CONTEXT = 8192  # the starter agents.md's `context:` for local-starter

QUESTIONS = (
    "What is this workspace for?",
    "Which space should a sales note go in?",
    "How do I add a new skill?",
    "Who may write to the drafts folder?",
    "What does the planner role do?",
    "Name one automation in this workspace.",
    "Where is memory kept?",
    "Which model handles sensitive steps?",
)
SAME_QUESTION = "In one sentence: what should you do before acting on a task?"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- the child: one `cairn ask`-like process ------------------------------------------


def timed_methods(cache: Any, names: tuple[str, ...], spent: dict[str, float]) -> None:
    """Wrap the cache's methods on the instance to add up their time in `spent`."""

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return timed

    for name in names:
        setattr(cache, name, wrap(name, getattr(cache, name)))


def first_text(events: Iterator[Any], start: float) -> tuple[float | None, str, Any]:
    """Drain a stream: (seconds from `start` to its first TextDelta, the text, its Usage)."""
    from cairn.core.engine import TextDelta, Usage

    ttft: float | None = None
    text: list[str] = []
    usage = None
    for event in events:
        if isinstance(event, TextDelta):
            if ttft is None:
                ttft = time.perf_counter() - start
            text.append(event.text)
        elif isinstance(event, Usage):
            usage = event
    return ttft, "".join(text), usage


def child(spec: dict[str, Any]) -> dict[str, Any]:
    from cairn.core.engine import ChatRequest, Message
    from cairn.core.tasks.parts import workspace_instructions
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.engines.local import LocalEngine, _common_prefix
    from cairn.infra.files import LocalFileStore
    from cairn.runtime import prefix_cache

    workspace = WorkspaceModel(LocalFileStore(Path(spec["workspace"]))).load()
    system = workspace_instructions(workspace)
    cache = prefix_cache()  # in $CAIRN_CACHE_DIR, set by the parent
    spent: dict[str, float] = {}
    timed_methods(cache, ("model_id", "find", "save"), spent)
    engine = LocalEngine(
        "local-starter",
        spec["model"],
        context=CONTEXT,
        threads=spec["threads"],
        idle_unload_s=None,
        prefix_cache=cache,
    )

    def request(question: str) -> ChatRequest:
        messages = (Message("system", system), Message("user", question))
        return ChatRequest(
            messages, max_tokens=spec["max_tokens"], temperature=0.0, seed=spec["seed"]
        )

    start = time.perf_counter()
    engine.load()
    load = time.perf_counter() - start
    first = request(spec["question"])
    start = time.perf_counter()
    ttft, text, usage = first_text(engine.stream(first), start)
    in_cache = dict(spent)  # the cache's part of the first call, before the second
    # The reference: the same engine again, the KV of the first call still in memory.
    start = time.perf_counter()
    again_ttft, again_text, again = first_text(engine.stream(request(SAME_QUESTION)), start)
    # The prompt's system tokens: what two prompts that differ only in the question share.
    llm = engine._llm
    tokens = engine._prompt_tokens(llm, first.messages, ())[0]
    other = engine._prompt_tokens(llm, request("\u241e").messages, ())[0]
    engine.unload()
    return {
        "load_s": load,
        "ttft_s": ttft,
        "text": text,
        "prompt_tokens": usage.input_tokens if usage else None,
        "cached_tokens": usage.cached_input_tokens if usage else None,
        "system_tokens": _common_prefix(tokens, other),
        "system_chars": len(system),
        "cache_s": in_cache,
        "again_ttft_s": again_ttft,
        "again_text": again_text,
        "again_cached_tokens": again.cached_input_tokens if again else None,
        "again_prompt_tokens": again.input_tokens if again else None,
        "threads": [int(llm.n_threads), int(llm.n_threads_batch)],
    }


# --- the parent -------------------------------------------------------------------------


def run_child(spec: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "CAIRN_CACHE_DIR": str(cache_dir)}
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(
            f"invalid: a child process failed (exit {done.returncode}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = wall
    if result["ttft_s"] is None:
        raise SystemExit(
            f"invalid: the model answered no text to {spec['question']!r}, so there is no "
            "first token to time"
        )
    return result


def entry_of(cache_dir: Path) -> Path:
    entries = sorted((cache_dir / "prefixes").glob("*.kv"))
    if len(entries) != 1:
        raise SystemExit(
            f"invalid: a cold run left {len(entries)} prefix entries in {cache_dir}, want 1"
        )
    return entries[0]


def median_of(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(key(row) for row in rows)


def spread(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> str:
    values = [key(row) for row in rows]
    return f"median {ms(statistics.median(values))} (min {ms(min(values))}, max {ms(max(values))})"


def check(cold: list[dict[str, Any]], warm: list[dict[str, Any]]) -> None:
    for row in cold:
        if row["cached_tokens"] != 0:
            raise SystemExit(
                f"invalid: a cold run reused {row['cached_tokens']} prompt tokens, want 0"
            )
    for row in warm:
        want = MIN_REUSE * row["system_tokens"]
        if row["cached_tokens"] is None or row["cached_tokens"] < want:
            raise SystemExit(
                f"invalid: a warm run reused {row['cached_tokens']} of the prompt's "
                f"{row['system_tokens']} system tokens, want >= {want:.0f} (90%)"
            )


def report(cold: list[dict[str, Any]], warm: list[dict[str, Any]], entry: Path, args: Any) -> None:
    from cairn.engines.prefix_cache import PrefixCache

    everyone = cold + warm
    first = everyone[0]
    header = PrefixCache(entry.parent, runtime="")._header(entry) or {}
    prompts = [r["prompt_tokens"] for r in everyone]
    print(
        f"  system message {first['system_chars']:,} chars = {first['system_tokens']:,} "
        f"tokens of {min(prompts):,}-{max(prompts):,} prompt tokens"
        f"; {args.max_tokens} tokens at most per answer"
    )
    print(
        f"  prefix entry: {header.get('n_tokens', '?')} tokens, "
        f"{entry.stat().st_size / 1e6:.1f} MB on disk ({entry.name})"
    )
    print(
        f"  reused: cold {sorted({r['cached_tokens'] for r in cold})}, "
        f"warm {sorted({r['cached_tokens'] for r in warm})} tokens"
    )
    for label, rows in (("cold", cold), ("warm", warm)):
        print(f"  {label}: TTFT {spread(rows, lambda r: r['ttft_s'])}")
        print(
            f"        load {spread(rows, lambda r: r['load_s'])}; load + TTFT "
            f"{spread(rows, lambda r: r['load_s'] + r['ttft_s'])}; whole process "
            f"{spread(rows, lambda r: r['wall_s'])}"
        )
        parts = sorted({name for r in rows for name in r["cache_s"]})
        spent = ", ".join(
            f"{name} {ms(statistics.median(r['cache_s'].get(name, 0.0) for r in rows))}"
            for name in parts
        )
        print(f"        of the TTFT, in the prefix cache (median): {spent or 'nothing'}")
    again = [r for r in everyone if r["again_ttft_s"] is not None]
    texts = {r["again_text"] for r in everyone}
    if again:
        print(
            f"  (reference) in-process second call, KV kept in memory: TTFT "
            f"{spread(again, lambda r: r['again_ttft_s'])}, reused "
            f"{sorted({r['again_cached_tokens'] for r in again})} of "
            f"{sorted({r['again_prompt_tokens'] for r in again})} tokens; same answer "
            f"in all {len(everyone)} processes (evaluated or restored prefix): "
            f"{'yes' if len(texts) == 1 else f'no, {len(texts)} different'}"
        )
    cold_ttft = median_of(cold, lambda r: r["ttft_s"])
    warm_ttft = median_of(warm, lambda r: r["ttft_s"])
    cold_wait = median_of(cold, lambda r: r["load_s"] + r["ttft_s"])
    warm_wait = median_of(warm, lambda r: r["load_s"] + r["ttft_s"])
    ratio = cold_ttft / warm_ttft
    print(
        f"  what the user waits for (load + TTFT): cold {ms(cold_wait)} vs warm "
        f"{ms(warm_wait)} → {cold_wait / warm_wait:.1f}x (no target)"
    )
    print(
        f"prefix cache: TTFT of a new process, cold {ms(cold_ttft)} vs warm {ms(warm_ttft)} "
        f"(median of {len(cold)}) → {ratio:.1f}x faster (target >= {TARGET:.0f}x) "
        f"{verdict(ratio >= TARGET)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="cold/warm pairs (default 3)")
    parser.add_argument("--model", metavar="GGUF", help="model file (default: the starter)")
    parser.add_argument("--max-tokens", type=int, default=8, help="per answer (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: llama.cpp's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    from cairn.infra.starter import copy_starter
    from cairn.infra.starter_model import STARTER, models_folder

    model = Path(args.model).expanduser() if args.model else models_folder() / STARTER.filename
    if not model.is_file():
        print(
            f"no model at {model}: run scripts/setup to install the starter model "
            "(or pass --model PATH)",
            file=sys.stderr,
        )
        return 1
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-prefix-") as temp:
        root = Path(temp)
        copy_starter(root / "workspace")
        spec = {
            "model": str(model),
            "workspace": str(root / "workspace"),
            "threads": args.threads,
            "seed": args.seed,
            "max_tokens": args.max_tokens,
        }
        questions = iter(
            f"{QUESTIONS[i % len(QUESTIONS)]} (run {i + 1})" for i in range(2 * args.runs)
        )
        cold: list[dict[str, Any]] = []
        warm: list[dict[str, Any]] = []
        filled: Path | None = None  # the folder of the latest cold run

        def cold_run(i: int) -> None:
            nonlocal filled
            folder = root / f"cache-{i}"
            cold.append(run_child({**spec, "question": next(questions)}, folder))
            entry_of(folder)
            filled = folder

        def warm_run() -> None:
            assert filled is not None
            warm.append(run_child({**spec, "question": next(questions)}, filled))

        for i in range(args.runs):
            if i % 2 == 0:
                cold_run(i)
                warm_run()
            else:  # warm first, on the previous pair's folder
                warm_run()
                cold_run(i)
        assert filled is not None
        entry = entry_of(filled)
        threads, batch = cold[0]["threads"]
        print(
            f"model: {model.name}, {model.stat().st_size / 1e6:.1f} MB, n_ctx {CONTEXT}, "
            f"{threads} threads ({batch} for the prompt), greedy (temperature 0, seed "
            f"{args.seed}); "
            f"{args.runs} cold/warm pairs of separate processes"
        )
        check(cold, warm)
        report(cold, warm, entry, args)
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
