"""Remotes as a user drives them: config commands, push/pull/fetch to a local
folder and to a real S3 server (SeaweedFS), and every fault of the issue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import git, run_cli, snapshot, write


def _data(root: Path, n: int = 30) -> None:
    for i in range(n):
        write(root / "data" / f"d{i % 3}" / f"f{i}.txt", f"file {i}\n" * (i + 1))
    write(root / "model.bin", os.urandom(5 << 20))  # above the 4 MiB one-request size


def _commit(root: Path, tether, msg: str, *paths: str) -> None:
    assert tether("add", *paths).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", msg)


def _use_s3(tether, s3_remote, name: str = "s3", default: bool = True) -> None:
    url, endpoint, key, secret = s3_remote
    args = ["remote", "add", name, url] + (["--default"] if default else [])
    assert tether(*args).code == 0
    assert tether("remote", "modify", name, "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "--local", name, "access_key_id", key).code == 0
    assert tether("remote", "modify", "--local", name, "secret_access_key", secret).code == 0


def _clone(src: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(src), str(dest)], check=True)
    return dest


# -- remote config ------------------------------------------------------------


def test_remote_config_commands_keep_secrets_out_of_git(repo, tether, tmp_path):
    assert tether("remote", "add", "store", str(tmp_path / "r"), "--default").code == 0
    assert tether("remote", "add", "s3", "s3://bucket/p").code == 0
    r = tether("remote", "add", "store", "/elsewhere")
    assert r.code == 1
    assert "already exists" in r.err
    r = tether("remote", "modify", "s3", "secret_access_key", "hunter2")
    assert r.code == 1
    assert "--local" in r.err
    assert tether("remote", "modify", "--local", "s3", "secret_access_key", "hunter2").code == 0
    assert tether("remote", "modify", "s3", "jobs", "4").code == 0
    assert tether("remote", "modify", "s3", "jobs", "many").code == 1
    r = tether("remote", "list")
    assert r.code == 0
    assert "hunter2" not in r.out
    assert "secret_access_key=***" in r.out
    assert "store" in r.out
    assert "(default)" in r.out
    committed = (repo / ".tether" / "config.yaml").read_text()
    assert "hunter2" not in committed
    assert "jobs: 4" in committed
    assert "hunter2" in (repo / ".tether" / "config.local.yaml").read_text()
    assert ".tether/config.yaml" in git(repo, "diff", "--cached", "--name-only")
    assert tether("remote", "default").out.strip() == "store"
    assert tether("remote", "default", "s3").code == 0
    assert tether("remote", "default").out.strip() == "s3"
    assert tether("remote", "remove", "s3").code == 0
    assert tether("remote", "default").code == 1  # no default any more
    assert "hunter2" not in (repo / ".tether" / "config.local.yaml").read_text()
    assert tether("remote", "remove", "nope").code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("remote", "add", "x", "https://user:pw@example.com/data"), "password"),
        (("remote", "add", "bad name", "/tmp/x"), "not a valid remote name"),
        (("remote", "modify", "ghost", "url", "/tmp/x"), "no remote named"),
        (("push",), "no default remote"),
        (("push", "-r", "ghost"), "no remote named 'ghost'"),
    ],
)
def test_remote_bad_input(repo, tether, args, message):
    r = tether(*args)
    assert r.code == 1
    assert message in r.err
    assert "Traceback" not in r.err


def test_relative_local_remote_is_refused(repo, tether):
    assert tether("remote", "add", "rel", "some/dir", "--default").code == 0
    r = tether("push")
    assert r.code == 1
    assert "relative path" in r.err


# -- local folder remote ------------------------------------------------------


def test_push_clone_pull_round_trip_local(repo, tether, tmp_path, monkeypatch):
    _data(repo)
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    _commit(repo, tether, "v1", "data", "model.bin")
    r = tether("push")
    assert r.code == 0, r.err
    # 30 files + model + 1 tree
    assert "32 uploaded, 0 already there" in r.out
    r = tether("push")
    assert "0 uploaded, 32 already there" in r.out  # the same objects, counted alike
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 0, r.err
    assert snapshot(clone / "data") == snapshot(repo / "data")
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    assert tether("status", "--exit-code").code == 0


def test_incremental_push_moves_only_changed_files_and_the_tree(repo, tether, tmp_path):
    _data(repo)
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    _commit(repo, tether, "v1", "data")
    assert tether("push").code == 0
    write(repo / "data" / "d0" / "f0.txt", "changed\n")
    write(repo / "data" / "d1" / "new.txt", "new\n")
    _commit(repo, tether, "v2", "data")
    r = tether("push")
    assert r.code == 0
    assert "3 uploaded" in r.out  # two files and the new tree
    assert tether("status", "--remote", "--exit-code").code == 0
    # the hint "this folder's previous tree is on the remote" is checked, not trusted
    import shutil

    shutil.rmtree(tmp_path / "remote")
    (tmp_path / "remote").mkdir()  # emptied: a missing folder is an error, never recreated
    write(repo / "data" / "d2" / "another.txt", "more\n")
    _commit(repo, tether, "v3", "data")
    r = tether("push")
    assert r.code == 0
    assert "33 uploaded" in r.out  # everything again: 32 files and the tree
    assert tether("status", "--remote", "--exit-code").code == 0


def test_push_all_commits_and_fetch_all_commits(repo, tether, tmp_path, monkeypatch):
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    write(repo / "w.bin", "version one")
    _commit(repo, tether, "v1", "w.bin")
    write(repo / "w.bin", "version two")
    _commit(repo, tether, "v2", "w.bin")
    assert "1 uploaded" in tether("push").out  # only the current commit's object
    assert "1 uploaded" in tether("push", "--all-commits").out  # v1's object too
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    assert "2 downloaded" in tether("fetch", "-A").out
    git(clone, "checkout", "-q", "HEAD~1")
    assert tether("checkout").code == 0
    assert (clone / "w.bin").read_text() == "version one"


def test_corrupt_object_on_remote_is_named_and_never_checked_out(
    repo, tether, tmp_path, monkeypatch
):
    _data(repo, 6)
    remote = tmp_path / "remote"
    assert tether("remote", "add", "store", str(remote), "--default").code == 0
    _commit(repo, tether, "v1", "data", "model.bin")
    assert tether("push").code == 0
    from tether.storage import hashing

    victim = hashing.hash_bytes((repo / "data" / "d0" / "f3.txt").read_bytes())
    path = remote / "objects" / victim[:2] / victim[2:]
    path.chmod(0o644)
    path.write_bytes(b"bit rot")
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 1
    assert "data/d0/f3.txt" in r.err
    assert "corrupt" in r.err
    assert not (clone / "data").exists()  # the damaged directory is not checked out
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    assert not (clone / ".tether" / "cache" / "objects" / victim[:2] / victim[2:]).exists()


def test_push_of_data_missing_from_the_cache_names_it(repo, tether, tmp_path):
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    write(repo / "w.bin", "data")
    _commit(repo, tether, "v1", "w.bin")
    import shutil

    shutil.rmtree(repo / ".tether" / "cache")
    r = tether("push")
    assert r.code == 1
    assert "w.bin" in r.err
    assert "not in the cache" in r.err


def test_status_remote_and_exit_code(repo, tether, tmp_path):
    _data(repo, 4)
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    _commit(repo, tether, "v1", "data")
    r = tether("status", "--remote", "--exit-code")
    assert r.code == 1
    assert "data: 5 of 5 object(s) missing on store" in r.out
    assert tether("push").code == 0
    r = tether("status", "--remote", "--json")
    assert '"missing_on_remote": 0' in r.out
    assert tether("status", "--remote", "--exit-code").code == 0


def test_install_hooks_checkout_after_git_checkout(repo, tether, tmp_path):
    r = tether("install-hooks")
    assert r.code == 0
    hook = repo / ".git" / "hooks" / "post-checkout"
    assert os.access(hook, os.X_OK)
    write(repo / "w.bin", "one")
    _commit(repo, tether, "v1", "w.bin")
    write(repo / "w.bin", "two")
    _commit(repo, tether, "v2", "w.bin")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(["git", "checkout", "-q", "HEAD~1"], cwd=repo, check=True, env=env)
    assert (repo / "w.bin").read_text() == "one"
    write(repo / ".git" / "hooks" / "pre-push", "#!/bin/sh\necho mine\n")
    r = tether("install-hooks")
    assert r.code == 1
    assert "not written by tether" in r.err
    assert tether("install-hooks", "--force").code == 0


def test_interrupted_push_resumes_with_only_what_is_missing(repo, tether, tmp_path):
    remote = tmp_path / "remote"
    for i in range(3000):
        write(repo / "many" / f"{i % 30}" / f"{i}.txt", f"{i}\n" * 50)
    assert tether("remote", "add", "store", str(remote), "--default", "--force").code == 0
    assert tether("remote", "modify", "store", "hardlink", "false").code == 0
    _commit(repo, tether, "v1", "many")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "push"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill once some objects are on the remote
        if (remote / "objects").is_dir() and len(list((remote / "objects").iterdir())) > 10:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    names = [p.name for p in (remote / "objects").rglob("*") if p.is_file()]
    assert all(n.startswith(".tmp-") or len(n) == 30 for n in names)
    r = run_cli(repo, "push")
    assert r.returncode == 0, r.stderr
    uploaded = int(r.stdout.split(":", 1)[1].split("uploaded")[0])
    assert 0 < uploaded <= 3001
    assert "already there" in r.stdout
    assert "0 uploaded, 3001 already there" in run_cli(repo, "push").stdout


def test_concurrent_pushes_of_overlapping_data_to_one_remote(repo, tether, tmp_path):
    remote = tmp_path / "remote"
    for i in range(400):
        write(repo / "a" / f"{i}.txt", f"{i}\n")
        write(repo / "b" / f"{i}.txt", f"{i}\n")  # same content: same objects
    assert tether("remote", "add", "store", str(remote), "--default").code == 0
    assert tether("remote", "modify", "store", "hardlink", "false").code == 0
    _commit(repo, tether, "v1", "a", "b")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tether", "push", target],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "TETHER_LOCK_WAIT": "60"},
        )
        for target in ("a", "b", "a")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert not list((remote / "objects").rglob(".tmp-*"))
    assert run_cli(repo, "status", "--remote", "--exit-code").returncode == 0


# -- S3 (SeaweedFS) -----------------------------------------------------------


@pytest.mark.s3
def test_s3_push_clone_pull_round_trip(repo, tether, tmp_path, monkeypatch, s3_remote):
    _data(repo)
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "v1", "data", "model.bin")
    r = tether("push")
    assert r.code == 0, r.err
    assert "32 uploaded" in r.out
    assert "0 uploaded, 32 already there" in tether("push").out
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    _, _endpoint, key, secret = s3_remote
    assert tether("remote", "modify", "--local", "s3", "access_key_id", key).code == 0
    assert tether("remote", "modify", "--local", "s3", "secret_access_key", secret).code == 0
    r = tether("pull", "-j", "4")
    assert r.code == 0, r.err
    assert "32 downloaded" in r.out
    assert snapshot(clone / "data") == snapshot(repo / "data")
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()


@pytest.mark.s3
def test_s3_credentials_from_the_environment(repo, tether, monkeypatch, s3_remote):
    url, endpoint, key, secret = s3_remote
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    write(repo / "w.bin", "data")
    _commit(repo, tether, "v1", "w.bin")
    r = tether("push")
    assert r.code == 0, r.err
    assert "1 uploaded" in r.out


@pytest.mark.s3
def test_s3_corrupt_object_is_refused(repo, tether, tmp_path, monkeypatch, s3_remote, s3_server):
    _data(repo, 3)
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "v1", "data", "model.bin")
    assert tether("push").code == 0
    from tether.storage import hashing

    big = hashing.hash_bytes((repo / "model.bin").read_bytes())
    bucket_path = s3_remote[0][len("s3://") :]
    s3_server.filesystem().pipe(f"{bucket_path}/objects/{big[:2]}/{big[2:]}", b"truncated")
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    _use_s3(tether, s3_remote, "s3b")
    r = tether("pull", "-r", "s3b")
    assert r.code == 1
    assert "model.bin" in r.err
    assert "corrupt" in r.err
    assert not (clone / "model.bin").exists()
    assert (clone / "data").is_dir()


def _keys(s3_server, s3_remote) -> list[str]:
    return sorted(s3_server.filesystem().find(s3_remote[0][len("s3://") :]))


@pytest.mark.s3
@pytest.mark.parametrize(
    ("damage", "message"),
    [("bytes", "corrupt"), ("truncated", "corrupt"), ("deleted", "missing on the remote")],
)
def test_s3_packs_and_a_damaged_pack(
    repo, tether, tmp_path, monkeypatch, s3_remote, s3_server, damage, message
):
    _data(repo, 30)
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "v1", "data", "model.bin")
    assert "32 uploaded" in tether("push").out
    keys = _keys(s3_server, s3_remote)
    assert len([k for k in keys if "/objects/" in k]) == 2  # the folder's tree, the 5 MiB model
    pack = [k for k in keys if k.endswith(".pack")]
    assert len(pack) == 1
    assert len([k for k in keys if k.endswith(".idx")]) == 1
    fs = s3_server.filesystem()
    data = fs.cat(pack[0])
    if damage == "deleted":  # its index still lists it
        fs.rm(pack[0])
    else:  # the last file's bytes changed, or cut short (as a half-written upload)
        fs.pipe(pack[0], data[:-40] + (b"X" * 40 if damage == "bytes" else b""))
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    _use_s3(tether, s3_remote, "s3b")
    r = tether("pull", "-r", "s3b")
    assert r.code == 1
    assert message in r.err
    assert "data/d" in r.err
    assert len(r.err.strip().splitlines()) <= 2  # one error line (and its hint)
    assert not (clone / "data").exists()  # never checked out from damaged bytes
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()


@pytest.mark.s3
@pytest.mark.parametrize("damage", ["index deleted", "index garbled"])
def test_s3_pack_without_valid_index_is_pushed_again(repo, tether, s3_remote, s3_server, damage):
    """A pack without its index and without the folder's tree is what a push
    killed between the pack and its index leaves; a garbled index is refused
    as a whole. Either way its objects count as missing and go up again."""
    import shutil

    _data(repo, 12)
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "v1", "data")
    assert "13 uploaded" in tether("push").out
    fs = s3_server.filesystem()
    keys = _keys(s3_server, s3_remote)
    (index,) = [k for k in keys if k.endswith(".idx")]
    (folder_tree,) = [k for k in keys if "/objects/" in k]
    fs.rm(folder_tree)  # uploaded last
    if damage == "index deleted":
        fs.rm(index)
    else:
        fs.pipe(index, b"tether-pack 1\nnot a line\n")
    shutil.rmtree(repo / ".tether" / "cache" / "packs")  # the index as this push wrote it
    r = tether("status", "--remote", "--exit-code")
    assert r.code == 1, r.out
    r = tether("push")
    assert r.code == 0, r.err
    assert "13 uploaded, 0 already there" in r.out
    assert tether("status", "--remote", "--exit-code").code == 0


@pytest.mark.s3
def test_s3_pull_of_one_packed_file_reads_only_its_bytes(
    repo, tether, tmp_path, monkeypatch, s3_remote
):
    write(repo / "a.txt", "a" * 3000)
    write(repo / "b.txt", "b" * 3000)
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "v1", "a.txt", "b.txt")
    assert "2 uploaded" in tether("push").out
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    _use_s3(tether, s3_remote, "s3b")
    r = tether("pull", "-r", "s3b", "a.txt")
    assert r.code == 0, r.err
    assert "1 downloaded" in r.out
    assert (clone / "a.txt").read_text() == "a" * 3000
    assert not (clone / "b.txt").exists()
    objects = [p for p in (clone / ".tether" / "cache" / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 1


def test_local_remote_with_packing_turned_on(repo, tether, tmp_path, monkeypatch):
    remote = tmp_path / "remote"
    assert tether("remote", "add", "store", str(remote), "--default").code == 0
    assert tether("remote", "modify", "store", "pack", "true").code == 0
    _data(repo, 9)
    _commit(repo, tether, "v1", "data", "model.bin")
    assert "11 uploaded" in tether("push").out
    assert len(list((remote / "packs").glob("*.pack"))) == 1
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 0, r.err
    assert snapshot(clone / "data") == snapshot(repo / "data")
    assert tether("gc", "-f").code == 0
    assert tether("fsck").code == 0


@pytest.mark.s3
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("secret_access_key", "wrong-secret"), "wrong credentials"),
        (("url", "s3://no-such-bucket-here/x"), "no such bucket"),
        (("endpoint_url", "http://127.0.0.1:9"), "endpoint unreachable"),
    ],
)
def test_s3_permanent_errors_are_one_clear_line(repo, tether, s3_remote, change, message):
    _use_s3(tether, s3_remote)
    option, value = change
    local = ["--local"] if "secret" in option else []
    assert tether("remote", "modify", *local, "s3", option, value).code == 0
    write(repo / "w.bin", "data")
    _commit(repo, tether, "v1", "w.bin")
    r = tether("push")
    assert r.code == 1
    assert message in r.err
    assert "remote 's3'" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert "wrong-secret" not in r.err


@pytest.mark.s3
def test_s3_concurrent_pushes_of_the_same_objects(repo, tether, s3_remote):
    for i in range(200):
        write(repo / "a" / f"{i}.txt", f"{i}\n")
        write(repo / "b" / f"{i}.txt", f"{i}\n")
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "v1", "a", "b")
    env = {**os.environ, "TETHER_LOCK_WAIT": "60"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tether", "push", t],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for t in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    r = tether("status", "--remote", "--exit-code")
    assert r.code == 0, r.out


@pytest.mark.s3
@pytest.mark.slow
def test_s3_server_stopped_mid_transfer_then_resumed(repo, tether, tmp_path_factory):
    from tests.s3server import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-stoppable"))
    server.start()
    try:
        for i in range(1500):
            write(repo / "many" / f"{i}.txt", f"{i}\n" * 20)
        _use_s3(tether, (f"s3://{BUCKET}/stop", server.endpoint, ACCESS_KEY, SECRET_KEY))
        assert tether("remote", "modify", "s3", "jobs", "2").code == 0
        # one request per object (packs would carry all 1,500 in one request)
        assert tether("remote", "modify", "s3", "pack", "false").code == 0
        _commit(repo, tether, "v1", "many")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tether", "push"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        fs = server.filesystem()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(fs.find(f"{BUCKET}/stop/objects")) > 20:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        server.stop()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out
        assert "endpoint unreachable" in err.decode()
        server.start()
        r = run_cli(repo, "push")
        assert r.returncode == 0, r.stderr
        assert "already there" in r.stdout
        assert run_cli(repo, "status", "--remote", "--exit-code").returncode == 0
    finally:
        server.stop()


@pytest.mark.s3
def test_s3_with_an_aws_profile_goes_through_s3fs(repo, tether, tmp_path, monkeypatch, s3_remote):
    url, endpoint, key, secret = s3_remote
    aws = Path(os.environ["HOME"]) / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "credentials").write_text(
        f"[team]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "s3", "profile", "team").code == 0
    from tether.remotes_service import open_for
    from tether.repo import Repo
    from tether.storage.remotes import FsspecRemote

    assert isinstance(open_for(Repo.find(), None), FsspecRemote)
    _data(repo, 5)
    _commit(repo, tether, "v1", "data", "model.bin")
    r = tether("push")
    assert r.code == 0, r.err
    assert "7 uploaded" in r.out
    clone = _clone(repo, tmp_path / "clone")
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 0, r.err
    assert snapshot(clone / "data") == snapshot(repo / "data")


def test_any_fsspec_url_round_trip_through_memory_filesystem(repo, tether, tmp_path, monkeypatch):
    """The generic fsspec path (temp name + move on non-atomic filesystems)."""
    import fsspec

    fsspec.filesystem("memory").store.clear()
    assert tether("remote", "add", "--local", "mem", "memory://tether-test", "--default").code == 0
    _data(repo, 5)
    _commit(repo, tether, "v1", "data", "model.bin")
    r = tether("push")
    assert r.code == 0, r.err
    assert "7 uploaded" in r.out
    keys = fsspec.filesystem("memory").find("/tether-test")
    # no temporaries left behind: the layout marker, loose objects (the tree, the 5 MiB model), one pack,
    # and the manifests of what the clone's refs need (for `gc --remote`), no pending one
    assert sorted(k.split("/")[2] for k in keys if "/manifests/" not in k) == [
        *(".tether-cache", "objects", "objects", "packs", "packs")
    ]
    assert all(k.endswith(".json") and "pending-" not in k for k in keys if "/manifests/" in k)
    import shutil

    shutil.rmtree(repo / ".tether" / "cache")
    shutil.rmtree(repo / "data")
    r = tether("pull")
    assert r.code == 0, r.err
    assert len(list((repo / "data").rglob("*.txt"))) == 5


def test_remote_changes_stage_the_project_config_in_the_operation(repo, tether, tmp_path):
    """Called from Python as from the CLI: a remote change is staged (core.autostage)."""
    from tether import config
    from tether.repo import Repo

    config.remote_add(Repo.find().dir, "store", str(tmp_path / "r"), True, False, False)
    assert ".tether/config.yaml" in git(repo, "diff", "--cached", "--name-only").split()
    git(repo, "commit", "-qm", "remote")
    config.remote_modify(Repo.find().dir, "store", "jobs", "4", False)
    assert ".tether/config.yaml" in git(repo, "diff", "--cached", "--name-only").split()
    assert tether("config", "core.autostage", "false").code == 0
    git(repo, "commit", "-qm", "jobs")
    assert tether("remote", "remove", "store").code == 0
    assert git(repo, "diff", "--cached", "--name-only") == ""


def test_config_set_and_unset_stage_the_project_config_like_remote_commands(repo, tether):
    staged = lambda: git(repo, "diff", "--cached", "--name-only").split()  # noqa: E731
    git(repo, "commit", "-qm", "init", "--allow-empty")
    assert tether("config", "cache.link", "copy").code == 0
    assert ".tether/config.yaml" in staged()
    git(repo, "commit", "-qm", "link")
    assert tether("config", "--unset", "cache.link").code == 0
    assert ".tether/config.yaml" in staged()
    git(repo, "commit", "-qm", "unset")
    assert tether("config", "--local", "cache.link", "copy").code == 0
    assert staged() == []  # the local file is never committed
