"""The `cairn` command, run as users run it: in a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def cairn(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=120,
    )


def test_version() -> None:
    result = cairn("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("cairn ")


def test_init_then_check_is_clean(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    result = cairn("init", str(target))
    assert result.returncode == 0, result.stderr
    assert (target / "agents.md").is_file()
    assert (target / "spaces/chief-of-staff/readme.md").is_file()
    check = cairn("check", str(target))
    assert check.returncode == 0, check.stdout
    assert "clean" in check.stdout


def test_init_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    target.mkdir()
    (target / "agents.md").write_text("My own instructions.\n")
    result = cairn("init", str(target))
    assert result.returncode == 0
    assert (target / "agents.md").read_text() == "My own instructions.\n"
    assert "kept    agents.md" in result.stdout


def test_check_reports_errors_with_exit_1_and_json(starter: Path) -> None:
    (starter / "automations/morning-brief.md").write_text(
        "---\nschedule: '99 * * * *'\nspace: team\n---\nx\n"
    )
    human = cairn("check", str(starter))
    assert human.returncode == 1
    assert "automations/morning-brief.md:2: error:" in human.stdout
    assert "fix:" in human.stdout
    data = json.loads(cairn("check", str(starter), "--json").stdout)
    assert data["errors"] == 1
    assert data["diagnostics"][0]["code"] == "invalid-schedule"
    assert data["diagnostics"][0]["line"] == 2


def test_ls_json_lists_everything(starter: Path) -> None:
    result = cairn("ls", str(starter), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {s["name"]: s["scope"] for s in data["spaces"]} == {
        "chief-of-staff": "private",
        "team": "team",
        "company": "company",
    }
    assert {a["name"] for a in data["automations"]} >= {
        "morning-brief",
        "weekly-review",
        "inbox-scan",
    }
    assert all(a["next_run"] for a in data["automations"] if a["enabled"])
    human = cairn("ls", str(starter))
    assert "Automations (3)" in human.stdout and "next " in human.stdout


def test_not_a_workspace_exits_2(tmp_path: Path) -> None:
    result = cairn("check", str(tmp_path))
    assert result.returncode == 2
    assert "cairn init" in result.stderr


@pytest.mark.slow
def test_watch_prints_changes_live(starter: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cairn", "watch", str(starter), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["errors"] == 0
        time.sleep(0.3)  # let the observer settle before the edit it must see
        skill = starter / "skills/weekly-review/SKILL.md"
        skill.write_text(skill.read_text() + "\nOne more step.\n")
        event = json.loads(process.stdout.readline())
        assert {
            "kind": "modified",
            "what": "skill",
            "name": "weekly-review",
            "path": "skills/weekly-review/SKILL.md",
        } in event["changes"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


@pytest.mark.slow
def test_wheel_ships_the_starter_workspace(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next((tmp_path / "dist").glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "cairn/starter/agents.md" in names
        assert "cairn/starter/skills/weekly-review/SKILL.md" in names
        archive.extractall(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    where = subprocess.run(
        [sys.executable, "-c", "import cairn; print(cairn.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(tmp_path / "site"))
    result = cairn("init", str(tmp_path / "from-wheel"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    check = cairn("check", str(tmp_path / "from-wheel"), cwd=tmp_path, env=env)
    assert check.returncode == 0 and "clean" in check.stdout


def test_a_closed_pipe_is_not_an_error(starter: Path) -> None:
    """`cairn ls | head`: the reader leaves early; Cairn says nothing about it."""
    for n in range(1500):  # more output than a pipe holds, so the write really fails
        skill = starter / "skills" / f"s{n:04d}"
        skill.mkdir()
        (skill / "SKILL.md").write_text(
            f"---\nname: s{n:04d}\ndescription: A skill that makes the listing long enough.\n"
            "---\nDo it.\n"
        )
    listing = subprocess.Popen(
        [sys.executable, "-m", "cairn", "ls", str(starter)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert listing.stdout is not None and listing.stderr is not None
    listing.stdout.read(10)
    listing.stdout.close()
    _, err = listing.communicate(timeout=60)
    assert listing.returncode == 141, err  # the shell's code for a closed pipe
    assert b"Traceback" not in err and b"check that the workspace" not in err
