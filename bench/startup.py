"""Benchmark: how much start-up time `cairn --version` adds over a bare Python.

What it measures
  * `cairn --version` (the venv's console script, found next to sys.executable) against
    `python -c pass`, --runs times each, interleaved so drift and noise hit both alike;
    medians and their difference. Target: the difference is at most 150 ms.
  * `python -X importtime -c "import cairn.cli.main"`: the 5 largest cumulative imports.
  * which heavy packages `import cairn.cli.main` drags in (checked in a fresh process):
    any of litellm, llama_cpp, PySide6, watchdog, apscheduler, pydantic, yaml is a FAIL.

Exit status is 0 whatever the figures (benchmarks report, they do not gate); 1 only when
a command cannot run at all.

Run from the repository root:
    .venv/bin/python bench/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("litellm", "llama_cpp", "PySide6", "watchdog", "apscheduler", "pydantic", "yaml")
TARGET_MS = 150.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def find_cairn() -> Path:
    folder = Path(sys.executable).parent
    for name in ("cairn", "cairn.exe"):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(
        f"no 'cairn' console script next to {sys.executable}: "
        "run with the virtual environment's python after `pip install -e .`"
    )


def startup(runs: int) -> None:
    cairn, bare = [str(find_cairn()), "--version"], [sys.executable, "-c", "pass"]
    version = subprocess.run(cairn, capture_output=True, text=True, check=True).stdout.strip()
    timed(cairn), timed(bare)  # warm-up: page cache and bytecode
    cairn_ms: list[float] = []
    bare_ms: list[float] = []
    for _ in range(runs):
        cairn_ms.append(timed(cairn))
        bare_ms.append(timed(bare))
    c, b = statistics.median(cairn_ms), statistics.median(bare_ms)
    print(
        f"{version!r}: median {c:.1f} ms (min {min(cairn_ms):.1f}, max {max(cairn_ms):.1f}) "
        f"over {runs} runs"
    )
    print(f"python -c pass: median {b:.1f} ms (min {min(bare_ms):.1f}, max {max(bare_ms):.1f})")
    print(
        f"start-up cost of cairn --version: {c - b:+.1f} ms (target <= {TARGET_MS:.0f} ms) "
        f"{verdict(c - b <= TARGET_MS)}"
    )


def import_times(top: int = 5) -> None:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import cairn.cli.main"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_us), int(own_us), name.strip()))
    rows.sort(reverse=True)
    print(f"python -X importtime -c 'import cairn.cli.main': top {top} cumulative")
    for cumulative, own, name in rows[:top]:
        print(f"  {cumulative / 1000:7.1f} ms cumulative  {own / 1000:6.1f} ms self  {name}")


def heavy_imports() -> None:
    probe = (
        "import json, sys\nimport cairn.cli.main\n"
        f"print(json.dumps(sorted(n for n in {list(HEAVY)!r} if n in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(out)
    print(
        f"heavy modules after import cairn.cli.main: {', '.join(found) or 'none'} "
        f"(checked: {', '.join(HEAVY)}) {verdict(not found)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command (default 30)")
    parser.add_argument("--top", type=int, default=5, help="imports to list (default 5)")
    args = parser.parse_args()
    try:
        startup(args.runs)
        import_times(args.top)
        heavy_imports()
    except subprocess.CalledProcessError as exc:
        print(f"failed: {exc}\n{exc.stderr or ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
