"""gc keeps what branches, tags and the workspace use; link types protect the cache."""

from __future__ import annotations

import os
import stat

import pytest

from tests.conftest import git, snapshot, write


def objects(root):
    return {p.parent.name + p.name for p in (root / ".tether/cache/objects").glob("*/*")}


def test_gc_keeps_branches_tags_and_workspace(repo, tether):
    write(repo / "d/a.txt", "v1")
    tether("add", "d")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    v1 = objects(repo)
    git(repo, "checkout", "-qb", "exp")
    write(repo / "d/a.txt", "exp")
    tether("add", "d")
    git(repo, "commit", "-qm", "exp")
    git(repo, "checkout", "-q", "main")
    tether("checkout")
    write(repo / "d/a.txt", "orphan")
    tether("add", "d")  # referenced by the workspace only
    write(repo / "d/a.txt", "garbage")
    tether("add", "d")
    garbage_ws = objects(repo)
    git(
        repo, "checkout", "-q", "HEAD", "--", "d.tether"
    )  # back to v1 pointer; last two adds unreferenced
    assert tether("checkout", "--force").code == 0
    r = tether("gc", "--dry-run")
    assert r.code == 0 and "would remove 4 unreferenced object(s)" in r.out
    assert objects(repo) == garbage_ws
    r = tether("gc", "-f")
    assert r.code == 0 and "removed 4 object(s)" in r.out
    left = objects(repo)
    assert v1 <= left
    git(repo, "checkout", "-q", "exp")
    assert tether("checkout").code == 0  # the branch's data survived
    assert (repo / "d/a.txt").read_text() == "exp"
    git(repo, "checkout", "-q", "main")
    tether("checkout")
    r = tether("gc", "-f", "--workspace")
    assert "keeping objects used by the workspace" in r.out
    assert objects(repo) == v1


@pytest.mark.parametrize("kind", ["hardlink", "symlink", "copy"])
def test_link_types(repo, tether, kind):
    assert tether("config", "cache.link", kind).code == 0
    write(repo / "d/a.txt", "alpha")
    write(repo / "d/s/b.txt", "beta")
    before = snapshot(repo / "d")
    assert tether("add", "d").code == 0
    git(repo, "commit", "-qm", "v1")
    a = repo / "d/a.txt"
    if kind == "hardlink":
        assert a.stat().st_nlink == 2
        assert not a.stat().st_mode & stat.S_IWUSR  # protected: the cache is read-only
    elif kind == "symlink":
        assert a.is_symlink() and ".tether/cache/objects" in os.readlink(a)
    else:
        assert a.stat().st_nlink == 1 and a.stat().st_mode & stat.S_IWUSR
    assert tether("status", "--exit-code").code == 0
    a.unlink()
    assert tether("checkout").code == 0
    assert snapshot(repo / "d") == before


def test_gc_all_commits_keeps_history(repo, tether):
    write(repo / "a.txt", "old")
    tether("add", "a.txt")
    git(repo, "commit", "-qm", "old")
    old = objects(repo)
    write(repo / "a.txt", "new")
    tether("add", "a.txt")
    git(repo, "commit", "-qm", "new")
    r = tether("gc", "-n", "--all-commits")
    assert "every commit" in r.out and "nothing to remove" in r.out
    r = tether("gc", "-f")  # by default: the last 10 commits of HEAD and the reflog
    assert "nothing to remove" in r.out and old <= objects(repo)
    for i in range(10):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"later {i}")
    assert "nothing to remove" in tether("gc", "-f").out  # the reflog still names "old"
    git(repo, "reflog", "expire", "--expire=now", "--all")
    assert "nothing to remove" in tether("gc", "-n", "-A").out
    r = tether("gc", "-f")
    assert "removed 1 object(s)" in r.out
    assert not (old & objects(repo))


def test_gc_removes_the_temporaries_of_a_killed_writer_once_they_are_old(repo, tether):
    """A writer killed outright (SIGKILL, power loss) cannot delete its
    temporaries: small ones beside their final names, large ones in tmp/.
    gc deletes them once they are a day old, never younger ones (they may be
    another process's, still writing)."""
    import signal
    import time

    from tether.storage.odb import ObjectDB

    cache = repo / ".tether/cache"
    big = write(repo / "big.bin", os.urandom(3 << 20))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the writer that gets killed
        try:
            w = ObjectDB(cache).writer().__enter__()
            w.put_bytes(b"one")
            w.put_bytes(b"two")
            w.put_file(str(big), big.stat().st_size)
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    temps = [
        p for p in cache.rglob("*") if p.is_file() and (".tmp-" in p.name or p.parent.name == "tmp")
    ]
    assert len(temps) == 3
    r = tether("gc", "-f")
    assert r.code == 0 and "nothing to remove" in r.out
    assert all(p.exists() for p in temps)
    two_days_ago = time.time() - 2 * 86400
    for p in temps:
        os.utime(p, (two_days_ago, two_days_ago))
    r = tether("gc", "--dry-run")
    assert "would remove 0 unreferenced object(s) and 3 temporary file(s)" in r.out
    assert all(p.exists() for p in temps)
    r = tether("gc", "-f")
    assert r.code == 0 and "removed 0 object(s) and 3 temporary file(s), 3." in r.err + r.out
    assert not any(p.exists() for p in temps)
    assert objects(repo) == set()  # nothing half-written was ever published
