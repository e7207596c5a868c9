"""Checkout, change detection and the state database under the ways real
workspaces go wrong: in-place rewrites, bit rot behind links, races between
the background writer and folder bookkeeping, long names, killed processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Result, git, write


def _rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    """Rewrite in place with the same size and restore the mtime (``touch -r``)."""
    st = path.stat()
    assert len(data) == st.st_size
    mode = st.st_mode & 0o777
    path.chmod(mode | 0o200)
    with open(path, "r+b") as f:
        f.write(data)
    path.chmod(mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )


@pytest.mark.parametrize("where", ["file", "folder"])
def test_in_place_rewrite_with_mtime_restored_is_noticed(repo, tether, where):
    target = repo / ("a.bin" if where == "file" else "d/sub/a.bin")
    write(target, b"A" * 64)
    if where == "folder":
        write(repo / "d/other.txt", "other")
    assert tether("add", "a.bin" if where == "file" else "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert tether("status", "--exit-code").code == 0  # the state database learns it
    _rewrite_keeping_mtime(target, b"B" * 64)
    r = tether("status", "--exit-code")
    assert r.code == 1 and "modified" in r.out
    r = tether("checkout")
    assert r.code == 1 and "not in the cache" in r.err
    assert target.read_bytes() == b"B" * 64  # the edit survives


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_bit_rot_in_a_linked_object_is_not_checked_out(repo, tether, kind):
    assert tether("config", "cache.link", kind).code == 0
    a = write(repo / "a.bin", b"good data " * 10)
    assert tether("add", "a.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert tether("status", "--exit-code").code == 0
    obj = next(p for p in (repo / ".tether/cache/objects").glob("*/*"))
    _rewrite_keeping_mtime(obj, b"bad! data " + b"good data " * 9)
    r = tether("status", "--exit-code")
    assert r.code == 1 and "modified" in r.out
    a.unlink()
    r = tether("checkout")
    assert r.code == 1 and "corrupt" in r.err
    assert not a.exists() and not a.is_symlink()


def _fresh_checkout_rounds(repo, tether, layout: dict[str, bytes], rounds: int) -> None:
    for _ in range(rounds):
        for top in {rel.split("/")[0] for rel in layout}:
            shutil.rmtree(repo / top)
        r = tether("checkout")
        assert r.code == 0, r.err
        for rel, data in layout.items():
            assert (repo / rel).read_bytes() == data, rel


def test_folders_and_pruning_are_settled_with_background_writes(repo, tether, monkeypatch):
    """Every file goes to the background writer (the threshold is lowered), in
    folders holding only such files, nested, and beside small ones; sizes make
    some writes slow and some instant, so each round meets other orderings."""
    from tether.workspace import checkout

    layout: dict[str, bytes] = {}
    for i in range(4):
        layout[f"big{i}/only.bin"] = os.urandom((i + 1) << 18)
        layout[f"nest{i}/a/b/c/deep.bin"] = os.urandom(1 + i)
        layout[f"nest{i}/a/x.bin"] = os.urandom(3 << 18)
    for j in range(30):
        layout[f"mixed/s{j % 5}/f{j}.bin"] = os.urandom(1 + (j * 7919) % (1 << 17))
    for rel, data in layout.items():
        write(repo / rel, data)
    tops = sorted({rel.split("/")[0] for rel in layout})
    assert tether("add", *tops).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    monkeypatch.setattr(checkout, "BACKGROUND_MIN", 1 << 17)  # most files, not all
    _fresh_checkout_rounds(repo, tether, layout, 8)
    monkeypatch.setattr(checkout, "BACKGROUND_MIN", 0)  # every file
    _fresh_checkout_rounds(repo, tether, layout, 8)


def test_a_folder_of_only_large_files_checks_out(repo, tether):
    """The case seen in the field, at the real threshold: a folder holding one
    large file, restored into a workspace where it is missing."""
    from tether.workspace.checkout import BACKGROUND_MIN

    layout = {
        "big/one.bin": os.urandom(BACKGROUND_MIN),
        "big2/sub/two.bin": os.urandom(BACKGROUND_MIN),
        "small/a.txt": b"a",
    }
    for rel, data in layout.items():
        write(repo / rel, data)
    assert tether("add", "big", "big2", "small").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    _fresh_checkout_rounds(repo, tether, layout, 3)


@pytest.mark.parametrize("what", ["in a folder", "single file"])
def test_long_names_check_out_and_add(repo, tether, what):
    """Names near the 255-byte limit: temporaries never make them too long."""
    if what == "in a folder":
        layout, target = {"d/" + "n" * 250: b"long", "d/z.txt": b"after it"}, "d"
    else:
        layout, target = {"f" * 240: b"single"}, "f" * 240
    for rel, data in layout.items():
        write(repo / rel, data)
    assert tether("add", target).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "long names")
    for rel in layout:
        (repo / rel).unlink()
    r = tether("checkout")
    assert r.code == 0, r.err
    for rel, data in layout.items():
        assert (repo / rel).read_bytes() == data
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("target", ["f" * 250, "d/" + "g" * 249])
def test_a_name_too_long_for_its_pointer_file_is_one_clear_line(repo, tether, target):
    """NAME.tether must fit the filesystem's name limit: refused before anything is written."""
    write(repo / target / "x" if target.startswith("d/") else repo / target, b"data")
    before = git(repo, "status", "--porcelain", "--untracked-files=all")
    r = tether("add", target)
    assert r.code == 1, r.err
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    assert "over this filesystem's limit of 255" in r.err
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == before
    assert not list((repo / ".tether/cache").rglob("objects/*/*"))


def _leftovers(root: Path) -> list[str]:
    from tether.tempfiles import is_temporary

    return sorted(p.name for p in root.rglob("*") if is_temporary(p.name))


def test_leftover_temporaries_are_hidden_from_git_and_cleaned(repo, tether):
    """What a killed checkout or add leaves (this version's names and older
    ones) is invisible to git and deleted by the next command in its folder;
    a user's own file that merely ends in .tether-tmp is data."""
    write(repo / "big.bin", b"big")
    write(repo / "d/a.txt", b"a")
    assert tether("add", "big.bin", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    names = [
        ".0123456789ab.tether-tmp",
        ".big.bin.4242.7.tether-tmp",
        ".big.bin.tether.k2j_x9aa.tmp",
    ]
    for name in names:
        write(repo / name, b"partial")
        write(repo / "d/sub" / name, b"partial")
    assert ".0123456789ab.tether-tmp" not in git(repo, "status", "--porcelain", "-uall")
    assert tether("checkout").code == 0
    assert _leftovers(repo) == []
    assert not (repo / "d/sub").exists()  # nothing but leftovers was in it
    assert git(repo, "status", "--porcelain") == ""
    for name in names:
        write(repo / name, b"partial")
    assert tether("add", "d").code == 0  # add cleans the folder it writes into
    assert _leftovers(repo) == []
    write(repo / "d/notes.tether-tmp", b"mine")
    r = tether("status", "--exit-code")
    assert r.code == 1 and "d/notes.tether-tmp" in r.out
    assert tether("checkout").code == 1  # refuses: the user's file is in no cache
    assert (repo / "d/notes.tether-tmp").read_bytes() == b"mine"


@pytest.mark.slow
def test_a_killed_checkout_leaves_nothing_the_next_one_keeps(repo, tether):
    """kill -9 while a large file is being written: its partial temporary is
    out of git's view, and the next checkout deletes it and restores the file."""
    import signal
    import subprocess
    import sys
    import time

    data = os.urandom(1 << 20) * 96
    big = write(repo / "big.bin", data)
    assert tether("add", "big.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "big")
    seen: list[str] = []
    for _ in range(20):
        big.unlink(missing_ok=True)
        child = subprocess.Popen(
            [sys.executable, "-m", "tether", "checkout"],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while child.poll() is None and time.monotonic() < deadline:
            if any(n.endswith(".tether-tmp") for n in os.listdir(repo)):
                child.send_signal(signal.SIGKILL)
                break
        child.wait()
        seen = _leftovers(repo)  # none if the write finished just before the kill
        if seen:
            break
    if not seen:  # a busy machine may never schedule this loop inside the write
        pytest.skip("every checkout finished before it could be killed mid-write")
    assert git(repo, "status", "--porcelain") == ""
    r = tether("checkout")
    assert r.code == 0, r.err
    assert _leftovers(repo) == []
    assert big.read_bytes() == data


def test_a_user_folder_in_place_of_a_tracked_file_is_not_deleted(repo, tether):
    """Even when all it holds is a file whose name ends like a temporary's."""
    write(repo / "a.bin", b"tracked")
    assert tether("add", "a.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a")
    (repo / "a.bin").unlink()
    write(repo / "a.bin/notes.tether-tmp", b"mine")
    r = tether("checkout")
    assert r.code == 1 and "not in the cache" in r.err
    assert (repo / "a.bin/notes.tether-tmp").read_bytes() == b"mine"
    assert tether("checkout", "--force").code == 0
    assert (repo / "a.bin").read_bytes() == b"tracked"


def _one_line_error(r, code: int = 1) -> None:
    assert r.code == code, (r.out, r.err)
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    assert "Traceback" not in r.err


def test_fsck_quarantines_a_folder_in_place_of_an_object(repo, tether):
    from tether.storage.hashing import hash_bytes

    write(repo / "d/good.txt", b"good")
    write(repo / "d/bad.txt", b"bad")
    write(repo / "d/gone.txt", b"gone")
    assert tether("add", "d").code == 0
    objects: Path = repo / ".tether/cache/objects"

    def obj(data: bytes) -> Path:
        digest = hash_bytes(data)
        return objects / digest[:2] / digest[2:]

    folder = obj(b"gone")  # a folder, with a file in it, where the object was
    folder.unlink()
    write(folder / "x", b"x")
    obj(b"bad").chmod(0o644)
    obj(b"bad").write_bytes(b"BAD")
    r = tether("fsck")
    assert r.code == 1, r.err
    assert "Traceback" not in r.err
    assert r.out.count("corrupt: ") == 2
    assert obj(b"good").read_bytes() == b"good"
    assert not folder.exists() and not obj(b"bad").exists()
    quarantined = sorted(p.name for p in (repo / ".tether/cache/quarantine").iterdir())
    assert quarantined == sorted([hash_bytes(b"gone"), hash_bytes(b"bad")])
    assert (repo / ".tether/cache/quarantine" / hash_bytes(b"gone") / "x").read_bytes() == b"x"


def _run_unprivileged(cwd: Path, *args: str):
    """The CLI in a child process that file permissions bind (root drops the
    capabilities that let it read and write anything)."""
    import subprocess
    import sys

    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: permissions cannot bind")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    r = subprocess.run(
        [*prefix, sys.executable, "-m", "tether", *args], cwd=cwd, capture_output=True, text=True
    )
    return Result(r.returncode, r.stdout, r.stderr)


def test_add_of_a_folder_with_an_unreadable_subfolder_is_one_line(repo):
    write(repo / "d/a.txt", b"a")
    write(repo / "d/locked/b.txt", b"b")
    (repo / "d/locked").chmod(0)
    try:
        r = _run_unprivileged(repo, "add", "d")
    finally:
        (repo / "d/locked").chmod(0o755)
    _one_line_error(r)
    assert "d/locked: cannot read the folder: Permission denied" in r.err
    assert not (repo / "d.tether").exists()
    assert (repo / "d/locked/b.txt").read_bytes() == b"b"


@pytest.mark.parametrize("missing", ["d/a.txt", "d/sub/c.txt"])
def test_checkout_into_a_read_only_folder_is_one_line(repo, tether, missing):
    layout = {"d/a.txt": b"a", "d/b.txt": b"b", "d/sub/c.txt": b"c"}
    for rel, data in layout.items():
        write(repo / rel, data)
    assert tether("add", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "d")
    (repo / missing).unlink()
    if missing == "d/sub/c.txt":
        (repo / "d/sub").rmdir()
    (repo / "d").chmod(0o555)
    try:
        r = _run_unprivileged(repo, "checkout")
        after = sorted(os.listdir(repo / "d"))
    finally:
        (repo / "d").chmod(0o755)
    _one_line_error(r)
    assert "Permission denied" in r.err and "d" in r.err
    assert (repo / "d/b.txt").read_bytes() == b"b"
    assert not [n for n in after if n.endswith(".tether-tmp")]
    assert tether("checkout").code == 0
    for rel, data in layout.items():
        assert (repo / rel).read_bytes() == data


def test_a_bad_pointer_blocks_only_itself_and_can_be_removed(repo, tether):
    write(repo / "a.txt", b"a")
    write(repo / "b.txt", b"b")
    assert tether("add", "a.txt", "b.txt").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two")
    (repo / "b.txt.tether").write_text("schema: [not, a, pointer\n")
    (repo / "a.txt").unlink()
    r = tether("checkout")
    _one_line_error(r)
    assert "b.txt.tether" in r.err
    assert (repo / "a.txt").read_bytes() == b"a"  # the other pointer still works
    assert tether("status", "--exit-code", "a.txt").code == 0
    (repo / "a.txt").write_bytes(b"A")
    r = tether("status")  # reports the others too, then the error
    _one_line_error(r)
    assert "b.txt.tether: not valid YAML" in r.err
    assert "modified: a.txt" in r.out
    (repo / "a.txt").write_bytes(b"a")
    write(repo / "c.txt", b"c")
    assert tether("add", "c.txt").code == 0  # adding other paths works
    assert tether("add", "b.txt").code == 0  # re-adding mends it
    assert tether("status", "--exit-code").code == 0
    (repo / "b.txt.tether").write_text("schema: [not, a, pointer\n")
    r = tether("remove", "b.txt")
    assert r.code == 0, r.err
    assert not (repo / "b.txt.tether").exists()
    assert "/b.txt" not in (repo / ".gitignore").read_text().splitlines()
    assert (repo / "b.txt").read_bytes() == b"b"  # data kept
    assert tether("status", "--exit-code").code == 0


def test_all_objects_are_checked_for_before_the_first_change(repo, tether):
    """A is not switched when B's objects are missing: nothing changes."""
    from tether.storage.hashing import hash_bytes

    write(repo / "a.txt", b"a v1")
    write(repo / "d/b.txt", b"b v1")
    assert tether("add", "a.txt", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    write(repo / "a.txt", b"a v2")
    write(repo / "d/b.txt", b"b v2")
    assert tether("add", "a.txt", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")
    gone = hash_bytes(b"b v1")
    (repo / ".tether/cache/objects" / gone[:2] / gone[2:]).unlink()
    git(repo, "checkout", "-q", "HEAD~1", "--", "a.txt.tether", "d.tether")
    r = tether("checkout")
    _one_line_error(r)
    assert "d/b.txt not in the cache" in r.err
    assert (repo / "a.txt").read_bytes() == b"a v2"
    assert (repo / "d/b.txt").read_bytes() == b"b v2"


def test_a_name_with_a_line_break_is_refused_and_old_lines_are_removed(repo, tether):
    from tether import pointer
    from tether.artifact import Kind
    from tether.storage.hashing import hash_bytes

    name = "a\nb"
    write(repo / name, b"x")
    r = tether("add", name)
    _one_line_error(r)
    assert "line break" in r.err
    assert not (repo / ".gitignore").read_text().count("/a\n")
    assert not (repo / f"{name}.tether").exists()
    # what an older version wrote: the pattern split over two lines
    gitignore = (repo / ".gitignore").read_text()
    (repo / ".gitignore").write_text(gitignore + "/a\nb\n/other\n")
    pointer.write(
        repo, pointer.Pointer(name, Kind.FILE, hash_bytes(b"x"), 1, source=f"{name}.tether")
    )
    r = tether("remove", name)
    assert r.code == 0, r.err
    assert (repo / ".gitignore").read_text() == gitignore + "/other\n"
    assert not (repo / f"{name}.tether").exists()


@pytest.mark.parametrize("command", ["pull", "push"])
def test_a_bad_pointer_fails_push_and_pull_for_itself_only(repo, tether, tmp_path, command):
    write(repo / "a.txt", b"a")
    write(repo / "b.txt", b"b")
    assert tether("add", "a.txt", "b.txt").code == 0
    assert tether("remote", "add", "store", str(tmp_path / "store"), "--default").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two")
    if command == "pull":
        assert tether("push").code == 0
        shutil.rmtree(repo / ".tether/cache")
        (repo / "a.txt").unlink()
    (repo / "b.txt.tether").write_text("schema: [not, a, pointer\n")
    r = tether(command)
    if command == "pull":  # the other pointer's data arrives
        assert (repo / "a.txt").read_bytes() == b"a"
    else:
        assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    _one_line_error(r)
    assert "b.txt.tether" in r.err and "does not parse" in r.err
