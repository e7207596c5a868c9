"""add → commit → change → checkout, as a user types it."""

from __future__ import annotations

import json
import os
import stat

from tests.conftest import git, snapshot, write
from tether.storage.hashing import ALGORITHM


def make_v1(root):
    write(root / "data/raw/a.txt", "alpha\n")
    write(root / "data/raw/sub/b.bin", os.urandom(3000))
    write(root / "data/raw/run.sh", "#!/bin/sh\n").chmod(0o755)
    write(root / "models/base.safetensors", os.urandom(2 << 20))  # above the small-file cutoff


def test_add_writes_pointer_gitignore_and_stages(repo, tether):
    make_v1(repo)
    r = tether("add", "data/raw", "models/base.safetensors")
    assert r.code == 0, r.err
    assert "added: data/raw (3 files" in r.out
    pointer = (repo / "data/raw.tether").read_text()
    assert pointer.startswith(f"schema: 1\npath: raw\nkind: dir\nhash: {ALGORITHM}\n")
    assert "files: 3" in pointer
    assert "/raw" in (repo / "data/.gitignore").read_text().splitlines()
    staged = git(repo, "diff", "--cached", "--name-only").split()
    assert {"data/raw.tether", "data/.gitignore", "models/base.safetensors.tether"} <= set(staged)
    assert "data/raw/a.txt" not in staged
    # cache objects are read-only
    objects = list((repo / ".tether/cache/objects").rglob("*"))
    files = [p for p in objects if p.is_file()]
    assert len(files) == 5  # 4 files + 1 tree
    assert all(not (p.stat().st_mode & stat.S_IWUSR) for p in files)


def test_readd_is_deterministic(repo, tether):
    make_v1(repo)
    tether("add", "data/raw")
    first = (repo / "data/raw.tether").read_bytes()
    r = tether("add", "data/raw")
    assert "unchanged: data/raw" in r.out and "0 new object(s)" in r.out
    assert (repo / "data/raw.tether").read_bytes() == first


def test_status_per_file_json_and_exit_code(repo, tether):
    make_v1(repo)
    tether("add", "data/raw", "models/base.safetensors")
    r = tether("status", "--exit-code")
    assert r.code == 0 and "up to date: 2 tracked" in r.out
    write(repo / "data/raw/a.txt", "changed\n")
    (repo / "data/raw/sub/b.bin").unlink()
    write(repo / "data/raw/new.txt", "new\n")
    (repo / "models/base.safetensors").unlink()
    r = tether("status")
    assert r.code == 0
    assert "modified: data/raw\n" in r.out
    assert "    modified: data/raw/a.txt" in r.out
    assert "    added: data/raw/new.txt" in r.out
    assert "    deleted: data/raw/sub/b.bin" in r.out
    assert "deleted: models/base.safetensors" in r.out
    r = tether("status", "--json", "--exit-code")
    assert r.code == 1
    doc = json.loads(r.out)["tether.status/v1"]
    assert doc["clean"] is False
    states = {p["path"]: p["state"] for p in doc["paths"]}
    assert states == {"data/raw": "modified", "models/base.safetensors": "deleted"}


def test_checkout_previous_commit_byte_for_byte(repo, tether):
    make_v1(repo)
    tether("add", "data/raw", "models/base.safetensors")
    git(repo, "commit", "-qm", "data v1")
    v1 = snapshot(repo / "data/raw")
    model_v1 = (repo / "models/base.safetensors").read_bytes()
    write(repo / "data/raw/a.txt", "v2\n")
    (repo / "data/raw/sub/b.bin").unlink()
    write(repo / "data/raw/extra/c.txt", "only in v2\n")
    write(repo / "models/base.safetensors", b"tiny v2")
    assert tether("add", "data/raw", "models/base.safetensors").code == 0
    git(repo, "commit", "-qm", "data v2")
    v2 = snapshot(repo / "data/raw")

    git(repo, "checkout", "-q", "HEAD~1")
    r = tether("checkout")
    assert r.code == 0, r.err
    assert snapshot(repo / "data/raw") == v1
    assert not (repo / "data/raw/extra").exists()  # empty folders pruned too
    assert (repo / "models/base.safetensors").read_bytes() == model_v1
    assert os.stat(repo / "data/raw/run.sh").st_mode & stat.S_IXUSR
    assert tether("status", "--exit-code").code == 0

    git(repo, "checkout", "-q", "main")
    assert tether("checkout").code == 0
    assert snapshot(repo / "data/raw") == v2
    r = tether("checkout")
    assert "up to date" in r.out


def test_works_from_subdirectory(repo, tether, monkeypatch):
    write(repo / "data/raw/a.txt", "a")
    monkeypatch.chdir(repo / "data")
    r = tether("add", "raw")
    assert r.code == 0, r.err
    assert (repo / "data/raw.tether").exists()
    assert tether("status", "raw").code == 0
    assert tether("-C", str(repo), "status", "data/raw").code == 0


def test_remove_keeps_data(repo, tether):
    write(repo / "data/raw/a.txt", "a")
    tether("add", "data/raw")
    git(repo, "commit", "-qm", "track")
    r = tether("remove", "data/raw")
    assert r.code == 0 and "data kept" in r.out
    assert (repo / "data/raw/a.txt").read_text() == "a"
    assert not (repo / "data/raw.tether").exists()
    assert not (repo / "data/.gitignore").exists()
    assert tether("status").out.startswith("nothing tracked")


def test_checkout_refuses_to_lose_unsaved_changes(repo, tether):
    write(repo / "data/raw/a.txt", "saved")
    tether("add", "data/raw")
    write(repo / "data/raw/a.txt", "unsaved work")
    write(repo / "data/raw/b.txt", "new unsaved file")
    r = tether("checkout")
    assert r.code == 1
    assert r.err.startswith("error: data/raw: data/raw/a.txt (and 1 more) has changes")
    assert "--force" in r.err
    assert (repo / "data/raw/a.txt").read_text() == "unsaved work"
    assert (repo / "data/raw/b.txt").exists()
    r = tether("checkout", "--force")
    assert r.code == 0
    assert (repo / "data/raw/a.txt").read_text() == "saved"
    assert not (repo / "data/raw/b.txt").exists()


def test_autostage_off(repo, tether):
    assert tether("config", "core.autostage", "false").code == 0
    write(repo / "w.bin", "x")
    assert tether("add", "w.bin").code == 0
    assert "w.bin.tether" not in git(repo, "diff", "--cached", "--name-only")


def test_unchanged_files_are_not_reread(repo, tether):
    """The state database answers for files whose (inode, size, mtime, ctime)
    did not change; a change to any of them makes tether read the file again."""
    from tether.storage.state import StateDB

    f = write(repo / "a.bin", b"AAAA")
    tether("add", "a.bin")

    def vouch_wrongly() -> None:  # a row for the current stat naming other content
        db = StateDB(repo / ".tether/tmp/state.db")
        db.put(os.stat(f), "0" * 64)
        db.flush()

    vouch_wrongly()
    assert tether("status", "--exit-code").code == 1  # not re-read: the state was trusted
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert tether("status", "--exit-code").code == 0  # a new mtime makes it read again
    vouch_wrongly()
    f.chmod(f.stat().st_mode & 0o777)  # moves only the change time
    assert tether("status", "--exit-code").code == 0


def test_config_get_set_unset_project_and_local(repo, tether):
    assert tether("config", "cache.link").out == "reflink,copy\n"  # the default
    assert tether("config", "cache.link", "hardlink,copy").code == 0
    assert "hardlink" in (repo / ".tether/config.yaml").read_text()
    assert tether("config", "--local", "cache.link", "copy").code == 0  # local wins
    assert tether("config", "cache.link").out == "copy\n"
    assert ".tether/config.local.yaml" not in git(
        repo, "ls-files", "--others", "--exclude-standard"
    )
    assert tether("config", "--local", "--unset", "cache.link").code == 0
    assert tether("config", "cache.link").out == "hardlink,copy\n"
    assert tether("config", "--list").out.splitlines() == ["cache.link=hardlink,copy"]
    r = tether("cache", "dir")
    assert r.out.strip() == str(repo / ".tether/cache")


def test_folder_fingerprint_shortcut_still_sees_every_change(repo, tether):
    write(repo / "d/a.txt", "a")
    write(repo / "d/b.txt", "b")
    tether("add", "d")
    assert tether("status", "--exit-code").code == 0  # fingerprint recorded by add
    os.utime(repo / "d/a.txt")  # touched, same bytes: re-hashed, still unchanged
    assert tether("status", "--exit-code").code == 0
    (repo / "d/b.txt").chmod(0o755)  # the executable bit is part of the tree
    r = tether("status")
    assert "    modified: d/b.txt" in r.out
    (repo / "d/b.txt").chmod(0o644)
    assert tether("status", "--exit-code").code == 0
    write(repo / "d/c.txt", "")
    assert "    added: d/c.txt" in tether("status").out
