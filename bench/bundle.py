"""Benchmark: the frozen bundle against the installed program, in one run.

1. **Size.** The bundle folder on disk, against the installed program: the files of
   Cairn and every distribution it needs at run time (its dependency closure, as
   `packaging/notices.py` computes it) in this virtual environment. The Python standard
   library and the interpreter are not counted on that side (they come with the system's
   Python), which flatters the installed side.
2. **Cold start of the CLI.** `cairn --version`, a new process each time: the bundle's
   program against `.venv/bin/cairn`. Median of --runs, alternated.
3. **Window shown.** `cairn-app DIR` against `.venv/bin/cairn app DIR`, each with
   `CAIRN_APP_TIMING=exit` (seconds from process start to the window's first event-loop
   pass, then it quits), offscreen, on a fresh starter workspace. Median of --runs.

    bash packaging/linux/build   # first: the bundle in dist/cairn
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bundle.py [--bundle dist/cairn] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "packaging"))


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def installed_size() -> int:
    from notices import runtime_closure

    total = 0
    for distribution in runtime_closure():
        for file in distribution.files or ():
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total


def seconds(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr[-500:]}")
    return took


def shown(command: list[str], env: dict[str, str]) -> float:
    done = subprocess.run(
        command,
        env={**env, "CAIRN_APP_TIMING": "exit"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    for line in done.stderr.splitlines():
        if line.startswith("timing shown="):
            return float(line.split("=", 1)[1])
    raise SystemExit(f"{command[0]} printed no timing: {done.stderr[-500:]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", default=str(REPO / "dist" / "cairn"), help="the bundle folder")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bundle = Path(args.bundle)
    exe = ".exe" if sys.platform == "win32" else ""
    if not (bundle / f"cairn{exe}").is_file():
        raise SystemExit(f"no bundle in {bundle}: build it first (bash packaging/linux/build)")
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}

    with tempfile.TemporaryDirectory() as scratch:
        workspace = Path(scratch) / "ws"
        subprocess.run(
            [str(venv_bin / "cairn"), "init", str(workspace)],
            check=True,
            env=env,
            capture_output=True,
        )
        env["XDG_CONFIG_HOME"] = str(Path(scratch) / "config")
        frozen_cli = [str(bundle / f"cairn{exe}"), "--version"]
        venv_cli = [str(venv_bin / "cairn"), "--version"]
        frozen_app = [str(bundle / f"cairn-app{exe}"), str(workspace), "--no-automations"]
        venv_app = [str(venv_bin / "cairn"), "app", str(workspace), "--no-automations"]
        for command in (frozen_cli, venv_cli):  # warm the file cache the same for both
            seconds(command, env)
        cli: dict[str, list[float]] = {"bundle": [], "installed": []}
        window: dict[str, list[float]] = {"bundle": [], "installed": []}
        for run in range(args.runs):
            order = [("bundle", frozen_cli, frozen_app), ("installed", venv_cli, venv_app)]
            for side, cli_command, app_command in order if run % 2 == 0 else order[::-1]:
                cli[side].append(seconds(cli_command, env))
                window[side].append(shown(app_command, env))

    frozen, installed = folder_size(bundle), installed_size()
    print(
        f"size: bundle {frozen / 1e6:.0f} MB ({bundle}), installed {installed / 1e6:.0f} MB "
        f"(Cairn and its run-time packages, without Python itself) → {frozen / installed:.2f}x"
    )
    for label, data in (("cairn --version", cli), ("window shown", window)):
        b, i = statistics.median(data["bundle"]), statistics.median(data["installed"])
        print(
            f"{label}: bundle {b:.2f} s, installed {i:.2f} s (median of {args.runs}) → {b / i:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
