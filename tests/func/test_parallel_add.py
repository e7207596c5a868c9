"""`add` of many files in worker processes: the same result as one process,
exact counts, and failures that name the file and leave nothing behind."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import git, snapshot, write
from tether.storage.hashing import hash_bytes

COUNT = 1500  # above parallel.MIN_ITEMS, so -j 2 forks


def make_many(top, count=COUNT):
    """Small files in 30 folders; every 7th holds the same bytes, some are executable."""
    for i in range(count):
        data = b"same\n" if i % 7 == 0 else os.urandom(200 + i % 900)
        p = write(top / f"d{i % 30}/f{i}.bin", data)
        if i % 11 == 0:
            p.chmod(0o755)


def _pointer_digest(root, rel):
    m = re.search(r"digest: (\w+)", (root / f"{rel}.tether").read_text())
    assert m is not None
    return m.group(1)


def _leftovers(cache):
    return [p for p in cache.rglob("*") if "tmp-" in p.name or p.parent.name == "tmp"]


def test_workers_give_the_same_tree_as_one_process_and_exact_counts(
    repo, tether, tmp_path, monkeypatch
):
    make_many(repo / "data/raw")
    other = tmp_path / "other"
    shutil.copytree(repo / "data", other / "data")
    git(other, "init", "-q")
    monkeypatch.chdir(other)
    assert tether("init").code == 0
    one = tether("add", "-j", "1", "data/raw")
    assert one.code == 0, one.err
    monkeypatch.chdir(repo)

    r = tether("add", "-j", "3", "data/raw")
    assert r.code == 0, r.err
    distinct = len({p.read_bytes() for p in (repo / "data/raw").rglob("*.bin")})
    # one object per distinct content (the shared one counted once across workers) + the tree
    assert f"{COUNT} files" in r.out and f"{distinct + 1} new object(s)" in r.out
    assert _pointer_digest(repo, "data/raw") == _pointer_digest(other, "data/raw")

    assert tether("fsck").code == 0
    assert tether("status", "--exit-code").code == 0
    assert _leftovers(repo / ".tether/cache") == []
    before = snapshot(repo / "data/raw")
    git(repo, "commit", "-qm", "many")
    shutil.rmtree(repo / "data/raw")
    assert tether("checkout").code == 0
    assert snapshot(repo / "data/raw") == before
    assert os.access(repo / "data/raw/d0/f0.bin", os.X_OK)

    again = tether("add", "-j", "2", "data/raw")  # nothing changed: nothing re-read or written
    assert again.code == 0 and "unchanged" in again.out and "0 new object(s)" in again.out


def test_a_failing_worker_names_the_file_and_leaves_nothing(repo, tether):
    make_many(repo / "data/raw")
    victim = repo / "data/raw/d3/f3.bin"
    digest = hash_bytes(victim.read_bytes())
    objects = repo / ".tether/cache/objects"
    objects.mkdir(parents=True)
    (objects / digest[:2]).write_text("not a folder")  # a damaged cache: no object fits there
    before = snapshot(repo / "data/raw")

    r = tether("add", "-j", "2", "data/raw")
    assert r.code == 1
    assert r.err.startswith("error: data/raw/") and "cannot store it: Not a directory" in r.err, (
        r.err
    )
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert not (repo / "data/raw.tether").exists()
    left = _leftovers(repo / ".tether/cache")
    assert left == [], [(p, p.stat()) for p in left]
    assert snapshot(repo / "data/raw") == before

    (objects / digest[:2]).unlink()
    ok = tether("add", "-j", "2", "data/raw")
    assert ok.code == 0, ok.err
    assert tether("fsck").code == 0


def test_one_job_or_few_files_stay_in_one_process(repo, tether):
    make_many(repo / "data/raw", count=40)
    r = tether("add", "-j", "4", "data/raw")
    assert r.code == 0 and "40 files" in r.out


def test_jobs_must_be_positive(repo, tether):
    make_many(repo / "data/raw", count=3)
    r = tether("add", "-j", "0", "data/raw")
    assert r.code == 2 and "0" in r.err
    assert not (repo / "data/raw.tether").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_full_disk_in_a_worker_says_so(repo, tether, tiny_disk, jobs):
    assert tether("config", "--local", "cache.dir", str(tiny_disk / "cache")).code == 0
    make_many(repo / "data/raw")  # ~1 MB of objects on a 256 KiB disk
    before = snapshot(repo / "data/raw")
    r = tether("add", "-j", jobs, "data/raw")
    assert r.code == 1
    assert r.err.startswith("error: no space left on the device"), r.err
    assert not (repo / "data/raw.tether").exists()
    assert snapshot(repo / "data/raw") == before
    assert _leftovers(tiny_disk / "cache") == []


def test_status_walks_a_large_folder_in_processes_and_sees_every_change(repo, tether, monkeypatch):
    from tether.workspace import scan

    monkeypatch.setattr(scan, "FORK_FILES", 100)  # so 1,500 files are walked by -j 2
    monkeypatch.setattr("tether.storage.parallel.default_jobs", lambda: 2)
    make_many(repo / "data/raw")
    assert tether("add", "data/raw").code == 0
    assert tether("status", "--exit-code").code == 0
    victim = repo / "data/raw/d17/f17.bin"
    victim.write_bytes(bytes(b ^ 1 for b in victim.read_bytes()))  # same size
    r = tether("status", "--exit-code")
    assert r.code == 1 and "modified: data/raw/d17/f17.bin" in r.out
    (repo / "data/raw/d3/link").symlink_to(repo / "data/raw/d3/f3.bin")  # only the full scan judges
    r = tether("status", "--exit-code")
    assert r.code == 1 and "added: data/raw/d3/link" in r.out
    (repo / "data/raw/d3/link").unlink()
    assert tether("checkout", "--force", "data/raw").code == 0
    assert tether("status", "--exit-code").code == 0
