"""Frontmatter edits touch only the keys they change; everything else stays byte for byte."""

from __future__ import annotations

import pytest

from cairn.core.workspace.documents import parse_document
from cairn.core.workspace.edit import EditError, replace_body, update_frontmatter

ORIGINAL = """---
# A comment the author cares about
name: weekly-review
description: 'Single-quoted, kept as written'
x-vendor: {keep: me, order: [3, 1, 2]}
metadata:
  author: someone   # trailing comment
  version: "1.0"
enabled: true
---
# Body

Untouched text with trailing spaces   \nand no final newline"""


def meta(text: str) -> dict[str, object]:
    doc, problems = parse_document("x.md", text.encode())
    assert doc is not None and not problems
    return dict(doc.frontmatter)


def test_changing_one_key_leaves_every_other_byte() -> None:
    edited = update_frontmatter(ORIGINAL, {"enabled": False})
    assert edited == ORIGINAL.replace("enabled: true", "enabled: false")


def test_changing_a_block_value() -> None:
    edited = update_frontmatter(ORIGINAL, {"metadata": {"author": "me"}})
    assert "x-vendor: {keep: me, order: [3, 1, 2]}" in edited
    assert meta(edited)["metadata"] == {"author": "me"}
    assert edited.split("---\n", 2)[2] == ORIGINAL.split("---\n", 2)[2]
    assert list(meta(edited)) == list(meta(ORIGINAL))  # key order kept


def test_adding_and_removing_keys() -> None:
    edited = update_frontmatter(ORIGINAL, {"license": "MIT"}, remove=["x-vendor"])
    data = meta(edited)
    assert "x-vendor" not in data and data["license"] == "MIT"
    assert list(data)[-1] == "license"
    assert "# A comment the author cares about" in edited
    assert edited.endswith("and no final newline")


def test_file_without_frontmatter_gains_one() -> None:
    edited = update_frontmatter("# Note\n", {"sensitive": True})
    assert edited == "---\nsensitive: true\n---\n# Note\n"


def test_crlf_files_stay_crlf() -> None:
    text = "---\r\nname: a\r\nscope: team\r\n---\r\nBody\r\n"
    edited = update_frontmatter(text, {"scope": "private"})
    assert edited == "---\r\nname: a\r\nscope: private\r\n---\r\nBody\r\n"


def test_replace_body_keeps_frontmatter_bytes() -> None:
    edited = replace_body(ORIGINAL, "New body\n")
    assert edited.startswith(ORIGINAL[: ORIGINAL.index("# Body")])
    assert edited.endswith("---\nNew body\n")


def test_invalid_frontmatter_is_refused_not_mangled() -> None:
    with pytest.raises(EditError):
        update_frontmatter("---\nname: [\n---\n", {"name": "a"})
    with pytest.raises(EditError):
        update_frontmatter("---\nname: a\n", {"name": "b"})
