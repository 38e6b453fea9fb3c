"""A small MCP server over one folder of text files, read-only: the starter's example
connector, and a real server for the tests (`cairn connectors serve-folder FOLDER`).

It lists, reads and searches the files under FOLDER, and never leaves it (links are
resolved and must stay inside). Every tool declares `readOnlyHint`, so a workspace allows
them unless its rules say otherwise.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations at run
# time to build their schemas.
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

MAX_BYTES = 200_000
TEXT_SUFFIXES = {".md", ".txt", ".csv", ".json", ".yaml", ".yml", ".ics", ".eml"}


def build(root: Path) -> "MCPServer":
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations
    from pydantic import Field

    root = root.resolve()
    server = MCPServer(
        "cairn-folder",
        instructions=f"Read-only access to the files in {root.name}",
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

    def served(path: Path) -> bool:
        """Inside the folder once links are resolved, and not hidden (`.cairn/`, `.env`)."""
        real = path.resolve()
        if not real.is_relative_to(root):
            return False
        return not any(part.startswith(".") for part in path.relative_to(root).parts)

    def inside(relative: str) -> Path:
        target = root / relative
        if not served(target):
            raise ToolError(f"{relative} is outside the folder, or hidden")
        return target.resolve()

    def texts() -> list[Path]:
        return sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES and served(p)
        )

    @server.tool(description="List the text files in the folder.", annotations=read_only)
    def list_files() -> str:
        found = [p.relative_to(root).as_posix() for p in texts()]
        return "\n".join(found) or "(the folder has no text files)"

    @server.tool(description="Read one file of the folder.", annotations=read_only)
    def read_file(
        path: Annotated[str, Field(description="the file, relative to the folder")],
    ) -> str:
        target = inside(path)
        if not target.is_file():
            raise ToolError(f"no file {path}")
        return target.read_bytes()[:MAX_BYTES].decode("utf-8", "replace")

    @server.tool(
        description="Find the lines of the folder's files that contain a word.",
        annotations=read_only,
    )
    def search(
        query: Annotated[str, Field(description="the word or phrase to look for")],
    ) -> str:
        wanted = query.casefold()
        hits: list[str] = []
        for file in texts():
            text = file.read_bytes()[:MAX_BYTES].decode("utf-8", "replace")
            for number, line in enumerate(text.splitlines(), 1):
                if wanted in line.casefold():
                    hits.append(f"{file.relative_to(root).as_posix()}:{number}: {line.strip()}")
        return "\n".join(hits[:100]) or f"nothing matches {query!r}"

    return server


def main(folder: str) -> int:
    root = Path(folder).expanduser()
    if not root.is_dir():
        print(f"cairn connectors serve-folder: {folder} is not a folder", file=sys.stderr)
        return 2
    build(root).run()  # stdio, until the client closes it
    return 0
