"""`cairn memory`: see what is staged, decide, forget, search and rebuild the index."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from cairn.core.errors import WorkspaceNotFoundError


def run_memory(args: argparse.Namespace) -> int:
    from cairn.core.memory.review import forget
    from cairn.core.memory.writer import MemoryWriter
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.memory_index import MemoryIndex
    from cairn.infra.starter import looks_like_workspace
    from cairn.runtime import space_folders

    root = Path(args.workspace).expanduser().resolve()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    with MemoryIndex(root, space_folders=lambda: space_folders(model.workspace)) as index:
        writer = MemoryWriter(model, on_change=index.update)
        action = args.memory_command
        if action == "reindex":
            count = index.rebuild()
            print(f"indexed {count:,} memory items from the files")
            return 0
        index.repair()
        if action == "pending":
            staged = writer.pending()
            if args.json:
                print(json.dumps([asdict(p) for p in staged], ensure_ascii=False, default=str))
                return 0
            for item in staged:
                where = item.space or "no space yet"
                print(f"{item.id}  {item.value:.2f}  {item.source:<14} → {where}: {item.text}")
                print(f"          why staged: {item.reason}")
            if not staged:
                print("nothing is staged")
            return 0
        if action == "approve":
            written = writer.approve(args.id, args.space)
            print(
                f"kept {written.item.id} in {written.space} ({written.tier} tier): "
                f"{', '.join(written.paths)}"
            )
            return 0
        if action == "reject":
            writer.reject(args.id)
            print(f"dropped {args.id}")
            return 0
        if action == "forget":
            paths = forget(writer, args.id, index.paths_of)
            print(f"forgot {args.id}: removed from {', '.join(paths)}")
            return 0
        hits = index.search(args.query, space=args.space, limit=args.limit)
        if args.json:
            print(json.dumps([asdict(h) for h in hits], ensure_ascii=False, default=str))
            return 0
        for hit in hits:
            print(f"{hit.id}  {hit.space:<16} {hit.tier:<8} {hit.date}  {hit.text}")
            print(f"          {hit.path}")
        if not hits:
            print("no memory matches")
        return 0
