"""`cairn route --explain`: which model a step would go to, and why, without calling one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError


def run_route(args: argparse.Namespace) -> int:
    from cairn.core.routing.router import Router
    from cairn.core.routing.steps import ContextFile, build_step
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import looks_like_workspace

    root = Path(args.workspace).expanduser()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    store = LocalFileStore(root)
    model = WorkspaceModel(store)
    workspace = model.load()
    if workspace.agents is None:
        raise CairnError("the workspace has no agents.md, so there is no routing policy")
    files = []
    for name in args.file or ():
        relative = Path(name).expanduser()
        if relative.is_absolute():
            try:
                relative = relative.resolve().relative_to(store.root)
            except ValueError:
                raise CairnError(f"{name} is outside the workspace {store.root}") from None
        try:
            data = store.read(relative.as_posix(), 1024 * 1024)
            # Judged by what the file really is: a link into a private space is private.
            real = store.real_path(relative.as_posix())
        except (OSError, CairnError) as exc:
            raise CairnError(f"cannot read {name}: {exc}") from exc
        files.append(ContextFile(real, data.decode("utf-8", "replace")))
    # What a task's steps would carry besides: the instruction files and recalled memory.
    carried = [] if args.no_context else _task_context(model, root, args)
    files += [f for f in carried if all(f.path != g.path for g in files)]
    step, overrides = build_step(
        workspace,
        args.description,
        kind=args.kind,
        space=args.space,
        skill=args.skill,
        automation=args.automation,
        files=tuple(files),
    )
    decision = Router(workspace.agents.policy).decide(step, overrides)
    write = _explain_write(args, workspace, store, files) if args.write else None
    if args.json:
        shown = decision.to_json()
        if write is not None:
            shown["write"] = write
        print(json.dumps(shown, ensure_ascii=False))
    else:
        print(f"step: {args.description}")
        if carried:
            print(f"with what a task's steps carry: {', '.join(f.path for f in carried)}")
        print(decision.explain())
        if write is not None:
            print(f"write to {write['path']}: {write['decision']} — {write['reason']}")
    return 0 if decision.chosen else 1


def _task_context(model: Any, root: Path, args: argparse.Namespace) -> list[Any]:
    """The files a task with this request would carry into every step: agents.md, the
    instruction layers, the space's readme, the skill, and the memory recall would bring."""
    from cairn.core.routing.steps import ContextFile
    from cairn.core.tasks.options import TaskOptions
    from cairn.core.tasks.parts import context_files
    from cairn.infra.memory_index import MemoryIndex
    from cairn.runtime import memory_recall, space_folders

    workspace = model.workspace
    if args.space and args.space not in workspace.spaces:
        return []  # build_step says which spaces exist
    paths = context_files(workspace, TaskOptions(space=args.space, skill=args.skill))
    with MemoryIndex(root, space_folders=lambda: space_folders(workspace)) as index:
        index.repair()
        paths += [p for p, _ in memory_recall(index, model)(args.description, args.space, 800)]
    found = []
    for path in dict.fromkeys(paths):
        try:
            text = model.store.read(path, 1024 * 1024).decode("utf-8", "replace")
            found.append(ContextFile(model.store.real_path(path), text))
        except (OSError, CairnError):
            continue
    return found


def _explain_write(
    args: argparse.Namespace, workspace: Any, store: Any, files: list[Any]
) -> dict[str, str]:
    """The gate for a write of this step's content: the rules of agents.md on the path and
    on its real target (links resolved), then the scope rule."""
    from cairn.core.tasks.gate import rule_check
    from cairn.core.tasks.provenance import Provenance
    from cairn.core.tasks.tools import ToolError, clean_path, real_target
    from cairn.core.workspace.loader import WorkspaceModel

    path = clean_path(args.write)
    try:
        real = real_target(WorkspaceModel(store), path)  # as the write tools resolve it
    except ToolError as refused:  # a link into a hidden file: the tools never write it
        return {"path": path, "real_path": "", "decision": "deny", "reason": str(refused)}
    provenance = Provenance(workspace, args.space)
    for item in files:
        provenance.note_file(item.path, item.path, item.text)
    rules = workspace.agents.policy.permissions
    check = rule_check(rules, "write_file", "write", path, real, provenance)
    decision, reason = check.decision, check.reason
    return {"path": path, "real_path": real, "decision": decision, "reason": reason}
