"""gc deletes only what it can prove nothing needs, and only files it can prove
are its own: history it cannot read stops it; stash, reflog and recent commits
are kept; it deletes only in a cache with a layout marker, names it wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import git, snapshot, write
from tether import gc
from tether.errors import LockError
from tether.repo import Repo

DAY = 24 * 3600


def objects(root):
    return {p.parent.name + p.name for p in (root / ".tether/cache/objects").glob("*/*")}


def _commit(repo, tether, path, content, message):
    write(repo / path, content)
    assert tether("add", path).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def test_gc_stops_at_a_pointer_in_history_it_cannot_read(repo, tether):
    git(repo, "checkout", "-qb", "other")
    _commit(repo, tether, "d.txt", "only copy", "unpushed data")
    pointer = repo / "d.txt.tether"
    pointer.write_text(pointer.read_text() + "note: from a newer tether\n")
    git(repo, "commit", "-qam", "a key this tether does not know")
    git(repo, "checkout", "-q", "main")
    kept = objects(repo)
    r = tether("gc", "-f")
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot read d.txt.tether at commit")
    assert "nothing was deleted" in lines[0]
    assert objects(repo) == kept


def test_gc_stops_at_a_lock_in_history_it_cannot_read(repo, tether):
    _commit(repo, tether, "a.txt", "x", "x")
    git(repo, "checkout", "-qb", "other")
    write(repo / "tether.lock", "schema: 1\nstages: {s: {outs: [{path: x, bad: 1}]}}\n")
    git(repo, "add", "tether.lock")
    git(repo, "commit", "-qm", "damaged lock")
    git(repo, "checkout", "-q", "main")
    r = tether("gc", "-f")
    assert r.code == 1 and "cannot read tether.lock at commit" in r.err


def test_gc_keeps_what_git_stash_holds(repo, tether):
    _commit(repo, tether, "a.txt", "v1", "v1")
    write(repo / "a.txt", "work in progress")
    assert tether("add", "a.txt").code == 0
    git(repo, "stash", "-q")
    assert tether("checkout", "-f").code == 0
    git(repo, "reflog", "expire", "--expire=now", "refs/heads/main", "HEAD")
    assert tether("gc", "-f").code == 0
    git(repo, "stash", "pop", "-q")
    assert tether("checkout", "-f").code == 0
    assert (repo / "a.txt").read_text() == "work in progress"


def test_gc_keeps_a_deleted_branch_while_the_reflog_names_it(repo, tether):
    git(repo, "checkout", "-qb", "tmp")
    _commit(repo, tether, "a.txt", "on a branch about to go", "tmp")
    gone = objects(repo)
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-qD", "tmp")
    assert tether("gc", "-f").code == 0
    assert gone <= objects(repo)


def test_after_gc_the_previous_commit_checks_out(repo, tether):
    _commit(repo, tether, "a.txt", "old", "old")
    _commit(repo, tether, "a.txt", "new", "new")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    assert tether("gc", "-f").code == 0
    git(repo, "checkout", "-q", "HEAD~1")
    r = tether("checkout", "-f")
    assert r.code == 0, r.err
    assert (repo / "a.txt").read_text() == "old"


def test_gc_keeps_a_branch_whose_path_is_a_symlink_here(repo, tether, tmp_path):
    git(repo, "checkout", "-qb", "other")
    _commit(repo, tether, "d/x.txt", "on the other branch", "other")
    theirs = objects(repo)
    git(repo, "checkout", "-q", "main")
    assert tether("checkout").code == 0
    (tmp_path / "disk").mkdir()
    shutil.rmtree(repo / "d")  # what git left of the other branch: the ignored data
    os.symlink(tmp_path / "disk", repo / "d")  # on this branch, d is a link to another disk
    assert tether("gc", "-f").code == 0
    assert theirs <= objects(repo)


def test_gc_leaves_what_it_did_not_write_in_cache_tmp(repo, tether):
    _commit(repo, tether, "a.txt", "x", "x")
    tmp = repo / ".tether/cache/tmp"
    write(tmp / "folder/inside.txt", "not a temporary of tether")
    write(tmp / "results.csv", "someone's file")
    write(tmp / "123-7f3a-4", "a killed writer's temporary")
    then = time.time() - 2 * DAY
    for p in (tmp / "folder", tmp / "results.csv", tmp / "123-7f3a-4"):
        os.utime(p, (then, then))
    r = tether("gc", "-f")
    assert r.code == 0, r.err
    assert "1 temporary file(s)" in r.err + r.out
    assert sorted(p.name for p in tmp.iterdir()) == ["folder", "results.csv"]


def test_gc_deletes_only_in_a_cache_with_the_layout_marker(repo, tether, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "tmp/results.csv", "precious")
    write(elsewhere / "objects/ab" / ("c" * 62), "looks like an object")
    for p in elsewhere.rglob("*"):
        os.utime(p, (time.time() - 2 * DAY,) * 2)
    before = snapshot(elsewhere)
    assert tether("config", "--local", "cache.dir", str(elsewhere)).code == 0
    r = tether("gc", "-f")
    assert r.code == 1
    assert "no tether layout marker" in r.err and len(r.err.strip().splitlines()) == 1
    assert snapshot(elsewhere) == before
    _commit(repo, tether, "a.txt", "x", "x")  # a write marks the folder as a tether cache
    assert tether("gc", "-f").code == 0
    assert (elsewhere / "tmp/results.csv").read_text() == "precious"  # not a name gc writes
    assert not (elsewhere / "objects/ab" / ("c" * 62)).exists()


def test_gc_operation_takes_the_repository_lock_itself(repo, tether):
    """Called from Python, not only from the CLI: gc plans and deletes under the lock,
    so a writer that holds it (an `add` storing objects) never loses one."""
    write(repo / "a.txt", "v1")
    assert tether("add", "a.txt").code == 0
    write(repo / "a.txt", "v2")
    assert tether("add", "a.txt").code == 0  # v1 is unreferenced now
    before = snapshot(repo / ".tether/cache/objects")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from tether.repolock import locked\n"
            "with locked(Path('.tether/tmp/lock'), 'tether add big'):\n"
            "    print('held', flush=True); time.sleep(30)",
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match="tether add big"):
            gc.collect(Repo.find(), workspace_only=True, force=True)
        assert snapshot(repo / ".tether/cache/objects") == before
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    done = gc.collect(Repo.find(), workspace_only=True, force=True)
    assert done.removed and len(done.plan.drop) == 1
