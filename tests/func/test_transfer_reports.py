"""What push and pull report and produce: stable pack names, counts in one
unit, and which side is to blame when a transfer fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, run_cli, write


def _history(root: Path, tether, versions: int = 3, files: int = 12) -> None:
    """Small files that change in every commit: several objects per path."""
    for v in range(versions):
        for i in range(files):
            write(root / "data" / f"f{i:02}.txt", f"version {v} of file {i}\n")
        assert tether("add", "data").code == 0
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"v{v}")


def _packs(remote: Path) -> set[str]:
    return {p.name for p in (remote / "packs").iterdir()} if (remote / "packs").exists() else set()


def test_identical_pushes_write_identical_packs(repo, tether, tmp_path):
    _history(repo, tether)
    for name in ("one", "two"):
        assert tether("remote", "add", name, str(tmp_path / name)).code == 0
        assert tether("remote", "modify", name, "pack", "true").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remotes")
    # separate processes with different hash seeds: set order differs between them
    for name, seed in (("one", "1"), ("two", "2")):
        r = run_cli(repo, "push", "-A", "-r", name, env={"PYTHONHASHSEED": seed})
        assert r.returncode == 0, r.stderr
    one, two = _packs(tmp_path / "one"), _packs(tmp_path / "two")
    assert one and one == two
    # a push cut short after its packs (no index, no trees) is rerun in
    # another process: it writes the same packs again, not duplicates
    import shutil

    remote = tmp_path / "one"
    for idx in (remote / "packs").glob("*.idx"):
        idx.unlink()
    shutil.rmtree(remote / "objects")
    r = run_cli(repo, "push", "-A", "-r", "one", env={"PYTHONHASHSEED": "5"})
    assert r.returncode == 0, r.stderr
    assert _packs(remote) == one


def test_push_counts_objects_the_same_way_every_time(repo, tether, tmp_path):
    for i in range(20):
        write(repo / "data" / f"f{i}.txt", f"file {i}\n")
    write(repo / "data" / "same-as-f1.txt", "file 1\n")  # one object for two files
    write(repo / "w.bin", "weights")
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    assert tether("add", "data", "w.bin").code == 0
    r = tether("push")
    assert "push store: 22 uploaded, 0 already there" in r.out  # 20 files, the tree, w.bin
    r = tether("push")
    assert "push store: 0 uploaded, 22 already there" in r.out
    write(repo / "data" / "f0.txt", "changed\n")
    assert tether("add", "data").code == 0
    r = tether("push")
    assert "push store: 2 uploaded, 20 already there" in r.out  # the file and the new tree


def test_add_and_push_print_the_same_size(repo, tether, tmp_path):
    write(repo / "w.bin", b"x" * 1_500_000)
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    r = tether("add", "w.bin")
    assert "1.5 MB" in r.out, r.out
    r = tether("push")
    assert "1.5 MB in" in r.out, r.out
    write(repo / "small.txt", "x" * 2_000)
    assert "2.0 KB" in tether("add", "small.txt").out
    assert "2.0 KB in" in tether("push").out


def test_full_local_disk_during_pull_is_blamed_on_the_local_disk(repo, tether, tiny_disk, tmp_path):
    import os

    write(repo / "w.bin", os.urandom(600_000))  # more than the 256 KiB disk
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    assert tether("add", "w.bin").code == 0
    assert tether("push").code == 0
    assert tether("config", "--local", "cache.dir", str(tiny_disk / "cache")).code == 0
    (repo / "w.bin").unlink()
    r = tether("pull")
    assert r.code == 1
    assert r.err.startswith("error: no space left on the device"), r.err
    assert str(tiny_disk / "cache") in r.err
    what = r.err.split("—")[0].replace(str(tiny_disk), "")  # the folder's own name may say anything
    assert "remote" not in what, r.err


def test_full_remote_says_the_remote_is_full(repo, tether, tiny_disk):
    import os

    write(repo / "w.bin", os.urandom(600_000))
    assert tether("remote", "add", "store", str(tiny_disk / "remote"), "--default").code == 0
    assert tether("add", "w.bin").code == 0
    r = tether("push")
    assert r.code == 1
    assert "remote 'store'" in r.err and "full" in r.err, r.err
    assert "tether gc" not in r.err


def _s3(tether, s3_remote, credentials: bool = True) -> None:
    url, endpoint, key, secret = s3_remote
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    if credentials:
        assert tether("remote", "modify", "--local", "s3", "access_key_id", key).code == 0
        assert tether("remote", "modify", "--local", "s3", "secret_access_key", secret).code == 0


@pytest.mark.s3
def test_s3_without_any_credentials_says_none_were_found(repo, tether, s3_remote, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    _s3(tether, s3_remote, credentials=False)
    write(repo / "w.bin", "data")
    assert tether("add", "w.bin").code == 0
    r = tether("push")
    assert r.code == 1
    assert "no credentials found" in r.err, r.err
    assert "wrong credentials" not in r.err
    assert "access_key_id" in r.err  # how to give them
    assert len(r.err.strip().splitlines()) == 1


@pytest.mark.s3
def test_full_local_disk_during_an_s3_pull(repo, tether, s3_remote, tiny_disk):
    import os

    write(repo / "w.bin", os.urandom(5 << 20))  # streamed to a temporary, then verified
    _s3(tether, s3_remote)
    assert tether("add", "w.bin").code == 0
    assert tether("push").code == 0
    assert tether("config", "--local", "cache.dir", str(tiny_disk / "cache")).code == 0
    (repo / "w.bin").unlink()
    r = tether("pull")
    assert r.code == 1
    assert r.err.startswith("error: no space left on the device"), r.err
    assert str(tiny_disk / "cache") in r.err
