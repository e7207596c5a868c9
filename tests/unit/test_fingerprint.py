"""A folder's fingerprint: the quick walk (one process or several) agrees with
the full scan, changes with every kind of edit, and declines what only the
full scan may judge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.paths import is_git_name
from tether.storage import parallel
from tether.tempfiles import is_temporary
from tether.workspace import scan


def full(top: Path) -> tuple[str, int, int]:
    files = scan.scan(top, "t", (top,))
    return scan.fingerprint(files), len(files), sum(f.st.st_size for f in files)


def quick(top: Path, jobs: int) -> tuple[str, int, int] | None:
    q = scan.quick(top, jobs)
    return None if q is None else (q.fingerprint, q.files, q.size)


def make_tree(top: Path) -> None:
    for rel, data in {
        "a.txt": b"top",
        "a/x": b"1",
        "a/b/y": b"22",
        "a/b2/z": b"333",
        "a/c": b"",
        "deep/1/2/3/4/leaf": b"leaf",
        "émoji 🧪/名前.bin": b"unicode",
        "with\nnewline/f": b"odd but legal",
    }.items():
        p = top / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (top / "empty/inner").mkdir(parents=True)
    (top / "a/b/y").chmod(0o755)
    for i in range(40):  # enough folders to share out to several processes
        (top / f"many/{i}").mkdir(parents=True)
        (top / f"many/{i}/f").write_bytes(os.urandom(i))


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_quick_walk_agrees_with_the_full_scan(tmp_path, jobs):
    make_tree(tmp_path)
    assert quick(tmp_path, jobs) == full(tmp_path)


names = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="/\0"), min_size=1, max_size=8
).filter(lambda n: n not in (".", "..") and not is_temporary(n) and not is_git_name(n))


@pytest.mark.slow  # 40 trees written to disk and walked twice
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tree=st.lists(
        st.tuples(st.lists(names, min_size=1, max_size=4), st.binary(max_size=64)), max_size=12
    )
)
def test_quick_walk_agrees_on_any_tree(tmp_path_factory, tree):
    top = tmp_path_factory.mktemp("t")
    for parts, data in tree:
        p = top.joinpath(*parts)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if not p.exists():
                p.write_bytes(data)
        except (NotADirectoryError, FileExistsError, IsADirectoryError, OSError):
            continue  # a name used for both a file and a folder: skip the clash
    expected = full(top)
    for jobs in (1, 2):
        assert quick(top, jobs) == expected


EDITS = {
    "content, same size": lambda t: (t / "a/x").write_bytes(b"9"),
    "mode": lambda t: (t / "a/c").chmod(0o700),
    "new file deep down": lambda t: (t / "deep/1/2/new").write_bytes(b""),
    "deleted file": lambda t: (t / "a/b2/z").unlink(),
    "renamed folder": lambda t: (t / "a/b").rename(t / "a/bb"),
    "file moved between folders": lambda t: (t / "many/3/f").rename(t / "many/4/g"),
}


@pytest.mark.parametrize("edit", EDITS)
def test_every_edit_changes_the_fingerprint(tmp_path, edit):
    make_tree(tmp_path)
    before = quick(tmp_path, 2)
    EDITS[edit](tmp_path)
    after = quick(tmp_path, 2)
    assert after is not None and before is not None
    assert after[0] != before[0]
    assert after == full(tmp_path)


def test_tether_temporaries_are_left_out_as_by_the_scan(tmp_path):
    make_tree(tmp_path)
    before = quick(tmp_path, 2)
    (tmp_path / "many/5/.0123456789ab.tether-tmp").write_bytes(b"half-written")
    assert quick(tmp_path, 2) == before == full(tmp_path)


@pytest.mark.parametrize("where", ["top", "many/7"])
@pytest.mark.parametrize("what", ["symlink", "fifo", "bad name"])
def test_declines_what_only_the_full_scan_judges(tmp_path, what, where):
    make_tree(tmp_path)
    folder = tmp_path if where == "top" else tmp_path / where
    if what == "symlink":
        (folder / "link").symlink_to(tmp_path / "a.txt")
    elif what == "fifo":
        os.mkfifo(folder / "pipe")
    else:
        fd = os.open(os.fsencode(folder) + b"/bad\xff", os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
    for jobs in (1, 2):
        assert scan.quick(tmp_path, jobs) is None


def test_map_forked_keeps_order_and_reports_a_failing_process(tmp_path):
    assert parallel.map_forked(lambda n: str(n * n).encode(), [1, 2, 3]) == [b"1", b"4", b"9"]
    big = parallel.map_forked(lambda n: bytes([n]) * (1 << 20), [7, 8])  # over a pipe's buffer
    assert big == [b"\x07" * (1 << 20), b"\x08" * (1 << 20)]

    def fail_on_two(n: int) -> bytes:
        if n == 2:
            raise OSError("vanished")
        return b"ok"

    assert parallel.map_forked(fail_on_two, [1, 2, 3]) is None
