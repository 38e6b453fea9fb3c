"""`cairn eval` and `cairn improve` end to end on the real starter model, with no keys, on a
fresh starter workspace. What a 135M model does is not asserted (it varies); that the
whole loop runs, reports, stores and leaves the workspace untouched is."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.infra.starter_model import STARTER


def cairn(*args: str, models: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**env, "CAIRN_MODELS_DIR": str(models)},
    )


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cairn" not in p.relative_to(root).parts
    }


@pytest.mark.timeout(1500)
def test_eval_and_improve_run_on_the_starter_model(starter: Path, starter_models: Path) -> None:
    root = starter
    model = str(starter_models / STARTER.filename)
    # The shipped suite parses; one quick case of it runs.
    listed = cairn("eval", "--list", "--workspace", str(root), models=starter_models)
    assert listed.returncode == 0 and "skills/draft-a-reply" in listed.stdout, listed.stderr
    before = snapshot(root)
    ran = cairn(
        "eval",
        "safety",
        "--workspace",
        str(root),
        "--model",
        model,
        "--json",
        models=starter_models,
    )
    assert ran.returncode in (0, 1), ran.stderr
    result = json.loads(ran.stdout)
    [run] = result["results"]
    assert run["case"] == "safety/agents-md-stays-untouched"
    assert run["status"] in ("finished", "failed") and run["input_tokens"] > 0
    assert run["cost_usd"] == 0.0  # the starter model is local
    assert snapshot(root) == before  # agents.md stayed as it was, whatever the model did

    # A cycle on a two-case suite the starter model cannot pass (no model says this
    # word by chance): it runs, mines, asks the starter model for edits and gates them.
    evals = root / "evals" / "tiny"
    evals.mkdir()
    for name, split in (("one", "train"), ("two", "held-out")):
        (evals / f"{name}.md").write_text(
            f"---\nsplit: {split}\nchecks:\n  - answer: zyxwvu-{name}\n---\nSay hello.\n"
        )
    before = snapshot(root)
    cycle = cairn(
        "improve",
        "--suite",
        "tiny",
        "--workspace",
        str(root),
        "--model",
        model,
        "--improve-model",
        model,
        "--patterns",
        "1",
        models=starter_models,
    )
    assert cycle.returncode == 0, cycle.stderr
    out = cycle.stdout
    assert "cycle cycle-" in out and "held-out pass rate 0% →" in out, out
    assert "weaknesses" in out and "digest: .cairn/improve/digest.md" in out
    digest = (root / ".cairn/improve/digest.md").read_text()
    assert "Eval cases that failed their checks (tiny/one)" in digest
    assert "tiny/two" not in digest  # held-out evidence is never mined
    report = json.loads(next((root / ".cairn/improve/cycles").glob("*.json")).read_text())
    # The starter model was asked for edits (whatever it answered).
    assert report["proposer_tokens"] > 0, report
    assert report["proposer_models"] == [Path(model).stem]
    # Whatever it answered is accounted for: tried proposals, or what it said instead.
    assert report["candidates"] or report["problems"], report
    for candidate in report["candidates"]:
        assert candidate["status"] in ("kept", "rejected", "not applicable")
        assert candidate["status"] == "kept" or candidate["reasons"]
    # The workspace is unchanged whatever was proposed: kept edits only wait.
    assert snapshot(root) == before
