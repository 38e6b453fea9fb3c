"""The impact figures from a real ledger and real traces, written by real task runs: the
counts match what the event streams said, periods follow the clock, and what the tasks
said (a planted secret) never reaches the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import REPO, copy_starter
from tests.impact_runs import SECRET, Tally, run_sample

from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import AgentsPolicy, ModelSpec, Providers
from cairn.infra.files import LocalFileStore
from cairn.infra.impact import (
    _EVENT_NAME,
    FORMULA,
    FORMULA_NOTE,
    PERIODS,
    Comparison,
    Figures,
    Outcomes,
    _pick,
    compute_impact,
)

# litellm's bundled price list, dollars per million tokens in and out.
GPT_4O_MINI = (0.15, 0.60)
CLAUDE_SONNET_4_5 = (3.0, 15.0)


def policy_of(root: Path) -> AgentsPolicy:
    agents = WorkspaceModel(LocalFileStore(root)).load().agents
    assert agents is not None
    return agents.policy


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tally]:
    """One workspace with the sample runs in it; tests only read it."""
    root = copy_starter(tmp_path_factory.mktemp("impact") / "ws")
    return root, run_sample(root)


def priced(tally: Tally, per_million: tuple[float, float]) -> float:
    tokens_in = sum(u.input_tokens for u in tally.local)
    tokens_out = sum(u.output_tokens for u in tally.local)
    return (tokens_in * per_million[0] + tokens_out * per_million[1]) / 1_000_000


def test_the_figures_match_the_runs_counted_by_hand(sample: tuple[Path, Tally]) -> None:
    root, tally = sample
    impact = compute_impact(root, policy_of(root))
    assert not impact.empty
    assert impact.comparison == Comparison("cloud-fast", "openai/gpt-4o-mini")
    assert len(tally.local) == 3 and len(tally.cloud) == 3 and tally.cost_usd > 0
    for figures in impact.figures:  # everything happened just now: every period has it all
        assert figures.tasks == Outcomes(done=2, waiting=1, failed=1, cancelled=1)
        assert figures.automation_runs == Outcomes(done=1, failed=1)
        assert figures.questions == Outcomes()
        assert (figures.local_calls, figures.cloud_calls, figures.local_share) == (3, 3, 0.5)
        assert (figures.input_tokens, figures.output_tokens) == (
            tally.input_tokens,
            tally.output_tokens,
        )
        assert figures.cost_usd == pytest.approx(tally.cost_usd)
        assert figures.unpriced_calls == 0
        assert figures.local_input_tokens == sum(u.input_tokens for u in tally.local)
        assert figures.local_output_tokens == sum(u.output_tokens for u in tally.local)
        assert figures.saved_usd == pytest.approx(priced(tally, GPT_4O_MINI))
        assert figures.cached_tokens == 0  # scripted engines reuse no prompt
        # 3 min × 2 tasks done + 5 min × 1 automation run done; the waiting, failed and
        # cancelled ones count nothing.
        assert figures.minutes_saved == 11


def test_periods_follow_the_clock(sample: tuple[Path, Tally]) -> None:
    root, tally = sample
    policy = policy_of(root)

    def totals(figures: Figures) -> tuple[int, int, int, float]:
        runs = figures.tasks.total + figures.automation_runs.total
        return (
            runs,
            figures.local_calls + figures.cloud_calls,
            figures.input_tokens,
            (figures.minutes_saved),
        )

    everything = (7, 6, tally.input_tokens, 11.0)
    nothing = (0, 0, 0, 0.0)
    later = compute_impact(root, policy, now=datetime.now().astimezone() + timedelta(days=10))
    assert [totals(later.period(p)) for p in PERIODS] == [nothing, nothing, everything, everything]
    much_later = compute_impact(root, policy, now=datetime.now() + timedelta(days=40))
    assert [totals(much_later.period(p)) for p in PERIODS] == [nothing] * 3 + [everything]
    assert not much_later.empty  # all time still has it


def test_what_tasks_said_never_reaches_the_figures(sample: tuple[Path, Tally]) -> None:
    root, _ = sample
    traces = sorted((root / ".cairn/traces").glob("*.jsonl"))
    written = "".join(t.read_text(encoding="utf-8") for t in traces)
    # The secret is there to be read: in requests, answers, tool output and arguments.
    for event in ("task_started", "step_finished", "tool_result", "tool_called"):
        assert any(
            SECRET in line and f'"event": "{event}"' in line for line in written.splitlines()
        ), event
    impact = compute_impact(root, policy_of(root))
    assert SECRET not in repr(impact)
    # By construction: what the reader keeps of each line is named fields only.
    kept = [_pick(line) for line in written.splitlines()]
    assert SECRET not in repr(kept)
    allowed = {"at", "event", "cached_input_tokens", "by", "reason"}
    assert all(set(k) <= allowed for k in kept if k is not None)
    assert all("reason" not in k for k in kept if k is not None and k["event"] != "finished")
    # Each line names its event up front, so steps, tools and plans are never parsed.
    assert all(_EVENT_NAME.match(line) for line in written.splitlines())
    assert sum(k is not None for k in kept) < len(kept)


def test_an_empty_workspace_is_all_zeros_and_stays_untouched(starter: Path) -> None:
    impact = compute_impact(starter, policy_of(starter))
    assert impact.empty
    for figures in impact.figures:
        assert figures.tasks.total == figures.automation_runs.total == figures.questions.total == 0
        assert figures.local_share is None
        assert (figures.input_tokens, figures.cost_usd, figures.saved_usd) == (0, 0.0, 0.0)
        assert (figures.cached_tokens, figures.minutes_saved) == (0, 0.0)
    assert not (starter / ".cairn/spend.jsonl").exists()
    assert not (starter / ".cairn/runs.sqlite").exists()


def test_the_comparison_is_the_cheapest_priced_cloud_model_allowed(
    sample: tuple[Path, Tally],
) -> None:
    root, tally = sample
    policy = policy_of(root)
    no_openai = policy.model_copy(update={"providers": Providers(deny=("openai",))})
    impact = compute_impact(root, no_openai)
    assert impact.comparison == Comparison("cloud-strong", "anthropic/claude-sonnet-4-5")
    assert impact.period("all time").saved_usd == pytest.approx(priced(tally, CLAUDE_SONNET_4_5))

    local_only = {n: s for n, s in policy.models.items() if s.engine == "local"}
    for models, why in (
        (local_only, "names no cloud model"),
        (
            {**local_only, "odd": ModelSpec(engine="litellm", model="openai/no-such-model-x1")},
            "has a price",
        ),
    ):
        impact = compute_impact(root, policy.model_copy(update={"models": models}))
        assert impact.comparison is None and why in impact.comparison_note
        assert impact.period("all time").saved_usd is None
        assert impact.period("all time").local_calls == 3  # the rest still counts
    assert compute_impact(root, None).comparison is None


def test_torn_and_foreign_lines(tmp_path: Path, sample: tuple[Path, Tally]) -> None:
    source, _ = sample
    root = tmp_path / "ws"
    (root / ".cairn").mkdir(parents=True)
    (root / ".cairn/traces").mkdir()
    trace, text = next(
        (p, text)
        for p in sorted((source / ".cairn/traces").glob("*.jsonl"))
        if '"event": "task_finished"' in (text := p.read_text(encoding="utf-8"))
        and '"queued"' not in text
    )
    at = json.loads(text.splitlines()[0])["at"]
    # Another writer's key order is read too; a torn last line is skipped.
    foreign = json.dumps({"cached_input_tokens": 7, "event": "usage", "at": at, "x": SECRET})
    (root / ".cairn/traces" / trace.name).write_text(
        text + foreign + "\n" + '{"at": "2026-01-01T00:0', encoding="utf-8"
    )
    figures = compute_impact(root, None).period("all time")
    assert figures.tasks == Outcomes(done=1) and figures.cached_tokens == 7


def test_the_docs_show_the_formula_and_every_constant() -> None:
    doc = (REPO / "docs/impact.md").read_text(encoding="utf-8")
    assert FORMULA in doc and FORMULA_NOTE in doc
    for name in ("MINUTES_PER_QUESTION", "MINUTES_PER_TASK", "MINUTES_PER_AUTOMATION_RUN"):
        assert name in doc


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_real_runs_on_a_local_model_count_the_prompt_cache(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    """`cairn run` twice and `cairn ask` once on a tiny local GGUF: the second run restores
    the instructions' evaluated prefix from the disk cache, and the usage says so."""
    from tests.engines.test_run_cli import workspace

    root = workspace(tmp_path, None, tiny_model_path)
    env = {**os.environ, "CAIRN_CACHE_DIR": str(tmp_path / "cache")}
    where = ("--model", "local-small", "--workspace", str(root))
    for args in (
        ("run", "Say hello to the team", "--no-approve"),
        ("run", "Say hello to the team again", "--no-approve"),
        ("ask", "Say hello", "--max-tokens", "8"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cairn", *args, *where],
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        assert done.returncode == 0, done.stderr
    ledger = [json.loads(line) for line in (root / ".cairn/spend.jsonl").read_text().splitlines()]
    events = [
        json.loads(line)
        for trace in (root / ".cairn/traces").glob("*.jsonl")
        for line in trace.read_text().splitlines()
    ]
    reused = sum(e.get("cached_input_tokens", 0) for e in events if e["event"] == "usage")
    ask_end = next(e["reason"] for e in events if e["event"] == "finished")

    figures = compute_impact(root, policy_of(root)).period("today")
    assert reused > 0 and figures.cached_tokens == reused
    assert figures.tasks == Outcomes(done=2)
    assert figures.questions.total == 1
    assert figures.questions.done == (1 if ask_end == "stop" else 0)
    assert figures.local_calls == len(ledger) and figures.cloud_calls == 0
    assert figures.local_share == 1.0 and figures.cost_usd == 0.0
    assert figures.input_tokens == sum(r["input_tokens"] for r in ledger)
    assert figures.output_tokens == sum(r["output_tokens"] for r in ledger)
    in_, out = figures.local_input_tokens, figures.local_output_tokens
    assert figures.saved_usd == pytest.approx((in_ * 0.15 + out * 0.60) / 1_000_000)
