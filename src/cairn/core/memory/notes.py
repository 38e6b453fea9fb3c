"""Free-form memory notes (OpenClaw's MEMORY.md and daily notes, Rebel's topics and
sources): markdown cut into recallable rows, a bullet item or a paragraph each.

Pure text in, rows out: the memory index (`cairn.infra.memory_index`) reads the files and
stores the rows. A row's id comes from its file and its text, so it is the same at every
re-index.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

ROW_CHARS = 500  # a free-form row at most: about 125 tokens of a recall budget
_ENDS = ("---", "...")
_OPEN_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_COMMENT = re.compile(r"<!--.*?-->")
_QUOTE = re.compile(r" {0,3}> ?")
_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_RULE = re.compile(r" {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_TABLE_RULE = re.compile(r"[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+(?:[ \t]*:?-+:?[ \t]*)?$")
_ITEM = re.compile(r"( *)(?:[-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$")
_CHECK = re.compile(r"^\[[ xX]\][ \t]+")
_JOINED = tuple(":;,.!?")  # a parent item ending so needs no "; " before its children
_CONTEXT_CHARS = 120
_TERM = re.compile(r"[^\W_]+")


class _Notes:
    """The rows of a free-form markdown file, collected block by block (see `free_notes`)."""

    def __init__(self, path: str, title: str) -> None:
        self.path, self.title = path, title.casefold()
        self.rows: list[tuple[str, str]] = []
        self.seen: dict[str, int] = {}
        self.block: list[str] = []
        self.item = -1  # the indent of the list item being read, or -1 for a paragraph
        self.heading = ""  # the nearest heading: context for the rows under it
        self.table: list[str] = []  # the header cells of the table being read

    def add(self, text: str) -> None:
        """A row; its id comes from the path, the text and how often the text came before,
        so it is the same at every re-index and two equal notes in one file stay two."""
        count = self.seen[text] = self.seen.get(text, 0) + 1
        key = f"{self.path}\n{text}\n{count}".encode()
        self.rows.append((hashlib.blake2b(key, digest_size=6).hexdigest(), text))

    def flush(self, *, table: bool = False) -> None:
        """The block read so far becomes one row, or several when it is long."""
        text = " ".join(" ".join(self.block).split())
        self.block, self.item = [], -1
        if not table:
            self.table = []
        if not _TERM.search(text):
            return
        context = self.heading if self.heading.casefold() != self.title else ""
        prefix = f"{context[:_CONTEXT_CHARS]}: " if context else ""
        for piece in _pieces(text, ROW_CHARS - len(prefix)):
            self.add(prefix + piece)

    def head(self, text: str) -> None:
        """A heading ends the block and is the context of the rows after it; a heading with
        nothing under it is no row of its own."""
        self.flush()
        self.heading = " ".join(text.split())


def _pieces(text: str, room: int) -> Iterator[str]:
    """`text` cut into pieces of at most `room` characters: at sentence ends where it can,
    else at spaces, else anywhere."""
    room = max(room, 80)
    while len(text) > room:
        window = text[: room + 1]
        cut = max(window.rfind(". "), window.rfind("; "), window.rfind("! "), window.rfind("? "))
        cut = cut + 1 if cut >= room // 3 else window.rfind(" ")
        if cut < room // 3:
            cut = room
        yield text[:cut].strip()
        text = text[cut:].strip()
    if text:
        yield text


def free_notes(path: str, text: str, *, title: str = "") -> list[tuple[str, str]]:
    """(id, text) of each note in a free-form markdown file: a list item (with the items
    nested under it), a paragraph or a table row each, after its nearest heading as context
    (unless the heading only repeats the file's `title`). Frontmatter, fenced code, HTML
    comments, rules and headings with nothing under them are left out; a long note is cut
    into rows of at most `ROW_CHARS` characters."""
    notes = _Notes(path, title)
    lines = text.splitlines()
    start = 0
    if lines and lines[0].rstrip() == "---":  # frontmatter, when it is closed
        start = next((i + 1 for i, s in enumerate(lines[1:], 1) if s.rstrip() in _ENDS), 0)
    fence = ""
    in_comment = False
    for raw in lines[start:]:
        line = raw.expandtabs(4)
        if fence:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
            continue
        if in_comment:
            end = line.find("-->")
            if end < 0:
                continue
            line, in_comment = line[end + 3 :], False
        if "<!--" in line:
            line = _COMMENT.sub("", line)
            if (open_at := line.find("<!--")) >= 0:
                line, in_comment = line[:open_at], True
        while (quote := _QUOTE.match(line)) is not None:
            line = line[quote.end() :]
        if notes.table and "|" not in line:
            notes.flush()  # the end of a table
        if (opened := _OPEN_FENCE.match(line)) is not None:
            notes.flush()
            fence = opened[1]
            continue
        if not line.strip():
            notes.flush()
        elif notes.block and notes.item < 0 and _SETEXT.match(line):
            underlined = " ".join(notes.block)
            notes.block = []
            notes.head(underlined)
        elif notes.item < 0 and notes.block and "|" in notes.block[-1] and _TABLE_RULE.match(line):
            header = _cells(notes.block.pop())  # a table: each row a note, cells named
            notes.flush()
            notes.table = header
        elif notes.table and "|" in line:
            cells = zip(notes.table, _cells(line), strict=False)
            notes.block = ["; ".join(f"{h}: {c}" if h else c for h, c in cells if c)]
            notes.flush(table=True)
        elif _RULE.match(line) or _TABLE_RULE.match(line):
            notes.flush()
        elif (heading := _HEADING.match(line)) is not None:
            notes.head(heading[1] or "")
        elif (item := _ITEM.match(line)) is not None:
            indent, body = len(item[1]), _CHECK.sub("", item[2] or "", count=1)
            if notes.item >= 0 and indent > notes.item:  # nested: part of its parent
                if notes.block and body.strip():
                    last = notes.block[-1].rstrip()
                    notes.block[-1] = last + (" " if last.endswith(_JOINED) else "; ")
                notes.block.append(body)
            else:
                notes.flush()
                notes.item = indent
                notes.block.append(body)
        else:
            notes.block.append(line.strip())
    notes.flush()
    return notes.rows


def _cells(line: str) -> list[str]:
    """The cells of a table row."""
    return [c.strip() for c in line.strip().strip("|").split("|")]
