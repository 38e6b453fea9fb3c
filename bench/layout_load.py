"""Benchmark: load an OpenClaw-shaped folder of 20,000 files, against a naive markdown reader.

Real folders that other tools' workspaces live in are mostly not workspace: a skill's
`node_modules`, a `.venv`, build output, source code. Cairn's walk prunes them; this
measures what the walk, the parsing and the checks cost next to the cheapest possible
reader of the same folder.

* baseline: a fresh interpreter runs a bare `os.walk` over the whole tree (no pruning, no
  ignore rules) and reads the bytes of every `.md` file it meets, node_modules included:
  the naive reader.
* Cairn: a fresh interpreter (`sys.executable -c ...`) imports
  `cairn.core.workspace.loader` and `cairn.infra.files`, then times
  `WorkspaceModel(LocalFileStore(dir)).load()`. The import is timed separately and left
  out of the ratio (it is printed on its own and folded into a second, informative ratio).

Each side gets one untimed warm-up, then --runs timed runs, interleaved (baseline, Cairn,
baseline, ...) so drift hits both alike; medians. Target: Cairn / baseline <= 2. The
page cache is warm for both (the files were just written).

The generated tree (--seed 7) holds exactly --files files:
  - the root: AGENTS.md, SOUL.md, USER.md, IDENTITY.md, TOOLS.md, HEARTBEAT.md, MEMORY.md
    and a .gitignore that lists build/;
  - the workspace proper: exactly 300 markdown files: the 7 root files, 40 skills as
    `skills/<name>/SKILL.md` with no frontmatter (OpenClaw's way) and 20 with
    frontmatter, some bundling scripts/ and references/ files, 120 daily memory notes
    `memory/YYYY-MM-DD.md`, project READMEs and other notes;
  - `src/`: a tree of code files;
  - `.venv/` (pyvenv.cfg, site-packages) and `venv2/` (a non-hidden venv: pyvenv.cfg);
  - `build/` (in .gitignore), holding skill-shaped files and a Rebel-space README;
  - `node_modules/` at the root and inside a few skills: the rest of the files, nested
    packages whose README.md and SKILL.md files would load if the walk entered them.

The load must find the 60 skills, the instruction layers and the heartbeat, 0 errors,
nothing from node_modules/.venv/venv2/build, and a non-empty `workspace.skipped`; else
exit 1. Otherwise exit 0 whatever the figures: benchmarks report, they do not gate.

    .venv/bin/python bench/layout_load.py [--files 20000] [--dir NEW_DIR] [--runs 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WORDS_TEXT = """check the weather calendar inbox reply draft notes summary task reminder project
deploy review search fetch browser github issue pull request image audio transcript slack
email contact schedule budget invoice travel flight hotel recipe workout journal habit
backup server log metric alert spotify home light camera"""
TEXT = WORDS_TEXT.split()
MD_TOTAL = 300  # markdown files in the workspace proper
BARE_SKILLS, FRONTMATTER_SKILLS, DAILY_NOTES, PROJECTS = 40, 20, 120, 6
ROOT_MD = ("AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "TOOLS.md", "HEARTBEAT.md")
ROOT_MD_ALL = (*ROOT_MD, "MEMORY.md")
LAYERS = ("SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md")  # Cairn's layer order
EXCLUDED = frozenset({"node_modules", ".venv", "venv2", "build"})
REASONS = ("dependencies (node_modules)", "virtual environments", "ignored by .gitignore")
GITIGNORE = "# build output\nbuild/\n*.log\n.DS_Store\n"
ROOT_TEXT = {
    "AGENTS.md": "# AGENTS.md - your workspace\n\nThis folder is home. Read SOUL.md and USER.md "
    "first, then today's note in memory/.\n\n## Memory\n\n- Daily notes: memory/YYYY-MM-DD.md\n"
    "- Long-term: MEMORY.md\n\n## Safety\n\n- Ask before sending anything outside.\n",
    "SOUL.md": "# SOUL.md - who you are\n\nBe genuinely helpful, not performatively helpful. "
    "Have opinions. Be resourceful before asking.\n",
    "USER.md": "# USER.md - about your human\n\n- Name: Sam\n- Timezone: Europe/Berlin\n"
    "- Prefers short answers.\n",
    "IDENTITY.md": "# IDENTITY.md\n\n- Name: Pebble\n- Creature: a small helpful familiar\n"
    "- Vibe: calm, dry humour\n",
    "TOOLS.md": "# TOOLS.md - local notes\n\nCamera names, SSH hosts and speaker names go "
    "here.\n\n## SSH\n\n- home-server: 192.168.1.20\n",
    "HEARTBEAT.md": "# HEARTBEAT.md\n\n- [ ] Check the inbox for anything urgent\n"
    "- [ ] Look at the calendar for the next two hours\n",
    "MEMORY.md": "# MEMORY.md - long-term memory\n\n- Sam's sister is called Ana.\n"
    "- The home server runs backups at 03:00.\n",
}
WALK = """import json, os, sys, time
t0 = time.perf_counter()
count = size = 0
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith(".md"):
            with open(os.path.join(folder, name), "rb") as handle:
                size += len(handle.read())
            count += 1
print(json.dumps([time.perf_counter() - t0, count, size]))
"""
LOAD = """import json, sys, time
t0 = time.perf_counter()
import cairn.core.workspace.loader, cairn.infra.files
t1 = time.perf_counter()
store = cairn.infra.files.LocalFileStore(sys.argv[1])
ws = cairn.core.workspace.loader.WorkspaceModel(store).load()
t2 = time.perf_counter()
excluded = set(sys.argv[2].split(","))
paths = [*ws.files, *(d.path for d in ws.diagnostics)]
stray = sorted(p for p in paths if excluded & set(p.split("/")))
print(json.dumps([t1 - t0, t2 - t1, sorted(ws.files), len(ws.skills), len(ws.errors), stray,
                  dict(ws.skipped)]))
"""


def prose(rng: random.Random, low: int = 6, high: int = 16) -> str:
    return " ".join(rng.choice(TEXT) for _ in range(rng.randint(low, high))).capitalize() + "."


def skill_body(rng: random.Random, title: str) -> str:
    steps = "".join(f"{i}. {prose(rng)}\n" for i in range(1, rng.randint(3, 7)))
    return (
        f"# {title}\n\n{prose(rng, 12, 30)} Use when {prose(rng, 4, 10)}\n\n## Usage\n\n"
        f"```bash\n{title} --{rng.choice(TEXT)} {rng.choice(TEXT)}\n```\n\n## Steps\n\n{steps}"
    )


def bare_skill(rng: random.Random, name: str) -> str:
    return skill_body(rng, name)  # OpenClaw's skills often have no frontmatter at all


def frontmatter_skill(rng: random.Random, name: str) -> str:
    emoji = rng.choice(("☀️", "📅", "📬", "🔧"))
    return (
        f'---\nname: {name}\ndescription: "{prose(rng, 10, 25)}"\n'
        f"homepage: https://example.invalid/{name}\n"
        f'metadata: {{"openclaw": {{"emoji": "{emoji}", "requires": {{"bins": ["curl"]}}}}}}\n'
        f"---\n\n{skill_body(rng, name)}"
    )


def package(rng: random.Random, folder: str, name: str, files: dict[str, str], left: int) -> int:
    """Write one npm-like package into `files` (at most `left` files); return how many."""
    out = {
        f"{folder}/package.json": json.dumps({"name": name, "version": "1.0.0"}),
        f"{folder}/README.md": f"# {name}\n\n{prose(rng)}\n",
        f"{folder}/index.js": f"module.exports = require('./lib/{name}.js');\n",
    }
    if rng.random() < 0.3:
        out[f"{folder}/CHANGELOG.md"] = f"# Changelog\n\n## 1.0.0\n\n- {prose(rng)}\n"
    if rng.random() < 0.1:  # a package that ships an agent skill: must not load
        out[f"{folder}/skills/{name}-helper/SKILL.md"] = bare_skill(rng, f"{name}-helper")
        out[f"{folder}/SKILL.md"] = f"---\nname: {name}\ndescription: {prose(rng)}\n---\nx\n"
    for i in range(rng.randint(1, 8)):
        sub = rng.choice(("lib", "lib", "dist", "dist/esm", "src/internal"))
        out[f"{folder}/{sub}/{name}-{i}.js"] = f"export const v{i} = {i};\n"
    chosen = dict(list(out.items())[:left])
    files.update(chosen)
    return len(chosen)


def site_packages(rng: random.Random, base: str, count: int, files: dict[str, str]) -> None:
    """Exactly `count` files of a Python virtual environment under `base`."""
    venv = {f"{base}/pyvenv.cfg": "home = /usr/bin\ninclude-system-site-packages = false\n"}
    venv[f"{base}/bin/python"] = "#!/bin/sh\n"
    i = 0
    while len(venv) < count:
        pkg = f"{base}/lib/python3.12/site-packages/{rng.choice(TEXT)}_{i}"
        venv[f"{pkg}/__init__.py"] = "\n"
        venv[f"{pkg}/README.md"] = f"# {pkg}\n"
        venv[f"{pkg}/skills/tool/SKILL.md"] = bare_skill(rng, "tool")
        venv[f"{pkg}/core.py"] = "VALUE = 1\n"
        i += 1
    files.update(list(venv.items())[:count])


def generate(root: Path, total: int, rng: random.Random) -> dict[str, Any]:
    """Write exactly `total` files under `root`; return what the load must find."""
    files: dict[str, str] = {name: ROOT_TEXT[name] for name in ROOT_MD_ALL}
    files[".gitignore"] = GITIGNORE
    names: list[str] = []
    while len(names) < BARE_SKILLS + FRONTMATTER_SKILLS:
        name = f"{rng.choice(TEXT)}-{rng.choice(TEXT)}"
        if name not in names and len(set(name.split("-"))) == 2:
            names.append(name)
    for i, name in enumerate(names):
        bare = i < BARE_SKILLS
        text = bare_skill(rng, name) if bare else frontmatter_skill(rng, name)
        files[f"skills/{name}/SKILL.md"] = text
        if i % 4 == 1:
            files[f"skills/{name}/scripts/run.sh"] = f"#!/bin/sh\necho {name}\n"
        if i % 5 == 2:
            files[f"skills/{name}/references/notes.md"] = f"# Notes\n\n{prose(rng)}\n"
    start = date(2025, 1, 1) + timedelta(days=rng.randint(0, 200))
    for i in range(DAILY_NOTES):
        day = start + timedelta(days=i)
        files[f"memory/{day.isoformat()}.md"] = f"# {day.isoformat()}\n\n- {prose(rng)}\n"
    projects = rng.sample(TEXT, PROJECTS)
    for project in projects:
        files[f"projects/{project}/README.md"] = f"# {project}\n\n{prose(rng)}\n"
    workspace_md = [p for p in files if p.endswith(".md")]
    for i in range(MD_TOTAL - len(workspace_md)):
        folder = rng.choice(("notes", "notes", "notes/people", "docs", "projects/" + projects[0]))
        files[f"{folder}/{rng.choice(TEXT)}-{i:03d}.md"] = f"# Note {i}\n\n{prose(rng, 20, 60)}\n"
    assert sum(p.endswith(".md") for p in files) == MD_TOTAL

    folders = ["src"]
    for i in range(total * 12 // 100 // 8):  # code: a tree of packages, ~8 files a folder
        folders.append(f"{rng.choice(folders)}/{rng.choice(TEXT)}_{i}")
    for i in range(total * 12 // 100):
        ext = rng.choice(("py", "py", "ts", "go"))
        files[f"{rng.choice(folders)}/mod_{i}.{ext}"] = f"# module {i}\n"
    site_packages(rng, ".venv", total * 8 // 100, files)
    site_packages(rng, "venv2", total * 3 // 100, files)
    files["build/README.md"] = "---\nrebel_space_description: build output\n---\nGenerated.\n"
    for i in range(total * 4 // 100):
        folder = rng.choice(("build/skills", "build/docs", "build/assets/js", "build/lib"))
        ext = "md" if folder == "build/docs" else "js"
        if folder == "build/skills":
            files[f"{folder}/copy-{i}/SKILL.md"] = bare_skill(rng, f"copy-{i}")
        else:
            files[f"{folder}/out-{i}.{ext}"] = f"// built {i}\n"
    if len(files) + 100 > total:
        raise SystemExit(f"--files {total} is too small for the tree; use at least 5000")
    i = 0
    while len(files) < total:  # the rest: node_modules, at the root and in a few skills
        owner = f"skills/{names[i % 7 * 3]}/" if i % 9 == 0 else ""
        scope = f"@{rng.choice(TEXT)}/" if i % 6 == 0 else ""
        name = f"{rng.choice(TEXT)}-{i}"
        folder = f"{owner}node_modules/{scope}{name}"
        if i % 5 == 4:  # a nested dependency
            folder = f"{folder}/node_modules/{rng.choice(TEXT)}-dep-{i}"
        package(rng, folder, name, files, total - len(files))
        i += 1

    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    markdown = sum(p.endswith(".md") for p in files)
    skills = {f"skills/{name}/SKILL.md" for name in names}
    readmes = {f"projects/{p}/README.md" for p in projects}
    print(
        f"generated {len(files):,} files ({markdown:,} markdown) in {root}:\n"
        f"  workspace proper: {MD_TOTAL} markdown files ({len(ROOT_MD_ALL)} at the root, "
        f"{BARE_SKILLS} skills without frontmatter + {FRONTMATTER_SKILLS} with, {DAILY_NOTES} "
        f"daily notes, {MD_TOTAL - len(ROOT_MD_ALL) - len(names) - DAILY_NOTES} other notes)\n"
        f"  {count(files, 'node_modules'):,} in node_modules, {count(files, '.venv'):,} in "
        f".venv, {count(files, 'venv2'):,} in venv2, {count(files, 'build'):,} in build, "
        f"{count(files, 'src'):,} in src"
    )
    return {
        "total": len(files),
        "markdown": markdown,
        "files": skills | set(ROOT_MD),  # MEMORY.md is the memory index's
        "notes": readmes,  # READMEs that are not Rebel spaces: notes, not model files
        "skills": len(names),
    }


def count(files: dict[str, str], folder: str) -> int:
    """Files under `folder` at the root (node_modules: under any node_modules folder)."""
    if folder == "node_modules":
        return sum(folder in p.split("/") for p in files)
    return sum(p.startswith(f"{folder}/") for p in files)


def model_files(files: Iterable[str], expected: dict[str, Any]) -> bool:
    """Whether the files read are the expected ones (notes may or may not be among them)."""
    return expected["files"] <= set(files) <= expected["files"] | expected["notes"]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def validate(root: Path, expected: dict[str, Any]) -> None:
    """Load in-process and check everything the tree was built to hold."""
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    ws = WorkspaceModel(LocalFileStore(root)).load()
    wrong = []
    if not model_files(ws.files, expected):
        missing = sorted(expected["files"] - ws.files)[:5]
        extra = sorted(ws.files - expected["files"] - expected["notes"])[:5]
        wrong.append(f"files read: missing {missing}, unexpected {extra}")
    if len(ws.skills) != expected["skills"]:
        wrong.append(f"{len(ws.skills)} skills, expected {expected['skills']}")
    if ws.errors:
        wrong.append(f"{len(ws.errors)} errors:\n" + "\n".join(d.format() for d in ws.errors[:5]))
    paths = [*ws.files, *(d.path for d in ws.diagnostics), *(s.path for s in ws.skills.values())]
    if stray := [p for p in paths if EXCLUDED & set(p.split("/"))]:
        wrong.append(f"loaded from excluded folders: {stray[:5]}")
    if ws.agents is None or ws.agents.path != "AGENTS.md":
        wrong.append("AGENTS.md is not the policy file")
    if [layer.path for layer in ws.layers] != list(LAYERS):
        wrong.append(f"layers {[layer.path for layer in ws.layers]}, expected {list(LAYERS)}")
    if list(ws.automations) != ["heartbeat"]:
        wrong.append(f"automations {list(ws.automations)}, expected the heartbeat only")
    if ws.spaces:
        wrong.append(f"spaces {list(ws.spaces)}: the tree has none")
    if not ws.skipped or any(reason not in ws.skipped for reason in REASONS):
        wrong.append(f"skipped {dict(ws.skipped)}: expected each of {REASONS}")
    if wrong:
        raise SystemExit("load is wrong:\n  " + "\n  ".join(wrong))
    inferred = sum("description" in s.inferred for s in ws.skills.values())
    print(
        f"validated: {len(ws.files)} files read, {len(ws.skills)} skills ({inferred} with an "
        f"inferred description), {len(ws.layers)} layers, heartbeat, 0 errors, "
        f"{len(ws.warnings)} warnings; skipped folders: {dict(ws.skipped)}"
    )


def run(script: str, *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def measure(root: Path, runs: int, expected: dict[str, Any]) -> None:
    walks: list[float] = []
    imports: list[float] = []
    loads: list[float] = []
    for i in range(runs + 1):  # run 0 is the warm-up of each
        walked, md_count, _ = run(WALK, str(root))
        if md_count != expected["markdown"]:
            raise SystemExit(f"baseline read {md_count} markdown files, not {expected['markdown']}")
        imported, loaded, files, n_skills, n_errors, stray, skipped = run(
            LOAD, str(root), ",".join(sorted(EXCLUDED))
        )
        found = (model_files(files, expected), n_skills, n_errors, stray)
        if found != (True, expected["skills"], 0, []):
            raise SystemExit(
                f"cold load read {len(files)} files, {n_skills} skills, {n_errors} errors, "
                f"from excluded folders: {stray[:5]}"
            )
        if not skipped:
            raise SystemExit("cold load skipped no folder")
        if i:
            walks.append(walked)
            imports.append(imported)
            loads.append(loaded)
    walk, imp, load = (statistics.median(v) for v in (walks, imports, loads))
    ratio = load / walk
    print(
        f"baseline (os.walk of all {expected['total']:,} files, reading all "
        f"{expected['markdown']:,} .md files; {runs} fresh processes): median {walk * 1000:.0f} ms,"
        f" worst {max(walks) * 1000:.0f} ms"
    )
    print(
        f"cairn cold load (WorkspaceModel.load(), import excluded; {runs} fresh processes): "
        f"median {load * 1000:.0f} ms, worst {max(loads) * 1000:.0f} ms; "
        f"import alone: median {imp * 1000:.0f} ms"
    )
    print(
        f"ratio cairn/baseline: {ratio:.2f} (target ratio <= 2) {verdict(ratio <= 2)}; "
        f"with the import counted: {(imp + load) / walk:.2f} (for information)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20000, help="files in the tree (20000)")
    parser.add_argument("--dir", type=Path, help="generate here (a new or empty folder)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as temp:
        root = (args.dir or Path(temp)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            parser.error(f"{root} is not empty")
        expected = generate(root, args.files, random.Random(args.seed))
        validate(root, expected)
        measure(root, args.runs, expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
