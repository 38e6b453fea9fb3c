from __future__ import annotations

from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash, parse_document


def codes(raw: bytes) -> list[str]:
    return [d.code for d in parse_document("x.md", raw)[1]]


def test_frontmatter_and_body_split_with_lines() -> None:
    raw = b"---\nname: a\nlist:\n  - 1\n  - 2\n---\n# Title\n\nBody\n"
    doc, problems = parse_document("x.md", raw)
    assert problems == []
    assert doc is not None
    assert doc.frontmatter["name"] == "a"
    assert doc.frontmatter["list"] == (1, 2)
    assert doc.body == "# Title\n\nBody\n"
    assert doc.body_line == 7
    assert doc.line_of(("list", 1)) == 5
    assert doc.line_of(("missing",)) == 1  # points at the frontmatter when the key is absent
    assert doc.content_hash == content_hash(raw)


def test_no_frontmatter_is_all_body() -> None:
    doc, problems = parse_document("x.md", b"# Just text\n")
    assert doc is not None and not problems
    assert doc.frontmatter == {} and doc.body == "# Just text\n"


def test_crlf_and_bom() -> None:
    doc, problems = parse_document("x.md", b"\xef\xbb\xbf---\r\nname: a\r\n---\r\nBody\r\n")
    assert doc is not None and not problems
    assert doc.frontmatter["name"] == "a"
    assert doc.body == "Body\r\n"


def test_frontmatter_is_read_only() -> None:
    doc, _ = parse_document("x.md", b"---\nmeta: {a: [1]}\n---\n")
    assert doc is not None
    try:
        doc.frontmatter["meta"]["a"] = 2  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("frontmatter must be immutable")


def test_bad_inputs_become_diagnostics() -> None:
    assert codes(b"---\nname: a\n") == ["frontmatter-unclosed"]
    assert codes(b"---\nname: [a\n---\n") == ["yaml-syntax"]
    assert codes(b"---\n- a\n- b\n---\n") == ["frontmatter-not-mapping"]
    # Regression (found by the layout fuzz): one plain value crashed the depth check.
    assert codes(b"---\nplain scalar\n---\nbody") == ["frontmatter-not-mapping"]
    assert codes(b"\x00\x01binary") == ["binary-file"]
    assert codes(b"ok\n\xff\xfe") == ["not-utf8"]
    assert codes(b"a" * (MAX_FILE_BYTES + 1)) == ["file-too-large"]
    assert codes(b"---\na: 1\na: 2\n---\n") == ["duplicate-key"]
    assert codes(b"---\nyes: 1\n---\n") == ["key-not-text"]
    assert codes(b"---\n!!python/object:os.system {}\n---\n") == ["yaml-syntax"]  # safe loader


def test_yaml_error_line_is_the_file_line() -> None:
    _, problems = parse_document("x.md", b"---\na: 1\nb: 2\nc: [oops\n---\n")
    assert problems[0].line is not None and problems[0].line >= 4


def test_not_utf8_gives_line() -> None:
    _, problems = parse_document("x.md", b"line one\nline two\n\xc3\x28 bad\n")
    assert problems[0].line == 3
