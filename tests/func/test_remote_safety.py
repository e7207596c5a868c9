"""Remotes that can be trusted for years: only verified bytes are uploaded, a
remote is a copy independent of the cache, a killed transfer keeps what it
finished, a silent endpoint fails in bounded time, a mistyped folder is not
created, and every remote carries a layout marker that an older tether
respects."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git, run_cli, snapshot, write

BIG = 5 << 20  # above the 4 MiB one-request size: streamed in parts


def _commit(root: Path, tether, *paths: str) -> None:
    assert tether("add", *paths).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "data")


def _use_s3(tether, s3_remote, name: str = "s3", *extra: tuple[str, str]) -> None:
    url, endpoint, key, secret = s3_remote
    assert tether("remote", "add", name, url, "--default").code == 0
    assert tether("remote", "modify", name, "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "--local", name, "access_key_id", key).code == 0
    assert tether("remote", "modify", "--local", name, "secret_access_key", secret).code == 0
    for option, value in extra:
        assert tether("remote", "modify", name, option, value).code == 0


def _use_s3fs(tether, s3_remote) -> None:
    """The same server through s3fs (a remote that names an AWS profile)."""
    url, endpoint, key, secret = s3_remote
    aws = Path(os.environ["HOME"]) / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "credentials").write_text(
        f"[team]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "s3", "profile", "team").code == 0


def _cache_file(repo: Path, data: bytes) -> Path:
    from tether.storage import hashing

    digest = hashing.hash_bytes(data)
    return repo / ".tether" / "cache" / "objects" / digest[:2] / digest[2:]


def _damage(path: Path) -> bytes:
    """Flip one byte of a read-only cache object in place (bit rot); the good bytes."""
    good = path.read_bytes()
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(len(good) // 2)
        f.write(bytes([good[len(good) // 2] ^ 0xFF]))
    return good


def _restore(path: Path, good: bytes) -> None:
    path.write_bytes(good)
    path.chmod(0o444)


# -- 1. every upload is verified from the bytes that are sent ----------------------


@pytest.mark.s3
@pytest.mark.parametrize("client", ["obstore", "s3fs", "folder", "fsspec"])
def test_a_damaged_large_cache_object_is_never_uploaded(repo, tether, tmp_path, s3_remote, client):
    import fsspec

    data = os.urandom(BIG)
    write(repo / "model.bin", data)
    if client == "obstore":
        _use_s3(tether, s3_remote)
    elif client == "s3fs":
        _use_s3fs(tether, s3_remote)
    elif client == "folder":
        (tmp_path / "remote").mkdir()
        assert tether("remote", "add", "s3", str(tmp_path / "remote"), "--default").code == 0
    else:  # a filesystem without atomic puts: written to tmp/, then moved
        fsspec.filesystem("memory").store.clear()
        assert tether("remote", "add", "--local", "s3", "memory://big", "--default").code == 0
    _commit(repo, tether, "model.bin")
    obj = _cache_file(repo, data)
    good = _damage(obj)

    r = tether("push")

    assert r.code == 1
    assert "model.bin" in r.err
    assert "corrupt" in r.err
    assert "0 uploaded" in r.out
    if client == "fsspec":  # its temporary is gone too (the manifests say what refs need)
        left = fsspec.filesystem("memory").find("/big")
        assert [k for k in left if "/manifests/" not in k] == ["/big/.tether-cache"]
    _restore(obj, good)  # the cache is repaired: the object must still be missing there
    r = tether("push")
    assert r.code == 0, r.err
    assert "1 uploaded, 0 already there" in r.out


@pytest.mark.s3
def test_a_cache_object_of_the_wrong_size_or_no_file_is_refused(repo, tether, s3_remote):
    data = os.urandom(BIG)
    write(repo / "model.bin", data)
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "model.bin")
    obj = _cache_file(repo, data)
    obj.chmod(0o644)
    with obj.open("ab") as f:
        f.write(b"more")

    r = tether("push")

    assert r.code == 1
    assert f"{BIG + 4:,} bytes, not the {BIG:,} expected" in r.err
    obj.unlink()
    os.mkfifo(obj)  # a FIFO would block a plain read forever
    r = tether("push")
    assert r.code == 1
    assert "a FIFO, not a file" in r.err


# -- 2. a folder remote is an independent copy ----------------------------------------


def test_a_folder_remote_holds_its_own_copy_unless_hard_links_are_asked_for(
    repo, tether, remote, tmp_path
):
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    obj = _cache_file(repo, b"weights")

    assert tether("push").code == 0

    pushed = remote / obj.relative_to(repo / ".tether" / "cache")
    assert pushed.read_bytes() == b"weights"
    assert pushed.stat().st_ino != obj.stat().st_ino
    assert obj.stat().st_nlink == pushed.stat().st_nlink == 1
    shared = tmp_path / "shared"
    shared.mkdir()
    assert tether("remote", "add", "shared", str(shared)).code == 0
    assert tether("remote", "modify", "shared", "hardlink", "true").code == 0
    assert tether("push", "-r", "shared").code == 0
    assert (shared / pushed.relative_to(remote)).stat().st_ino == obj.stat().st_ino


# -- 6. a layout marker on every remote ---------------------------------------------


MARKER_TEXT = b"tether-cache 1\nhash: blake3\n"


def _s3_key(s3_server, s3_remote, key: str) -> bytes | None:
    fs = s3_server.filesystem()
    path = f"{s3_remote[0][len('s3://') :]}/{key}"
    return fs.cat_file(path) if fs.exists(path) else None


@pytest.mark.s3
@pytest.mark.parametrize("client", ["obstore", "s3fs"])
def test_a_first_push_marks_an_s3_remote(repo, tether, s3_remote, s3_server, client):
    write(repo / "w.bin", b"weights")
    _use_s3(tether, s3_remote) if client == "obstore" else _use_s3fs(tether, s3_remote)
    _commit(repo, tether, "w.bin")
    assert _s3_key(s3_server, s3_remote, ".tether-cache") is None

    assert tether("push").code == 0

    assert _s3_key(s3_server, s3_remote, ".tether-cache") == MARKER_TEXT


def test_a_first_push_marks_a_folder_and_any_fsspec_remote(repo, tether, remote):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.store.clear()
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    assert tether("remote", "add", "--local", "mem", "memory://marked").code == 0

    assert tether("push").code == 0
    assert tether("push", "-r", "mem").code == 0

    assert (remote / ".tether-cache").read_bytes() == MARKER_TEXT
    assert fs.cat_file("/marked/.tether-cache") == MARKER_TEXT


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (b"tether-cache 2\nhash: blake3\n", "has layout version 2, newer than the version 1"),
        (b"tether-cache 1\nhash: sha256\n", "names its objects by sha256 digests"),
        (b"not tether\n", "is not one tether wrote"),
    ],
)
def test_a_folder_remote_of_another_format_is_neither_read_nor_written(
    repo, tether, remote, tmp_path, monkeypatch, marker, message
):
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    assert tether("push").code == 0
    (remote / ".tether-cache").write_bytes(marker)
    write(repo / "w.bin", b"new weights")
    _commit(repo, tether, "w.bin")
    before = snapshot(remote)

    for command in ("push", "fetch", "pull"):
        r = tether(command)
        assert r.code == 1, command
        (line,) = r.err.strip().splitlines()
        assert line.startswith(f"error: remote 'origin' ({remote})")
        assert message in line
    assert snapshot(remote) == before
    cache = snapshot(repo / ".tether" / "cache" / "objects")
    assert tether("status", "--remote").code == 1
    assert snapshot(repo / ".tether" / "cache" / "objects") == cache


def test_a_remote_marked_by_the_older_hash_is_used_and_its_marker_brought_up_to_date(
    repo, tether, remote, tmp_path
):
    """Every folder remote written before BLAKE3 names carries `hash: xxh3`: its
    old objects (32 hex) never meet new names (64 hex), so it stays usable."""
    (remote / ".tether-cache").write_bytes(b"tether-cache 1\nhash: xxh3\n")
    old = remote / "objects" / "ab" / ("c" * 30)  # an old object: left alone
    write(old, b"old data")
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    r = tether("status", "--remote")  # read as it is: the file is missing there
    assert r.code == 0, r.err
    assert "1 of 1 object(s) missing on origin" in r.out
    assert (remote / ".tether-cache").read_bytes() == b"tether-cache 1\nhash: xxh3\n"

    r = tether("push")

    assert r.code == 0, r.err
    assert (remote / ".tether-cache").read_bytes() == MARKER_TEXT
    assert old.read_bytes() == b"old data"
    shutil.rmtree(repo / ".tether" / "cache")
    assert tether("pull", "-f").code == 0
    assert (repo / "w.bin").read_bytes() == b"weights"


@pytest.mark.s3
def test_an_s3_remote_of_a_newer_format_is_neither_read_nor_written(
    repo, tether, tmp_path, monkeypatch, s3_remote, s3_server
):
    write(repo / "w.bin", b"weights")
    _use_s3(tether, s3_remote)
    _commit(repo, tether, "w.bin")
    assert tether("push").code == 0
    bucket_path = s3_remote[0][len("s3://") :]
    fs = s3_server.filesystem()
    fs.pipe(f"{bucket_path}/.tether-cache", b"tether-cache 2\nhash: blake3\n")
    write(repo / "w.bin", b"new weights")
    _commit(repo, tether, "w.bin")
    before = sorted(fs.find(bucket_path))

    r = tether("push")
    assert r.code == 1
    assert "has layout version 2" in r.err
    assert sorted(fs.find(bucket_path)) == before
    git(repo, "checkout", "-q", "HEAD~1")
    (repo / "w.bin").unlink()
    r = tether("pull")
    assert r.code == 1
    assert "has layout version 2" in r.err
    assert not (repo / "w.bin").exists()


# -- 5. a mistyped folder is an error, not a new folder tree ----------------------------


def test_a_missing_remote_folder_is_reported_and_never_created(repo, tether, tmp_path):
    typo = tmp_path / "nonexistent" / "dir" / "deep"
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    r = tether("remote", "add", "typo", f"file://{typo}", "--default")
    assert r.code == 0
    assert f"folder {typo} does not exist and was not created" in r.err

    for command in ("push", "fetch", "pull"):
        r = tether(command)
        assert r.code == 1, command
        (line,) = r.err.strip().splitlines()
        assert line.startswith(f"error: remote 'typo' (file://{typo}): no such folder {typo}")
        assert "mkdir" in line
    assert not (tmp_path / "nonexistent").exists()


def test_remote_add_creates_a_folder_whose_parent_exists_or_all_with_mkdir(repo, tether, tmp_path):
    assert tether("remote", "add", "one", str(tmp_path / "one")).code == 0
    assert (tmp_path / "one").is_dir()
    deep = tmp_path / "a" / "b" / "c"
    r = tether("remote", "add", "deep", str(deep), "--mkdir")
    assert r.code == 0
    assert "warning" not in r.err
    assert deep.is_dir()
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    assert tether("push", "-r", "deep").code == 0
    deep.rename(tmp_path / "moved")  # an unmounted disk, a removed folder: still an error
    r = tether("push", "-r", "deep")
    assert r.code == 1
    assert "no such folder" in r.err
    assert not deep.exists()


# -- 4. a server that accepts and never answers ---------------------------------------


@pytest.fixture
def silent_server():
    """A real TCP server on loopback that accepts every connection and never
    answers: the endpoint_url of a remote that would hang a client without
    timeouts."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("client", ["obstore", "s3fs"])
def test_a_silent_endpoint_fails_a_push_within_its_timeout(repo, tether, silent_server, client):
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    s3 = ("s3://bucket/p", silent_server, "key", "secret")
    _use_s3(tether, s3) if client == "obstore" else _use_s3fs(tether, s3)
    assert tether("remote", "modify", "s3", "read_timeout", "0.5").code == 0
    assert tether("remote", "modify", "s3", "connect_timeout", "0.5").code == 0

    start = time.monotonic()
    r = tether("push")
    took = time.monotonic() - start

    assert r.code == 1
    (line,) = r.err.strip().splitlines()
    assert line.startswith("error: remote 's3' (s3://bucket/p): ")
    assert "no answer within 0.5 s (read_timeout)" in line
    assert took < 15  # three tries of 0.5 s, the backoff between them, and the start


def test_on_a_terminal_push_says_what_it_waits_for(repo, tether, silent_server):
    from tests.func.test_progress import _on_a_terminal

    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")
    _use_s3(tether, ("s3://bucket/p", silent_server, "key", "secret"))
    assert tether("remote", "modify", "s3", "read_timeout", "1").code == 0

    code, shown = _on_a_terminal(repo, "push")

    assert code == 1
    assert "push s3: waiting for s3://bucket/p" in shown
    assert "no answer within 1 s (read_timeout)" in shown


def test_timeouts_are_seconds_above_zero(repo, tether):
    assert tether("remote", "add", "s3", "s3://bucket/p").code == 0
    for bad in ("never", "0", "1e9"):
        r = tether("remote", "modify", "s3", "read_timeout", bad)
        assert r.code == 1
        assert "read_timeout must be" in r.err
    assert tether("remote", "modify", "s3", "connect_timeout", "2.5").code == 0
    assert "connect_timeout=2.5" in tether("remote", "list").out


# -- 3. a killed transfer keeps what it finished ---------------------------------------

MANY = 1200  # objects: more than two publishing batches of 500


def _objects(top: Path) -> tuple[int, int]:
    """(objects under their final names, temporaries) in a store's fan-out folders."""
    final = temporary = 0
    for p in top.glob("objects/*/*"):
        if re.fullmatch(r"[0-9a-f]{62}", p.name):
            final += 1
        else:
            assert re.fullmatch(r"\.tmp-\d+-[0-9a-f]+-\d+", p.name), p.name  # as documented
            temporary += 1
    return final, temporary


def _kill_when(cwd: Path, args: list[str], reached: Callable[[], bool]) -> None:
    """Run tether in a child process in short steps, stopped in between, and
    SIGKILL it at the first stop where ``reached()`` holds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            time.sleep(0.003)
            proc.send_signal(signal.SIGSTOP)
            assert proc.poll() is None, "it finished before the point to kill it at"
            if reached():
                return
            proc.send_signal(signal.SIGCONT)
        raise AssertionError("the point to kill it at never came")
    finally:
        proc.kill()
        proc.wait()


def _summary(out: str) -> tuple[int, int]:
    found = re.search(r": (\d+) \w+, (\d+) already there", out)
    assert found, out
    return int(found[1]), int(found[2])


def test_a_killed_push_and_a_killed_pull_keep_what_they_finished(repo, tether, remote):
    for i in range(MANY):
        write(repo / "many" / f"{i % 20}" / f"{i}.txt", f"file {i}\n" * 20)
    _commit(repo, tether, "many")

    _kill_when(repo, ["push"], lambda: sum(_objects(remote)) >= MANY // 2)

    kept, _ = _objects(remote)
    assert kept >= 500  # at least one batch was published before the kill
    r = run_cli(repo, "push")
    assert r.returncode == 0, r.stderr
    assert _summary(r.stdout) == (MANY + 1 - kept, kept)  # only the rest, and the tree
    assert _objects(remote)[0] == MANY + 1

    cache = repo / ".tether" / "cache"
    shutil.rmtree(cache / "objects")
    _kill_when(repo, ["pull"], lambda: sum(_objects(cache)) >= MANY // 2)

    kept, _ = _objects(cache)
    assert kept >= 500
    r = run_cli(repo, "pull")
    assert r.returncode == 0, r.stderr
    assert _summary(r.stdout) == (MANY + 1 - kept, kept)
    assert _objects(cache)[0] == MANY + 1


def test_a_push_to_a_remote_of_another_format_writes_nothing_there_at_all(repo, tether, tmp_path):
    """Not even the record of what the push relies on (for a gc of the remote)."""
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / ".tether-cache").write_bytes(b"tether-cache 2\nhash: blake3\n")
    assert tether("remote", "add", "other", str(folder), "--default").code == 0
    write(repo / "w.bin", b"weights")
    _commit(repo, tether, "w.bin")

    r = tether("push")

    assert r.code == 1
    assert "newer than the version 1" in r.err
    assert sorted(p.name for p in folder.iterdir()) == [".tether-cache"]
