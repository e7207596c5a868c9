"""``tether gc --remote``: a remote shared by several repositories shrinks, and
nothing any of them needs, or a push running meanwhile relies on, is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import git, run_cli, snapshot, write


@pytest.fixture(autouse=True)
def _cwd_restored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``-C`` changes this process's folder: back to where it was after each test."""
    monkeypatch.chdir(tmp_path)


def _project(root: Path, tether: Any, url: str) -> Path:
    """A fresh repository with tether and the remote ``store`` (the default)."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert tether("-C", str(root), "init").code == 0
    assert tether("-C", str(root), "remote", "add", "store", url, "--default").code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def _version(root: Path, tether: Any, message: str, files: dict[str, str]) -> None:
    for rel, text in files.items():
        write(root / rel, text)
    tops = sorted({rel.split("/", 1)[0] for rel in files})
    assert tether("-C", str(root), "add", *tops).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    r = tether("-C", str(root), "push")
    assert r.code == 0, r.err


def _gc(tether: Any, root: Path, *args: str) -> dict[str, Any]:
    r = tether("-C", str(root), "gc", "--remote", "store", "--json", *args)
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)["tether.gc-remote/v1"]
    return doc


def _fresh_pull(tether: Any, root: Path) -> None:
    """Forget the cache and the data, pull again: the remote must hold it all."""
    shutil.rmtree(root / ".tether" / "cache")
    r = tether("-C", str(root), "pull", "-f")
    assert r.code == 0, r.err


def _loose(store: Path) -> set[str]:
    return {p.relative_to(store).as_posix() for p in (store / "objects").rglob("*") if p.is_file()}


def _junk_branch(root: Path, tether: Any, files: dict[str, str]) -> None:
    """Push data from a branch, then delete the branch: nothing refers to it any more."""
    git(root, "checkout", "-qb", "junk")
    _version(root, tether, "junk", files)
    git(root, "checkout", "-q", "main")
    assert tether("-C", str(root), "checkout", "-f").code == 0
    git(root, "branch", "-qD", "junk")
    r = tether("-C", str(root), "push")  # rewrites this clone's manifests: junk is gone
    assert r.code == 0, r.err


def test_two_repositories_share_a_remote_and_neither_loses_data(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    b = _project(tmp_path / "b", tether, str(store))
    _version(a, tether, "v1", {"data/x.txt": "a one\n", "data/y.txt": "a two\n"})
    _version(a, tether, "v2", {"data/x.txt": "a one, changed\n"})
    _version(b, tether, "b1", {"model.bin": "b's model\n"})
    _junk_branch(a, tether, {"scratch/z.txt": "nobody needs this\n"})
    before = _loose(store)

    doc = _gc(tether, b, "--grace", "0", "-f")  # b knows a only through the remote

    assert doc["clones"] == 2 and doc["removed"]
    assert doc["objects"]["count"] == 2  # scratch's tree and its one file
    assert len(_loose(store)) == len(before) - 2
    _fresh_pull(tether, b)
    assert (b / "model.bin").read_text() == "b's model\n"
    _fresh_pull(tether, a)
    assert (a / "data/x.txt").read_text() == "a one, changed\n"
    git(a, "checkout", "-q", "HEAD~1")  # history is kept: the remote is the archive
    _fresh_pull(tether, a)
    assert (a / "data/x.txt").read_text() == "a one\n"


def test_young_objects_stay_whatever_references_them(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _version(a, tether, "v1", {"data/x.txt": "one\n"})
    _junk_branch(a, tether, {"scratch/z.txt": "nobody needs this\n"})
    doc = _gc(tether, a, "-f")  # default grace: days
    assert doc["objects"]["count"] == 0 and not doc["removed"]


def test_dry_run_lists_what_gc_then_deletes(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _version(a, tether, "v1", {"data/x.txt": "one\n"})
    _junk_branch(a, tether, {"scratch/z.txt": "junk\n", "scratch/w.txt": "more junk\n"})
    before = snapshot(store)

    planned = _gc(tether, a, "--grace", "0", "--dry-run")
    assert snapshot(store) == before  # a dry run deletes nothing
    done = _gc(tether, a, "--grace", "0", "-f")

    keys = ("objects", "dead_packs", "repacked_packs", "temporaries", "bytes")
    assert planned["objects"]["count"] == 3
    assert {k: planned[k] for k in keys} == {k: done[k] for k in keys}
    gone = {k: v for k, v in before.items() if k.startswith("objects/")}.keys() - snapshot(store)
    assert len(gone) == done["objects"]["count"]
    assert sum(len(before[k]) for k in gone) == done["objects"]["bytes"] == done["freed"]


def test_keep_last_narrows_history(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    for n in range(3):
        _version(a, tether, f"v{n}", {"model.bin": f"model {n}\n"})
    assert _gc(tether, a, "--grace", "0", "-f")["objects"]["count"] == 0  # all history kept
    doc = _gc(tether, a, "--grace", "0", "--keep-last", "1", "-f")
    assert doc["objects"]["count"] == 2  # model 0 and model 1
    _fresh_pull(tether, a)
    assert (a / "model.bin").read_text() == "model 2\n"


def test_since_narrows_history(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _version(a, tether, "v0", {"model.bin": "model 0\n"})
    assert _gc(tether, a, "--grace", "0", "--since", "2000-01-01", "-f")["objects"]["count"] == 0
    doc = _gc(tether, a, "--grace", "0", "--since", "2999-01-01", "-f")
    assert doc["objects"]["count"] == 0  # the tip of each ref always stays


def test_a_mostly_dead_pack_is_repacked(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    assert tether("-C", str(a), "remote", "modify", "store", "pack", "true").code == 0
    git(a, "commit", "-qam", "pack")
    files = {f"data/f{i}.txt": f"file {i}\n" * 50 for i in range(10)}
    git(a, "checkout", "-qb", "old")
    _version(a, tether, "old", files)  # one pack of 10 files
    git(a, "checkout", "-q", "main")
    shutil.rmtree(a / "data")
    _version(a, tether, "new", {"data/f0.txt": files["data/f0.txt"], "data/g.txt": "g\n"})
    git(a, "branch", "-qD", "old")
    assert tether("-C", str(a), "push").code == 0
    old_packs = {p.name for p in (store / "packs").iterdir()}

    doc = _gc(tether, a, "--grace", "0", "-f")

    assert doc["repacked_packs"]["count"] == 1
    now = {p.name for p in (store / "packs").iterdir()}
    assert len(old_packs - now) == 2  # the mostly dead pack and its index
    assert len(now - old_packs) == 2  # the new pack, holding f0 only, and its index
    _fresh_pull(tether, a)
    assert (a / "data/f0.txt").read_text() == files["data/f0.txt"]
    assert (a / "data/g.txt").read_text() == "g\n"


def test_stale_temporaries_are_deleted(tmp_path, tether, monkeypatch):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _version(a, tether, "v1", {"data/x.txt": "one\n"})
    left = [
        "objects/ab/.tmp-123-9f3a-1",  # the writer's, beside a final name
        "tmp/123-9f3a-2",  # the writer's, hashed while copied
        "packs/.0123456789ab.tether-tmp",  # an atomic small write's
        "tmp/0123abcd.4567",  # fsspec's temp name + move
    ]
    kept = ["objects/ab/notes.txt", "tmp/mine", "packs/README"]
    for rel in left + kept:
        write(store / rel, "x")
    assert _gc(tether, a, "--grace", "0", "-f")["temporaries"]["count"] == 0  # young
    import tether.gc_remote as core

    later = time.time() + 2 * 86400  # two days on: their writers are long dead

    clock = SimpleNamespace(time=lambda: later, strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(core, "time", clock)
    doc = _gc(tether, a, "--grace", "0", "-f")
    assert doc["temporaries"]["count"] == len(left)
    assert not any((store / rel).exists() for rel in left)
    assert all((store / rel).exists() for rel in kept)
    _fresh_pull(tether, a)


def test_gc_refuses_off_a_terminal_without_force(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _junk_branch(a, tether, {"scratch/z.txt": "junk\n"})
    before = snapshot(store)
    r = tether("-C", str(a), "gc", "--remote", "store", "--grace", "0")
    assert r.code == 1
    assert "error: gc of remote 'store' would remove 2 unreferenced object(s)" in r.err
    assert "-f/--force" in r.err
    assert {k: v for k, v in snapshot(store).items() if not k.startswith("gc/")} == {
        k: v for k, v in before.items() if not k.startswith("gc/")
    }
    assert not [k for k in snapshot(store) if k.endswith(".running")]  # its marker is gone


def test_options_that_need_remote_are_usage_errors(repo, tether):
    for args, message in [
        (("--keep-last", "2"), "error: --json, --grace, --keep-last and --since are for a remote"),
        (("--remote", "x", "-A"), "error: -w and -A are for the cache, not with --remote"),
        (("--remote", "x", "--grace", "soon"), "error: --grace 'soon' is no duration"),
        (("--remote", "x", "--since", "May"), "error: --since 'May' is no date"),
    ]:
        r = tether("gc", *args)
        assert (r.code, r.err.splitlines()[0].split(" — ")[0]) == (2, message)


def test_gc_racing_a_push_loses_nothing(tmp_path, tether):
    """A real push is stopped half way (it has checked what the remote holds and
    is uploading the rest), another repository's gc runs with no grace period,
    the push goes on: everything it pushed is there."""
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    b = _project(tmp_path / "b", tether, str(store))
    assert tether("-C", str(a), "remote", "modify", "store", "hardlink", "false").code == 0
    git(a, "commit", "-qam", "copies")
    big = {f"data/big{i}.bin": os.urandom(4 << 20).hex() for i in range(6)}
    # objects the push will find on the remote, unreferenced (their branch is gone):
    # without the handshake gc deletes them and the push's tree names what is not there
    _junk_branch(a, tether, {"data/big0.bin": big["data/big0.bin"]})
    for rel, text in big.items():
        write(a / rel, text)
    assert tether("-C", str(a), "add", "data").code == 0
    git(a, "add", "-A")
    git(a, "commit", "-qm", "big")
    push = subprocess.Popen(
        [sys.executable, "-m", "tether", "push"],
        cwd=a,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((store / "objects").glob("*/.tmp-*")):  # uploading now
            assert push.poll() is None, push.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.001)
        push.send_signal(signal.SIGSTOP)
        doc = _gc(tether, b, "--grace", "0", "-f")
        assert doc["clones"] == 2
    finally:
        push.send_signal(signal.SIGCONT)
        _, err = push.communicate(timeout=60)
    assert push.returncode == 0, err
    _fresh_pull(tether, a)
    assert snapshot(a / "data") == {k[5:]: v.encode() for k, v in big.items()}


def test_a_push_waits_for_a_running_gc(tmp_path, tether, monkeypatch):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    write(store / "gc" / f"{int(time.time())}-0123456789abcdef.running", "{}")
    write(a / "x.txt", "x\n")
    assert tether("-C", str(a), "add", "x.txt").code == 0
    monkeypatch.setenv("TETHER_GC_WAIT", "0")
    r = tether("-C", str(a), "push")
    assert r.code == 1
    assert "a gc has been running since" in r.err
    assert not (store / "objects").exists()  # nothing uploaded while gc may delete


def test_a_push_held_by_a_gc_says_so_in_a_log(tmp_path, tether):
    """Off a terminal a push that waits for a gc prints one line after a while
    (a CI job is not silent for minutes); -q keeps it silent."""
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    write(store / "gc" / f"{int(time.time())}-0123456789abcdef.running", "{}")
    write(a / "x.txt", "x\n")
    assert tether("-C", str(a), "add", "x.txt").code == 0
    env = {"TETHER_GC_WAIT": "1.5", "TETHER_WAIT_NOTICE": "0.2"}
    r = run_cli(a, "push", env=env)
    assert r.returncode == 1
    [said] = [line for line in r.stderr.splitlines() if "waiting for" in line]
    assert said == f"push store: waiting for {store} (for over 0.2 s)"
    r = run_cli(a, "-q", "push", env=env)
    assert r.returncode == 1 and "waiting for" not in r.stderr


def _s3_projects(tmp_path: Path, tether: Any, s3_remote: Any) -> list[Path]:
    url, endpoint, key, secret = s3_remote
    roots = []
    for name in ("a", "b"):
        root = _project(tmp_path / name, tether, url)
        c = ["-C", str(root), "remote", "modify"]
        assert tether(*c, "store", "endpoint_url", endpoint).code == 0
        assert tether(*c, "--local", "store", "access_key_id", key).code == 0
        assert tether(*c, "--local", "store", "secret_access_key", secret).code == 0
        git(root, "commit", "-qam", "endpoint")
        roots.append(root)
    return roots


@pytest.mark.s3
def test_s3_remote_shared_by_two_repositories(tmp_path, tether, s3_remote):
    roots = _s3_projects(tmp_path, tether, s3_remote)
    a, b = roots
    _version(a, tether, "v1", {"data/x.txt": "a one\n", "data/y.txt": "a two\n"})
    _version(b, tether, "b1", {"model.bin": "b's model\n"})
    _junk_branch(a, tether, {"scratch/z.txt": "nobody needs this\n"})

    planned = _gc(tether, b, "--grace", "0", "-n")
    doc = _gc(tether, b, "--grace", "0", "-f")

    assert doc["clones"] == 2
    assert doc["bytes"] == planned["bytes"] > 0
    assert doc["dead_packs"]["count"] == 1 and doc["objects"]["count"] == 1  # file; tree
    _fresh_pull(tether, a)
    _fresh_pull(tether, b)
    assert (a / "data/y.txt").read_text() == "a two\n"
    assert (b / "model.bin").read_text() == "b's model\n"


def test_a_manifest_gc_cannot_read_stops_it(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _junk_branch(a, tether, {"scratch/z.txt": "junk\n"})
    write(store / "manifests" / ("f" * 32) / "x.json", '{"schema": 1, "commits": "all"}')
    before = _loose(store)
    r = tether("-C", str(a), "gc", "--remote", "store", "--grace", "0", "-f")
    assert r.code == 1
    assert "is malformed; gc cannot tell what it keeps, so nothing was deleted" in r.err
    assert _loose(store) == before


def test_run_cache_entries_on_the_remote_keep_their_outputs(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    c = ["-C", str(a)]
    write(a / "in.txt", "first\n")
    assert (
        tether(
            *c, "stage", "add", "copy", "-d", "in.txt", "-o", "out.txt", "cp in.txt out.txt"
        ).code
        == 0
    )
    for text in ("first\n", "second\n"):  # neither run is committed: only the run-cache has both
        write(a / "in.txt", text)
        assert tether(*c, "repro").code == 0
        r = tether(*c, "push", "--run-cache")
        assert r.code == 0, r.err
    doc = _gc(tether, a, "--grace", "0", "-f")
    assert doc["objects"]["count"] == 0
    write(a / "in.txt", "first\n")
    shutil.rmtree(a / ".tether" / "cache")
    shutil.rmtree(a / ".tether" / "runs", ignore_errors=True)
    assert tether(*c, "pull", "--run-cache").code == 0
    r = tether(*c, "repro")
    assert r.code == 0, r.err
    assert "restored copy from the run-cache" in r.out + r.err  # its output came from the remote
    assert (a / "out.txt").read_text() == "first\n"


def test_any_fsspec_remote(tmp_path, tether):
    """The generic fsspec path (listing with times, deleting) on fsspec's memory filesystem."""
    import fsspec

    fsspec.filesystem("memory").store.clear()
    a = _project(tmp_path / "a", tether, str(tmp_path / "unused"))
    c = ["-C", str(a)]
    assert tether(*c, "remote", "add", "--local", "mem", "memory://gc-test", "--default").code == 0
    _version(a, tether, "v1", {"data/x.txt": "one\n"})
    _junk_branch(a, tether, {"scratch/z.txt": "junk\n"})
    r = tether(*c, "gc", "--remote", "mem", "--grace", "0", "-f", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)["tether.gc-remote/v1"]
    assert doc["dead_packs"]["count"] == 1 and doc["objects"]["count"] == 1  # file; tree
    _fresh_pull(tether, a)
    assert (a / "data/x.txt").read_text() == "one\n"


@pytest.mark.s3
def test_s3_gc_racing_a_push_loses_nothing(tmp_path, tether, s3_remote):
    """As above on S3: the push is stopped once some of its objects arrived."""
    from tether.storage.remotes import RemoteSpec, S3Remote
    from tether.storage.remotes.listing import scan

    url, endpoint, key, secret = s3_remote
    opts = {"endpoint_url": endpoint, "access_key_id": key, "secret_access_key": secret}
    bucket = S3Remote(RemoteSpec("store", url, opts))
    a, b = _s3_projects(tmp_path, tether, s3_remote)
    big = {f"data/big{i}.bin": os.urandom(2 << 20).hex() for i in range(12)}
    _junk_branch(a, tether, {"data/big0.bin": big["data/big0.bin"]})
    for rel, text in big.items():
        write(a / rel, text)
    assert tether("-C", str(a), "add", "data").code == 0
    git(a, "add", "-A")
    git(a, "commit", "-qm", "big")
    there = len(scan(bucket, "objects"))
    push = subprocess.Popen(
        [sys.executable, "-m", "tether", "push", "-j", "1"],
        cwd=a,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(scan(bucket, "objects")) < there + 2:  # uploading now
            assert push.poll() is None, push.communicate()
            assert time.monotonic() < deadline
        push.send_signal(signal.SIGSTOP)
        assert len(scan(bucket, "objects")) < there + len(big)  # half way
        doc = _gc(tether, b, "--grace", "0", "-f")
        assert doc["clones"] == 2
    finally:
        push.send_signal(signal.SIGCONT)
        _, err = push.communicate(timeout=60)
    assert push.returncode == 0, err
    _fresh_pull(tether, a)
    assert snapshot(a / "data") == {k[5:]: v.encode() for k, v in big.items()}


def test_nothing_behind_a_link_in_a_remote_folder_is_deleted(tmp_path, tether):
    store = tmp_path / "store"
    a = _project(tmp_path / "a", tether, str(store))
    _junk_branch(a, tether, {"scratch/z.txt": "junk\n"})
    elsewhere = tmp_path / "elsewhere"
    (store / "objects").rename(elsewhere)
    (store / "objects").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    r = tether("-C", str(a), "gc", "--remote", "store", "--grace", "0", "-f")
    assert r.code == 1
    assert "store/objects is a symlink; tether writes only into the remote's own folders" in r.err
    assert snapshot(elsewhere) == before
    r = tether("-C", str(a), "gc", "--remote", "store", "--grace", "0", "-n", "--json")
    assert json.loads(r.out)["tether.gc-remote/v1"]["objects"]["count"] == 0  # lists none there


@pytest.mark.parametrize(
    ("marker", "said"),
    [
        (b"tether-cache 2\nhash: xxh3\n", "newer"),
        (None, "no layout marker"),
    ],
)
def test_gc_deletes_nothing_on_a_remote_whose_format_it_cannot_tell(tmp_path, tether, marker, said):
    """A remote written by a newer tether (other object names, other folders)
    or one whose format nothing records: gc cannot tell live from dead there."""
    store = tmp_path / "store"
    store.mkdir()
    root = _project(tmp_path / "a", tether, str(store))
    _junk_branch(root, tether, {"junk/x.txt": "old\n"})
    if marker is None:
        (store / ".tether-cache").unlink()
    else:
        (store / ".tether-cache").chmod(0o644)
        (store / ".tether-cache").write_bytes(marker)
    before = snapshot(store)
    for args in (["--dry-run"], ["--force", "--grace", "0"]):
        r = tether("-C", str(root), "gc", "--remote", "store", *args)
        assert r.code != 0
        assert said in r.err, r.err
        assert "Traceback" not in r.err
    assert snapshot(store) == before


def test_a_branch_deleted_since_the_last_push_frees_its_data_at_once(tmp_path, tether):
    """gc reads this clone's refs as they are now, not as its last push recorded them."""
    store = tmp_path / "store"
    store.mkdir()
    root = _project(tmp_path / "a", tether, str(store))
    _version(root, tether, "kept", {"kept/k.txt": "kept\n"})
    git(root, "checkout", "-qb", "junk")
    _version(root, tether, "junk", {"junk/x.txt": "only on junk\n"})
    git(root, "checkout", "-q", "main")
    assert tether("-C", str(root), "checkout", "-f").code == 0
    git(root, "branch", "-qD", "junk")  # no push after this

    doc = _gc(tether, root, "--force", "--grace", "0")

    assert doc["removed"] is True
    assert doc["objects"]["count"] == 2  # junk/x.txt and the tree of junk/
    _fresh_pull(tether, root)
    assert (root / "kept" / "k.txt").read_text() == "kept\n"
