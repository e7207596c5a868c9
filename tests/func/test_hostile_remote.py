"""A remote (or its config) someone else controls: no pull, fetch or push may
hang, exhaust memory, crash, write through a link, or hand credentials to a
host only a clone named.

Each case builds the hostile remote for real: a local folder remote whose
files are replaced by FIFOs, symlinks, devices, folders or sparse files, and
a real command in a child process with a timeout where a hang is the defect."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot, write
from tether.storage import hashing, packs

PAYLOAD = b"payload bytes\n"


def pushed(repo: Path, tether, remote: Path, data: bytes = PAYLOAD) -> Path:
    """``data`` added as ``p``, pushed, then gone from the cache and workspace:
    the next pull must read the remote. Returns the remote's object file."""
    write(repo / "p", data)
    assert tether("add", "p").code == 0
    assert tether("push").code == 0
    digest = hashing.hash_bytes(data)
    forget(repo)
    return remote / "objects" / digest[:2] / digest[2:]


def forget(repo: Path) -> None:
    shutil.rmtree(repo / ".tether" / "cache")
    (repo / "p").unlink()


def pull(repo: Path) -> subprocess.CompletedProcess[str]:
    """``tether pull`` in a child: a hang is a timeout, not a stuck test run."""
    try:
        return run_cli(repo, "pull", timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("pull hung on a hostile remote")


def replace(path: Path, kind: str) -> None:
    """Put ``kind`` where the object file ``path`` was."""
    os.chmod(path, 0o644)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink to a file":
        target = path.parent / "elsewhere"
        target.write_bytes(PAYLOAD)  # even the right bytes: a link is not an object
        path.symlink_to(target)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        try:
            os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
        except PermissionError:
            pytest.skip("creating a device node needs root")
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["fifo", "symlink to /dev/zero", "symlink to a file", "folder", "device"]
)
@pytest.mark.parametrize("hardlink", ["true", "false"])
def test_pull_refuses_what_is_not_a_file_in_an_objects_place(repo, tether, remote, kind, hardlink):
    assert tether("remote", "modify", "--local", "origin", "hardlink", hardlink).code == 0
    obj = pushed(repo, tether, remote)
    replace(obj, kind)
    r = pull(repo)
    assert r.returncode not in (0, 3), r.stderr
    assert "Traceback" not in r.stderr
    assert str(obj) in r.stderr and "not a file" in r.stderr, r.stderr
    assert not (repo / "p").exists()
    cache = repo / ".tether" / "cache" / "objects"
    assert not any(f.is_file() for f in cache.rglob("*")) if cache.exists() else True


def test_pull_refuses_an_object_larger_than_its_pointer_says(repo, tether, remote):
    obj = pushed(repo, tether, remote)
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as f:
        f.truncate(4 << 30)  # sparse: 4 GiB that nothing may read
    r = pull(repo)
    assert r.returncode not in (0, 3), r.stderr
    assert "more than the 14 expected" in r.stderr, r.stderr
    assert not (repo / "p").exists()


def test_an_object_of_the_right_size_still_pulls(repo, tether, remote):
    pushed(repo, tether, remote)
    r = pull(repo)
    assert r.returncode == 0, r.stderr
    assert (repo / "p").read_bytes() == PAYLOAD


def test_pull_reads_only_the_ranges_a_pack_index_names(repo, tether, remote, tmp_path):
    """A valid index beside a 6 GiB sparse pack: pull reads 14 bytes, not the
    pack (the child's memory is capped far below the pack's size)."""
    pushed(repo, tether, remote)
    shutil.rmtree(remote / "objects")
    name, pack, index = packs.build([(hashing.hash_bytes(PAYLOAD), PAYLOAD)])
    write(remote / packs.index_key(name), index)
    with open(write(remote / packs.pack_key(name), pack), "r+b") as f:
        f.truncate(6 << 30)
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from tether.cli.app import invoke; sys.exit(invoke(['pull']))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=20
    )
    assert r.returncode == 0, r.stderr
    assert (repo / "p").read_bytes() == PAYLOAD


def test_a_pack_index_claiming_a_huge_object_is_refused(repo, tether, remote):
    pushed(repo, tether, remote)
    shutil.rmtree(remote / "objects")
    digest = hashing.hash_bytes(PAYLOAD)
    index = f"tether-pack 1\n{digest} 0 {1 << 40}\n".encode()
    name = hashing.hash_bytes(index)
    write(remote / packs.index_key(name), index)
    write(remote / packs.pack_key(name), PAYLOAD)
    r = pull(repo)
    assert r.returncode not in (0, 3), r.stderr
    assert "Traceback" not in r.stderr
    assert not (repo / "p").exists()


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "symlink to a file"])
def test_a_pack_index_that_is_not_a_file_is_ignored(repo, tether, remote, kind):
    """The object is still there, loose: the pull succeeds without the index."""
    pushed(repo, tether, remote)
    name, _, index = packs.build([(hashing.hash_bytes(PAYLOAD), PAYLOAD)])
    idx = write(remote / packs.index_key(name), index)
    if kind == "symlink to a file":
        write(remote / "elsewhere.idx", index)
        idx.unlink()
        idx.symlink_to(remote / "elsewhere.idx")
    else:
        replace(idx, kind)
    r = pull(repo)
    assert r.returncode == 0, r.stderr
    assert (repo / "p").read_bytes() == PAYLOAD


@pytest.mark.parametrize("folder", ["objects", "packs", "runs"])
def test_push_refuses_a_remote_folder_that_is_a_symlink(repo, tether, remote, tmp_path, folder):
    outside = tmp_path / "outside"
    write(outside / "keep.txt", "keep")
    before = snapshot(outside)
    (remote / folder).symlink_to(outside)
    assert tether("remote", "modify", "--local", "origin", "pack", "true").code == 0
    write(repo / "d", "some data\n")
    assert tether("add", "d").code == 0
    r = tether("push")
    assert r.code not in (0, 3), r.err
    assert f"{remote / folder} is a symlink" in r.err, r.err
    assert snapshot(outside) == before


def test_s3_pull_refuses_an_object_larger_than_its_pointer_says(repo, tether, s3_remote, s3_server):
    url, endpoint, key, secret = s3_remote
    for args in (
        ("remote", "add", "s3", url, "--default"),
        ("remote", "modify", "s3", "endpoint_url", endpoint),
        ("remote", "modify", "s3", "pack", "false"),
        ("remote", "modify", "--local", "s3", "access_key_id", key),
        ("remote", "modify", "--local", "s3", "secret_access_key", secret),
    ):
        assert tether(*args).code == 0
    write(repo / "p", PAYLOAD)
    assert tether("add", "p").code == 0
    assert tether("push").code == 0
    digest = hashing.hash_bytes(PAYLOAD)
    s3_server.filesystem().pipe(f"{url[5:]}/objects/{digest[:2]}/{digest[2:]}", PAYLOAD * 1000)
    forget(repo)
    r = tether("pull")
    assert r.code not in (0, 3), r.err
    assert "more than the 14 expected" in r.err, r.err
    assert not (repo / "p").exists()


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return run_cli(repo, *args, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} hung")


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "folder"])
@pytest.mark.parametrize("link", ["copy", "reflink,copy", "hardlink", "symlink"])
def test_checkout_and_push_refuse_what_is_not_a_file_in_a_cache_objects_place(
    repo, tether, remote, kind, link
):
    assert tether("config", "--local", "cache.link", link).code == 0
    write(repo / "p", PAYLOAD)
    assert tether("add", "p").code == 0
    digest = hashing.hash_bytes(PAYLOAD)
    replace(repo / ".tether/cache/objects" / digest[:2] / digest[2:], kind)
    (repo / "p").unlink()
    for cmd in ("checkout", "push"):
        r = run(repo, cmd)
        assert r.returncode not in (0, 3), (cmd, r.stderr)
        assert digest in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
    r = run(repo, "status")
    assert r.returncode != 3 and "Traceback" not in r.stderr, r.stderr
    assert not (repo / "p").exists()
    assert not list((remote / "objects").rglob("*")) if (remote / "objects").exists() else True


def test_a_cached_pack_index_that_is_a_fifo_hangs_nothing(repo, tether, remote):
    pushed(repo, tether, remote)
    shutil.rmtree(remote / "objects")
    name, pack, index = packs.build([(hashing.hash_bytes(PAYLOAD), PAYLOAD)])
    write(remote / packs.index_key(name), index)
    write(remote / packs.pack_key(name), pack)
    (repo / ".tether/cache/packs").mkdir(parents=True)
    os.mkfifo(repo / ".tether/cache/packs" / f"{name}.idx")
    r = run(repo, "pull")  # the cached copy is no file: read from the remote again
    assert r.returncode == 0, r.stderr
    assert (repo / "p").read_bytes() == PAYLOAD


# -- numbers too large to use ------------------------------------------------------

HUGE = "9" * 5000  # past Python's 4,300-digit limit for parsing an integer


def one_line_error(r, *needles: str) -> None:
    assert r.code not in (0, 3), (r.code, r.out, r.err)
    assert r.err.startswith("error: "), r.err
    assert r.err.count("\n") == 1, r.err
    for needle in needles:
        assert needle in r.err, r.err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("params.yaml", f"lr: {HUGE}\n"),  # the flat fast path
        ("params.yaml", f"train:\n  lr: {HUGE}\n"),  # PyYAML
        ("params.yaml", f"lr: 0x{'f' * 4000}\n"),  # parses (base 16 has no limit), never prints
        ("params.yaml", f"{HUGE}: 1\n"),  # as a key
        ("params.yaml", "when: 2020-13-45\n"),  # a date that does not exist
        ("params.json", f'{{"lr": {HUGE}}}'),
        ("params.toml", f"lr = {HUGE}\n"),
    ],
)
def test_a_number_too_large_is_one_clear_error(repo, tether, name, text):
    write(repo / name, text)
    write(repo / "tether.yaml", f"stages:\n  s:\n    cmd: 'true'\n    params: [{{{name}: }}]\n")
    for cmd in (("params", "show"), ("params", "diff"), ("repro", "--dry")):
        one_line_error(tether(*cmd), name)


def test_a_metric_too_large_is_one_clear_error(repo, tether):
    write(repo / "m.json", f'{{"acc": {HUGE}}}')
    write(repo / "tether.yaml", "stages:\n  s:\n    cmd: 'true'\n    metrics: [m.json]\n")
    for cmd in (("metrics", "show"), ("metrics", "diff")):
        one_line_error(tether(*cmd), "m.json")


@pytest.mark.parametrize(
    "size", [HUGE, str(1 << 64), str(1 << 63), f"0x{'f' * 4000}", "-1"], ids=lambda s: s[:12]
)
def test_a_pointer_with_a_size_out_of_range_is_one_clear_error(repo, tether, remote, size):
    pushed(repo, tether, remote)
    text = (repo / "p.tether").read_text()
    (repo / "p.tether").write_text(
        "".join(
            f"size: {size}\n" if ln.startswith("size:") else ln + "\n" for ln in text.splitlines()
        )
    )
    for cmd in (("status",), ("pull",), ("checkout",), ("diff",)):
        one_line_error(tether(*cmd), "p.tether")


def test_a_tree_entry_with_a_size_out_of_range_is_refused(repo, tether, remote):
    import json

    data = b"x\n"
    rows = [["a", hashing.hash_bytes(data), 1 << 64, False]]
    raw = json.dumps(
        {"schema": 1, "hash": hashing.ALGORITHM, "entries": rows}, separators=(",", ":")
    ).encode()
    for blob in (data, raw):
        digest = hashing.hash_bytes(blob)
        write(remote / "objects" / digest[:2] / digest[2:], blob)
    write(
        repo / "d.tether",
        f"schema: 1\npath: d\nkind: dir\nhash: {hashing.ALGORITHM}\ndigest: {hashing.hash_bytes(raw)}\n"
        "size: 2\nfiles: 1\n",
    )
    r = tether("pull")
    assert r.code not in (0, 3), r.err
    assert "bad digest or size" in r.err, r.err
    assert not (repo / "d").exists()


# -- a pointer whose size or file count is not its data's -----------------------------


def set_field(source: Path, field: str, value: int) -> None:
    lines = source.read_text().splitlines()
    source.write_text(
        "".join(f"{field}: {value}\n" if ln.startswith(f"{field}:") else ln + "\n" for ln in lines)
    )


def test_a_file_pointer_whose_size_is_wrong_is_corrupt_metadata(repo, tether, remote):
    pushed(repo, tether, remote)
    set_field(repo / "p.tether", "size", 1 << 40)
    one_line_error(tether("pull"), "p.tether", "corrupt metadata")
    assert not (repo / "p").exists()
    r = tether("status")  # the object is in the cache now
    assert "p.tether: says size 1,099,511,627,776 where its data holds 14 bytes" in r.out + r.err
    one_line_error(tether("checkout"), "p.tether", "corrupt metadata")
    assert not (repo / "p").exists()


def test_status_says_a_file_pointers_size_is_wrong_when_the_file_is_there(repo, tether):
    write(repo / "p", PAYLOAD)
    assert tether("add", "p").code == 0
    set_field(repo / "p.tether", "size", 3)
    r = tether("status")
    assert "says size 3 where its data holds 14 bytes (corrupt metadata)" in r.out + r.err, r


@pytest.mark.parametrize(("field", "value"), [("size", 99), ("files", 7)])
def test_a_dir_pointer_whose_counts_are_wrong_is_corrupt_metadata(repo, tether, field, value):
    write(repo / "d/a", "aaa\n")
    write(repo / "d/b/c", "cc\n")
    assert tether("add", "d").code == 0
    set_field(repo / "d.tether", field, value)
    r = tether("status")
    assert f"says {field} {value}" in r.out + r.err and "corrupt metadata" in r.out + r.err, r
    shutil.rmtree(repo / "d")
    one_line_error(tether("checkout"), "d.tether", "corrupt metadata")
    assert not (repo / "d").exists()


# -- a committed endpoint and this machine's credentials ----------------------------


def this_machines_address() -> str:
    """An address of this machine other than loopback (no packet is sent)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no network interface but loopback")
        address = str(s.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("no network interface but loopback")
    return address


@pytest.fixture
def listener():
    """A TCP port on every interface that records whether anyone connected."""
    import socket

    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def connected(server) -> bool:
    import select

    return bool(select.select([server], [], [], 0.2)[0])


def use_endpoint(tether, endpoint: str, *local: tuple[str, str]) -> None:
    assert tether("remote", "add", "s3", "s3://bucket/prefix", "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    for option, value in local:
        assert tether("remote", "modify", "--local", "s3", option, value).code == 0


def test_a_committed_plain_http_endpoint_gets_no_ambient_credentials(
    repo, tether, listener, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret")
    endpoint = f"http://{this_machines_address()}:{listener.getsockname()[1]}"
    use_endpoint(tether, endpoint)
    write(repo / "p", PAYLOAD)
    assert tether("add", "p").code == 0
    for cmd in (("push",), ("pull",), ("fetch",), ("status", "--remote")):
        r = tether(*cmd)
        one_line_error(r, "endpoint_url", "plain HTTP", "remote modify --local s3 endpoint_url")
        assert not connected(listener), cmd


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("https://s3.example.invalid", ()),  # TLS: the host is who it says
        ("http://127.0.0.1:9000", ()),  # this machine
        ("http://localhost:9000", ()),
        ("http://s3.example.invalid:9000", (("endpoint_url", "http://s3.example.invalid:9000"),)),
        ("http://s3.example.invalid:9000", (("anon", "true"),)),  # no credentials to send
    ],
)
def test_an_endpoint_trusted_on_this_machine_is_used(repo, tether, endpoint, local):
    from tether.remotes_service import spec_for
    from tether.repo import Repo

    use_endpoint(tether, endpoint, *local)
    assert spec_for(Repo.find(repo), None).options["endpoint_url"] == endpoint
