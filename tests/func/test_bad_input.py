"""Every bad input: a one-line error, a non-zero exit, no traceback, no data lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import git, snapshot, write
from tether.storage.hashing import ALGORITHM, HEX


def one_line_error(r, code=1):
    assert r.code == code, (r.out, r.err)
    assert r.err.startswith("error: ")
    assert r.err.count("\n") == 1
    assert "Traceback" not in r.err


def test_not_a_git_repository(tmp_path, monkeypatch, tether):
    monkeypatch.chdir(tmp_path)
    r = tether("status")
    one_line_error(r)
    assert "not inside a git repository" in r.err


def test_git_repo_without_init(tmp_path, monkeypatch, tether):
    git(tmp_path, "init", "-q")
    monkeypatch.chdir(tmp_path)
    r = tether("add", "x")
    one_line_error(r)
    assert "tether init" in r.err


def test_path_outside_repo(repo, tether, tmp_path):
    write(tmp_path / "outside.bin", "x")
    r = tether("add", "../outside.bin")
    one_line_error(r)
    assert "outside the workspace" in r.err
    r = tether("add", str(tmp_path / "outside.bin"))
    one_line_error(r)


def test_missing_path(repo, tether):
    r = tether("add", "nope")
    one_line_error(r)
    assert "nope: no such file or folder" in r.err


def test_path_tracked_by_git(repo, tether):
    write(repo / "data/small.csv", "a,b\n")
    git(repo, "add", "data/small.csv")
    r = tether("add", "data")
    one_line_error(r)
    assert "tracked by git" in r.err and "git rm -r --cached data" in r.err
    assert not (repo / "data.tether").exists()


def test_nested_tracking_refused(repo, tether):
    write(repo / "data/raw/a.txt", "a")
    tether("add", "data/raw")
    r = tether("add", "data/raw/a.txt")
    one_line_error(r)
    assert "inside data/raw" in r.err
    r = tether("add", "data")
    one_line_error(r)
    assert "contains data/raw" in r.err


def test_symlink_escaping_workspace_refused(repo, tether, tmp_path):
    write(tmp_path / "secret.txt", "s")
    write(repo / "data/a.txt", "a")
    os.symlink(tmp_path / "secret.txt", repo / "data/link")
    r = tether("add", "data")
    one_line_error(r)
    assert "symlink points outside the workspace" in r.err
    assert not (repo / "data.tether").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: 1\npath: [unclosed\n", "not valid YAML (line 3"),
        ("- a\n- b\n", "expected a mapping"),
        (
            "schema: 2\npath: raw\nkind: dir\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: 1\nfiles: 1\n",
            "schema must be 1",
        ),
        (
            "schema: 1\npath: raw\nkind: dir\nhash: "
            + ALGORITHM
            + "\ndigest: XYZ\nsize: 1\nfiles: 1\n",
            f"is not {HEX} lower-case hex",
        ),
        (
            "schema: 1\npath: raw\nkind: dir\nhash: md5\ndigest: "
            + "a" * 64
            + "\nsize: 1\nfiles: 1\n",
            "unsupported hash",
        ),
        (
            "schema: 1\npath: raw\nkind: dir\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: -1\nfiles: 1\n",
            "size must be",
        ),
        (
            "schema: 1\npath: raw\nkind: blob\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: 1\n",
            "kind must be file or dir",
        ),
        (
            "schema: 1\npath: raw\nkind: dir\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: 1\nfiles: 1\nextra: 1\n",
            "unknown field(s) extra",
        ),
        (
            "schema: 1\npath: ../../etc\nkind: dir\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: 1\nfiles: 1\n",
            "escapes the workspace",
        ),
        (
            "schema: 1\npath: /etc/passwd\nkind: file\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: 1\n",
            "is absolute",
        ),
        (
            "schema: 1\npath: ../.git/config\nkind: file\nhash: "
            + ALGORITHM
            + "\ndigest: "
            + "a" * 64
            + "\nsize: 1\n",
            "inside .git/",
        ),
    ],
)
def test_malformed_or_hostile_pointer(repo, tether, text, message):
    write(repo / "data/raw/keep.txt", "precious")
    write(repo / "data/raw.tether", text)
    for cmd in ("status", "checkout"):
        r = tether(cmd)
        one_line_error(r)
        assert "data/raw.tether" in r.err and message in r.err, r.err
    assert (repo / "data/raw/keep.txt").read_text() == "precious"


def test_pointer_through_symlink_escape(repo, tether, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, repo / "link")
    write(
        repo / "x.tether",
        "schema: 1\npath: link/victim\nkind: file\nhash: "
        + ALGORITHM
        + "\ndigest: "
        + "a" * 64
        + "\nsize: 1\n",
    )
    r = tether("checkout")
    one_line_error(r)
    assert "outside the workspace" in r.err
    assert not (outside / "victim").exists()


def test_missing_cache_object(repo, tether):
    write(repo / "data/raw/a.txt", "a")
    tether("add", "data/raw")
    git(repo, "commit", "-qm", "v1")
    import shutil

    shutil.rmtree(repo / ".tether/cache")
    shutil.rmtree(repo / "data/raw")
    r = tether("checkout")
    one_line_error(r)
    assert "not in the cache" in r.err and "tether pull" in r.err


def test_corrupt_cache_object_never_checked_out(repo, tether):
    write(repo / "data/raw/a.txt", "good content")
    write(repo / "data/raw/b.txt", "other")
    tether("add", "data/raw")
    from tether.storage.hashing import hash_bytes

    obj = (
        repo
        / ".tether/cache/objects"
        / hash_bytes(b"good content")[:2]
        / hash_bytes(b"good content")[2:]
    )
    obj.chmod(0o644)
    obj.write_bytes(b"evil content")
    (repo / "data/raw/a.txt").unlink()
    (repo / "data/raw/b.txt").unlink()
    r = tether("checkout")
    one_line_error(r)
    assert "data/raw/a.txt: cache object is corrupt" in r.err
    assert not (repo / "data/raw/a.txt").exists()
    assert (repo / "data/raw/b.txt").read_text() == "other"  # the good one still restored
    r = tether("fsck")
    assert r.code == 1 and "corrupt:" in r.out
    assert (repo / ".tether/cache/quarantine").is_dir()


def test_two_adds_at_once_second_says_who_holds_the_lock(repo, tether):
    write(repo / "x.bin", "x")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from tether.repolock import locked\n"
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
        r = tether("add", "x.bin")
        one_line_error(r)
        assert f"locked by pid {holder.pid}" in r.err and "`tether add big`" in r.err
        assert not (repo / "x.bin.tether").exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert tether("add", "x.bin").code == 0  # the lock died with its holder


def test_unknown_command_and_option_are_usage_errors(repo, tether):
    assert tether("frobnicate").code == 2
    assert tether("status", "--bogus").code == 2


def test_bad_config(repo, tether):
    r = tether("config", "cache.link", "teleport")
    one_line_error(r)
    assert "unknown link type" in r.err
    r = tether("config", "no.such", "1")
    one_line_error(r)
    assert "unknown config key 'no.such'" in r.err
    r = tether("config", "remotes.s.secret_access_key", "abc")
    one_line_error(r)
    assert "--local" in r.err
    assert tether("config", "--local", "remotes.s.secret_access_key", "abc").code == 0
    assert "abc" not in (repo / ".tether/config.yaml").read_text()
    assert "abc" not in tether("config", "--list").out
    write(repo / ".tether/config.yaml", "core: [oops\n")
    r = tether("status")
    one_line_error(r)
    assert ".tether/config.yaml: not valid YAML" in r.err


def test_gc_without_terminal_needs_force(repo, tether):
    write(repo / "a.txt", "v1")
    tether("add", "a.txt")
    write(repo / "a.txt", "v2")
    tether("add", "a.txt")
    r = tether("gc")
    one_line_error(r)
    assert "pass -f" in r.err
    assert snapshot(repo / ".tether/cache/objects")  # nothing deleted


@pytest.mark.parametrize("target", [".tether/config.yaml", ".git", "."])
def test_reserved_paths_refused(repo, tether, target):
    r = tether("add", target)
    one_line_error(r)
    assert not [p for p in repo.glob("*.tether") if p.is_file()]


def test_adding_a_pointer_file_refused(repo, tether):
    write(repo / "a.txt", "a")
    tether("add", "a.txt")
    before = (repo / "a.txt.tether").read_bytes()
    r = tether("add", "a.txt.tether")
    one_line_error(r)
    assert "is a pointer file" in r.err
    assert (repo / "a.txt.tether").read_bytes() == before
    assert not (repo / "a.txt.tether.tether").exists()


def test_corrupt_large_object_is_refused_while_small_files_are_restored(repo, tether):
    """Large files are written on worker threads; their failures are still per file."""
    big = os.urandom(9 << 20)
    write(repo / "data/raw/big.bin", big)
    write(repo / "data/raw/other.bin", os.urandom(9 << 20))
    for i in range(50):
        write(repo / f"data/raw/small/{i}.txt", f"{i}\n")
    assert tether("add", "data/raw").code == 0
    from tether.storage.hashing import hash_bytes

    digest = hash_bytes(big)
    obj = repo / ".tether/cache/objects" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    with open(obj, "r+b") as f:  # same size, one byte flipped in the middle
        f.seek(len(big) // 2)
        f.write(bytes([big[len(big) // 2] ^ 1]))
    import shutil

    shutil.rmtree(repo / "data/raw")
    r = tether("checkout")
    one_line_error(r)
    assert "data/raw/big.bin: cache object is corrupt" in r.err
    assert not (repo / "data/raw/big.bin").exists()
    assert len(list((repo / "data/raw/small").iterdir())) == 50
    assert (repo / "data/raw/other.bin").stat().st_size == 9 << 20
    assert not list((repo / "data/raw").rglob("*tether-tmp"))
