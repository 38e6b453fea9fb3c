"""`cairn route --explain` on the starter workspace: no model is called."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def route(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "route", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_plain_step_goes_to_the_worker_role(starter: Path) -> None:
    result = route("--explain", "Summarise the roadmap", "--workspace", str(starter))
    assert result.returncode == 0, result.stderr
    assert "role: worker" in result.stdout and "chosen: cloud-fast (cloud)" in result.stdout


def test_private_space_and_detected_data_stay_local(starter: Path) -> None:
    private = route(
        "Plan my week",
        "--space",
        "chief-of-staff",
        "--kind",
        "plan",
        "--workspace",
        str(starter),
        "--json",
    )
    data = json.loads(private.stdout)
    assert data["sensitive"] is True and data["chosen"] == "local-small" and data["local"]
    assert {p["model"] for p in data["passed_over"]} == {"cloud-strong", "cloud-fast"}
    found = route(
        "Reply to bob@example.com", "--space", "team", "--workspace", str(starter), "--json"
    )
    assert json.loads(found.stdout)["findings"][0]["kind"] == "email"


def test_marked_file_and_space_override(starter: Path) -> None:
    note = starter / "spaces/team/notes/salaries.md"
    note.parent.mkdir(parents=True)
    note.write_text("---\nsensitive: true\n---\nSalary bands for 2027.\n")
    result = route(
        "Summarise",
        "--space",
        "team",
        "--file",
        "spaces/team/notes/salaries.md",
        "--workspace",
        str(starter),
    )
    assert "spaces/team/notes/salaries.md is marked sensitive" in result.stdout
    readme = starter / "spaces/team/readme.md"
    readme.write_text(
        readme.read_text().replace("scope: team", "scope: team\nrouting:\n  work: local", 1)
    )
    overridden = route("Summarise", "--space", "team", "--workspace", str(starter))
    assert "space 'team' routes 'work'" in overridden.stdout


def test_unknown_space_is_a_clear_error(starter: Path) -> None:
    result = route("x", "--space", "nope", "--workspace", str(starter))
    assert result.returncode == 2 and "no space 'nope'" in result.stderr


def test_unreadable_or_outside_files_are_clear_errors(starter: Path, tmp_path: Path) -> None:
    missing = route("x", "--file", "spaces/team/nope.md", "--workspace", str(starter))
    assert missing.returncode == 2 and "cannot read spaces/team/nope.md" in missing.stderr
    outside = tmp_path / "elsewhere.md"
    outside.write_text("secret")
    escaped = route("x", "--file", str(outside), "--workspace", str(starter))
    assert escaped.returncode == 2 and "outside the workspace" in escaped.stderr
    dotdot = route("x", "--file", "../elsewhere.md", "--workspace", str(starter))
    assert dotdot.returncode == 2 and "outside the workspace" in dotdot.stderr


def test_write_explanation_follows_links_as_the_tools_do(starter: Path) -> None:
    import os

    (starter / ".env").write_text("TOKEN=x\n")
    os.symlink("../../../.env", starter / "spaces/team/drafts/env.md")
    os.symlink("../../../agents.md", starter / "spaces/team/drafts/plan.md")
    hidden = route(
        "x", "--space", "team", "--write", "spaces/team/drafts/env.md", "--workspace", str(starter)
    )
    assert "write to spaces/team/drafts/env.md: deny — " in hidden.stdout
    assert "link to a hidden file" in hidden.stdout
    agents = route(
        "x", "--space", "team", "--write", "spaces/team/drafts/plan.md", "--workspace", str(starter)
    )
    assert "deny — spaces/team/drafts/plan.md is a link to agents.md" in agents.stdout
