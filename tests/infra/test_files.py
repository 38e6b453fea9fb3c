"""LocalFileStore on real files: confinement, scanning, atomic conflict-checked writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn.core.errors import CairnError, PathOutsideWorkspaceError, WriteConflictError
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import TEMP_MARKER, LocalFileStore

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text("outside secret\n", encoding="utf-8")
    return folder


@pytest.fixture
def store(root: Path) -> LocalFileStore:
    return LocalFileStore(root)


@pytest.fixture
def symlink() -> Callable[[Path, Path], None]:
    """Create a symbolic link, skipping the test where the platform refuses to."""

    def make(link: Path, target: Path) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(target, link, target_is_directory=target.is_dir())
        except (OSError, NotImplementedError) as exc:
            pytest.skip(f"cannot create symbolic links here: {exc}")

    return make


@pytest.fixture
def umask_022() -> Iterator[None]:
    """File modes depend on the umask; pin the common one so results are deterministic."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if TEMP_MARKER in p.name)


# --- resolve: confinement --------------------------------------------------------------------


def test_resolve_maps_relative_paths_inside_the_root(store: LocalFileStore, root: Path) -> None:
    assert store.root == root.resolve()
    assert store.resolve("") == store.root
    assert store.resolve("skills/a/SKILL.md") == store.root / "skills" / "a" / "SKILL.md"
    # Backslashes are separators too, so Windows-style relative paths stay relative.
    assert store.resolve("skills\\a\\SKILL.md") == store.root / "skills" / "a" / "SKILL.md"
    # Files that do not exist yet resolve fine (writes need that).
    assert store.resolve("new/folder/file.md") == store.root / "new" / "folder" / "file.md"


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x.md",
        "../ws/agents.md",  # leads back inside, but '..' is refused outright
        "skills/../../x.md",
        "skills/a/../b.md",
        "..\\x.md",
        "skills\\..\\..\\x.md",
        "/etc/passwd",
        "/x.md",
        "//server/share/x.md",
        "\\\\server\\share\\x.md",
        "C:/Windows/x.md",
        "c:x.md",
        "C:\\x.md",
    ],
)
def test_resolve_refuses_escaping_paths(store: LocalFileStore, path: str) -> None:
    with pytest.raises(PathOutsideWorkspaceError):
        store.resolve(path)


def test_resolve_refuses_an_absolute_path_even_inside_the_root(
    store: LocalFileStore, root: Path
) -> None:
    (root / "agents.md").write_text("hi", encoding="utf-8")
    with pytest.raises(PathOutsideWorkspaceError):
        store.resolve(str(root / "agents.md"))


def test_outside_error_is_a_cairn_error() -> None:
    assert issubclass(PathOutsideWorkspaceError, CairnError)
    assert issubclass(WriteConflictError, CairnError)


def test_resolve_refuses_a_symlinked_folder_leading_outside(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    symlink(root / "skills" / "escape", outside)
    for path in (
        "skills/escape",
        "skills/escape/secret.md",
        "skills/escape/new.md",
        "skills/escape/deeper/new.md",
    ):
        with pytest.raises(PathOutsideWorkspaceError):
            store.resolve(path)


def test_resolve_refuses_a_symlinked_file_leading_outside(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    symlink(root / "operators" / "lens.md", outside / "secret.md")
    with pytest.raises(PathOutsideWorkspaceError):
        store.resolve("operators/lens.md")


def test_resolve_refuses_a_dangling_symlink_leading_outside(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    # Writing through it would create a file outside the workspace.
    symlink(root / "operators" / "lens.md", outside / "not-there-yet.md")
    with pytest.raises(PathOutsideWorkspaceError):
        store.resolve("operators/lens.md")


def test_resolve_allows_symlinks_that_stay_inside(
    store: LocalFileStore, root: Path, symlink: Callable[[Path, Path], None]
) -> None:
    (root / "skills" / "real").mkdir(parents=True)
    (root / "skills" / "real" / "SKILL.md").write_text("x", encoding="utf-8")
    symlink(root / "alias", root / "skills" / "real")
    symlink(root / "alias.md", root / "skills" / "real" / "SKILL.md")
    assert store.resolve("alias/SKILL.md") == store.root / "alias" / "SKILL.md"
    assert store.resolve("alias.md") == store.root / "alias.md"
    assert store.read("alias.md", 100) == b"x"


def test_read_refuses_symlinks_leading_outside(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    symlink(root / "operators" / "lens.md", outside / "secret.md")
    symlink(root / "escape", outside)
    with pytest.raises(PathOutsideWorkspaceError):
        store.read("operators/lens.md", 1000)
    with pytest.raises(PathOutsideWorkspaceError):
        store.read("escape/secret.md", 1000)
    with pytest.raises(PathOutsideWorkspaceError):
        store.current_hash("operators/lens.md")


def test_read_honours_the_limit_plus_one(store: LocalFileStore, root: Path) -> None:
    (root / "a.md").write_bytes(b"0123456789")
    assert store.read("a.md", 4) == b"01234"  # one byte more, so callers can see "too big"
    assert store.read("a.md", 100) == b"0123456789"
    with pytest.raises(FileNotFoundError):
        store.read("missing.md", 10)


def test_writes_through_escaping_symlinks_are_refused_and_write_nothing(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    symlink(root / "escape", outside)
    symlink(root / "lens.md", outside / "secret.md")
    before = sorted(p.name for p in outside.iterdir())
    with pytest.raises(PathOutsideWorkspaceError):
        store.write("escape/new.md", b"x", base_hash=None)
    with pytest.raises(PathOutsideWorkspaceError):
        store.write("lens.md", b"x", base_hash=content_hash(b"outside secret\n"))
    assert sorted(p.name for p in outside.iterdir()) == before
    assert (outside / "secret.md").read_text(encoding="utf-8") == "outside secret\n"
    assert temporaries(root) == []


# --- scan ------------------------------------------------------------------------------------


def test_scan_skips_hidden_names_and_symlinked_folders(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    (root / "visible.md").write_text("v", encoding="utf-8")
    (root / ".hidden.md").write_text("h", encoding="utf-8")
    (root / f".visible.md{TEMP_MARKER}abcd").write_text("t", encoding="utf-8")
    (root / ".cairn").mkdir()
    (root / ".git").mkdir()
    (root / "sub").mkdir()
    (root / "sub" / "inner.md").write_text("i", encoding="utf-8")
    symlink(root / "inside-link", root / "sub")
    symlink(root / "outside-link", outside)
    symlink(root / "alias.md", root / "visible.md")

    files, folders = store.scan("")
    assert files == ["alias.md", "visible.md"]  # a symlinked *file* is listed (reads check it)
    assert folders == ["sub"]  # symlinked folders, inside or out, are not followed
    assert store.scan("sub") == (["inner.md"], [])


def test_scan_of_missing_file_or_escaping_folder_is_empty(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    (root / "a.md").write_text("a", encoding="utf-8")
    symlink(root / "escape", outside)
    assert store.scan("missing") == ([], [])
    assert store.scan("a.md") == ([], [])
    assert store.scan("escape") == ([], [])
    assert store.scan("../outside") == ([], [])


def test_is_dir(
    store: LocalFileStore, root: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    (root / "sub").mkdir()
    (root / "a.md").write_text("a", encoding="utf-8")
    symlink(root / "escape", outside)
    assert store.is_dir("")
    assert store.is_dir("sub")
    assert not store.is_dir("a.md")
    assert not store.is_dir("missing")
    assert not store.is_dir("escape")
    assert not store.is_dir("../outside")


def test_model_does_not_descend_into_symlinked_folders(
    starter: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    root = starter  # a copy of the starter workspace (tests/conftest.py)
    (outside / "SKILL.md").write_text(
        "---\nname: escape\ndescription: d\n---\nbody\n", encoding="utf-8"
    )
    symlink(root / "skills" / "escape", outside)  # would load an outside skill
    symlink(root / "skills" / "alias", root / "skills" / "morning-brief")  # would duplicate
    symlink(root / "skills" / "loop", root / "skills")  # would never end
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    assert "escape" not in workspace.skills
    assert "alias" not in workspace.skills
    assert "loop" not in workspace.skills
    assert "morning-brief" in workspace.skills
    assert not any(
        p.startswith(("skills/escape", "skills/alias", "skills/loop")) for p in workspace.files
    )
    assert not [d for d in workspace.diagnostics if d.severity == "error"]


def test_model_reports_a_symlinked_file_leading_outside_as_unreadable(
    starter: Path, outside: Path, symlink: Callable[[Path, Path], None]
) -> None:
    root = starter
    (outside / "lens.md").write_text("---\ndescription: d\n---\nLens.\n", encoding="utf-8")
    symlink(root / "operators" / "lens.md", outside / "lens.md")
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    assert "lens" not in workspace.operators
    problems = [d for d in workspace.diagnostics if d.path == "operators/lens.md"]
    assert [d.code for d in problems] == ["unreadable"]
    assert "clarity-editor" in workspace.operators  # the rest still loads


# --- write: atomic and conflict-checked -----------------------------------------------------


def test_write_creates_a_new_file_with_no_base_hash(store: LocalFileStore, root: Path) -> None:
    data = b"---\nname: fresh\n---\nbody\n"
    digest = store.write("skills/fresh/SKILL.md", data, base_hash=None)
    assert digest == content_hash(data)
    assert (root / "skills" / "fresh" / "SKILL.md").read_bytes() == data
    assert store.current_hash("skills/fresh/SKILL.md") == digest
    assert temporaries(root) == []


def test_write_with_no_base_hash_refuses_an_existing_file(
    store: LocalFileStore, root: Path
) -> None:
    target = root / "agents.md"
    target.write_bytes(b"theirs")
    with pytest.raises(WriteConflictError) as caught:
        store.write("agents.md", b"mine", base_hash=None)
    assert target.read_bytes() == b"theirs"
    assert caught.value.path == "agents.md"
    assert caught.value.expected_hash is None
    assert caught.value.actual_hash == content_hash(b"theirs")
    assert "expected not to exist" in str(caught.value)
    assert temporaries(root) == []


def test_an_empty_file_is_not_the_same_as_no_file(store: LocalFileStore, root: Path) -> None:
    with pytest.raises(WriteConflictError):
        store.write("a.md", b"x", base_hash=content_hash(b""))
    assert not (root / "a.md").exists()
    (root / "a.md").write_bytes(b"")
    with pytest.raises(WriteConflictError):
        store.write("a.md", b"x", base_hash=None)
    store.write("a.md", b"x", base_hash=content_hash(b""))
    assert (root / "a.md").read_bytes() == b"x"
    assert temporaries(root) == []


def test_write_with_the_right_base_hash_replaces(store: LocalFileStore, root: Path) -> None:
    target = root / "notes.md"
    target.write_bytes(b"version 1")
    base = store.current_hash("notes.md")
    assert base == content_hash(b"version 1")
    new = store.write("notes.md", b"version 2", base_hash=base)
    assert target.read_bytes() == b"version 2"
    assert new == content_hash(b"version 2") == store.current_hash("notes.md")
    # The returned hash is the base of the next write; the old one is now stale.
    store.write("notes.md", b"version 3", base_hash=new)
    with pytest.raises(WriteConflictError):
        store.write("notes.md", b"version 4", base_hash=new)
    assert target.read_bytes() == b"version 3"
    assert temporaries(root) == []


def test_file_changed_on_disk_between_read_and_write_is_not_overwritten(
    store: LocalFileStore, root: Path
) -> None:
    target = root / "skills" / "a" / "SKILL.md"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"original")
    base = content_hash(store.read("skills/a/SKILL.md", 1000))  # Cairn reads...

    target.write_bytes(b"an editor saved this meanwhile")  # ...someone else saves...

    with pytest.raises(WriteConflictError) as caught:  # ...Cairn's write must not win.
        store.write("skills/a/SKILL.md", b"cairn's edit", base_hash=base)
    assert target.read_bytes() == b"an editor saved this meanwhile"
    assert caught.value.expected_hash == base
    assert caught.value.actual_hash == content_hash(b"an editor saved this meanwhile")
    assert "changed on disk" in str(caught.value)
    assert temporaries(root) == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["SKILL.md"]


def test_file_changed_by_a_rename_save_between_read_and_write_is_not_overwritten(
    store: LocalFileStore, root: Path
) -> None:
    target = root / "operators" / "lens.md"
    target.parent.mkdir()
    target.write_bytes(b"original")
    base = store.current_hash("operators/lens.md")
    temp = target.with_name(".lens.md.swp")
    temp.write_bytes(b"saved by rename")
    os.replace(temp, target)
    with pytest.raises(WriteConflictError):
        store.write("operators/lens.md", b"cairn's edit", base_hash=base)
    assert target.read_bytes() == b"saved by rename"
    assert temporaries(root) == []


def test_file_deleted_between_read_and_write_is_a_conflict(
    store: LocalFileStore, root: Path
) -> None:
    target = root / "operators" / "lens.md"
    target.parent.mkdir()
    target.write_bytes(b"original")
    base = store.current_hash("operators/lens.md")
    target.unlink()
    with pytest.raises(WriteConflictError) as caught:
        store.write("operators/lens.md", b"cairn's edit", base_hash=base)
    assert not target.exists()  # not resurrected
    assert caught.value.actual_hash is None
    assert "deleted" in str(caught.value)
    assert temporaries(root) == []
    assert list(target.parent.iterdir()) == []


def test_file_restored_to_the_same_bytes_is_not_a_conflict(
    store: LocalFileStore, root: Path
) -> None:
    # The check is on content, not on timestamps: a touch or an identical save is fine.
    target = root / "a.md"
    target.write_bytes(b"same")
    base = store.current_hash("a.md")
    target.write_bytes(b"same")
    os.utime(target, (1, 1))
    store.write("a.md", b"new", base_hash=base)
    assert target.read_bytes() == b"new"


@posix_only
@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize(
    "mode",
    [
        0o600,
        0o640,
        0o644,
        0o755,
        # (0o444 is read-only: such files are refused, see test_read_only_files_are_left_alone)
        # Regression: the mode used to go through os.open(), which the umask filters,
        # so group/other write bits were lost under the usual umask 022.
        0o664,
        0o666,
    ],
    ids=oct,
)
def test_write_preserves_the_file_mode(store: LocalFileStore, root: Path, mode: int) -> None:
    target = root / "a.md"
    target.write_bytes(b"old")
    target.chmod(mode)
    try:
        store.write("a.md", b"new", base_hash=content_hash(b"old"))
        assert target.read_bytes() == b"new"
        assert oct(stat.S_IMODE(target.stat().st_mode)) == oct(mode)
    finally:
        target.chmod(0o644)


@posix_only
@pytest.mark.usefixtures("umask_022")
def test_a_new_file_gets_the_usual_mode(store: LocalFileStore, root: Path) -> None:
    store.write("a.md", b"x", base_hash=None)
    assert oct(stat.S_IMODE((root / "a.md").stat().st_mode)) == oct(0o644)


@posix_only
def test_a_refused_write_leaves_the_mode_alone(store: LocalFileStore, root: Path) -> None:
    target = root / "a.md"
    target.write_bytes(b"old")
    target.chmod(0o600)
    with pytest.raises(WriteConflictError):
        store.write("a.md", b"new", base_hash=content_hash(b"other"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"old"


def test_write_replaces_the_inode_so_open_readers_keep_the_old_bytes(
    store: LocalFileStore, root: Path
) -> None:
    target = root / "a.md"
    target.write_bytes(b"old content")
    with target.open("rb") as reader:
        store.write("a.md", b"new content", base_hash=content_hash(b"old content"))
        assert reader.read() == b"old content"  # never a mix of the two
    assert target.read_bytes() == b"new content"


# --- temporaries ------------------------------------------------------------------------------


def test_remove_stale_temporaries(store: LocalFileStore, root: Path) -> None:
    stale = [
        ".x.md.cairn-tmp-abcd",
        "skills/a/.SKILL.md.cairn-tmp-0123abcd",
        "spaces/team/skills/b/references/.notes.md.cairn-tmp-ffff0000",
        ".cairn/.state.json.cairn-tmp-1234",
    ]
    kept = [
        "x.md",
        "skills/a/SKILL.md",
        ".hidden.md",
        "skills/a/.SKILL.md.swp",
        "x.md.cairn-tmp-abcd",  # not hidden: not one of Cairn's temporaries
        ".x.md.cairn-tmp",  # no marker suffix
    ]
    for rel in (*stale, *kept):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"leftover")

    removed = store.remove_stale_temporaries()

    assert sorted(removed) == sorted(stale)
    for rel in stale:
        assert not (root / rel).exists()
    for rel in kept:
        assert (root / rel).exists()
    assert store.remove_stale_temporaries() == []


def test_temporaries_are_invisible_to_scan_and_model(starter: Path) -> None:
    root = starter
    store = LocalFileStore(root)
    leftovers = [
        f"skills/morning-brief/.SKILL.md{TEMP_MARKER}abcd1234",
        f"operators/.clarity-editor.md{TEMP_MARKER}abcd1234",
        f"skills/decision-memo/references/.memo-template.md{TEMP_MARKER}abcd1234",
        f".agents.md{TEMP_MARKER}abcd1234",
    ]
    for rel in leftovers:
        (root / rel).write_text("---\nname: [broken\n---\n", encoding="utf-8")
    assert all(TEMP_MARKER not in name for name in store.scan("operators")[0])
    workspace = WorkspaceModel(store).load()
    assert not any(TEMP_MARKER in p for p in workspace.files)
    assert not any(TEMP_MARKER in p for p in workspace.skills["decision-memo"].resources.other)
    assert workspace.skills["decision-memo"].resources.references == (
        "skills/decision-memo/references/memo-template.md",
    )
    assert not any(TEMP_MARKER in d.path for d in workspace.diagnostics)
    assert sorted(store.remove_stale_temporaries()) == sorted(leftovers)


def test_read_only_files_are_left_alone(tmp_path: Path) -> None:
    from cairn.core.errors import ReadOnlyFileError

    store = LocalFileStore(tmp_path)
    target = tmp_path / "locked.md"
    target.write_text("keep me\n")
    target.chmod(0o444)
    base = store.current_hash("locked.md")
    with pytest.raises(ReadOnlyFileError):
        store.write("locked.md", b"changed\n", base_hash=base)
    assert target.read_text() == "keep me\n"


def test_writing_through_an_inside_link_keeps_the_link(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    (tmp_path / "real.md").write_text("old\n")
    (tmp_path / "alias.md").symlink_to("real.md")
    store.write("alias.md", b"new\n", base_hash=store.current_hash("alias.md"))
    assert (tmp_path / "alias.md").is_symlink()
    assert (tmp_path / "real.md").read_text() == "new\n"
