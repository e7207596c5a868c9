"""A remote that can be trusted for years: whatever is deleted or damaged on
it (a loose object, an object of a folder, a pack, a pack index, a tree, a
run-cache entry), the next push of data that needs it puts it back, and
`tether remote verify` finds every hole (--deep: every corruption) and
--repair fills every one a local copy can. Real folder remotes and a real S3
server (SeaweedFS)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, snapshot, write


class Store:
    """The keys of a remote, for damaging them: a folder or an S3 prefix."""

    def __init__(self, folder: Path | None = None, s3: Any = None, prefix: str = "") -> None:
        self.folder, self.s3, self.prefix = folder, s3, prefix

    def names(self) -> list[str]:
        if self.folder is not None:
            return sorted(
                p.relative_to(self.folder).as_posix()
                for p in self.folder.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
        start = len(self.prefix) + 1
        return sorted(k[start:] for k in self.s3.find(self.prefix))

    def read(self, key: str) -> bytes:
        if self.folder is not None:
            return (self.folder / key).read_bytes()
        return bytes(self.s3.cat(f"{self.prefix}/{key}"))

    def rm(self, key: str) -> None:
        if self.folder is not None:
            (self.folder / key).unlink()
        else:
            self.s3.rm(f"{self.prefix}/{key}")

    def put(self, key: str, data: bytes) -> None:
        """A new file in its place: a folder remote's objects are hard links of
        the cache's, which writing in place would damage too."""
        if self.folder is not None:
            (self.folder / key).unlink()
            (self.folder / key).write_bytes(data)
        else:
            self.s3.pipe(f"{self.prefix}/{key}", data)

    def garble(self, key: str) -> None:
        """The same size, other bytes (only reading it tells)."""
        data = self.read(key)
        self.put(key, bytes(b ^ 0x5A for b in data))

    def cut(self, key: str) -> None:
        self.put(key, self.read(key)[:-7])


def _objects(store: Store) -> list[str]:
    return [k for k in store.names() if k.startswith("objects/")]


def _key(digest: str) -> str:
    return f"objects/{digest[:2]}/{digest[2:]}"


def _digest(repo: Path, pointer: str) -> str:
    for line in (repo / pointer).read_text().splitlines():
        if line.startswith("digest:"):
            return line.split()[1]
    raise AssertionError(pointer)


def _setup(repo: Path, tether: Any, kind: str, tmp_path: Path, s3: Any) -> Store:
    if kind == "s3":
        url, endpoint, key, secret = s3[0]
        assert tether("remote", "add", "store", url, "--default").code == 0
        assert tether("remote", "modify", "store", "endpoint_url", endpoint).code == 0
        assert tether("remote", "modify", "--local", "store", "access_key_id", key).code == 0
        assert tether("remote", "modify", "--local", "store", "secret_access_key", secret).code == 0
        return Store(s3=s3[1].filesystem(), prefix=url[len("s3://") :])
    folder = tmp_path / "remote"
    assert tether("remote", "add", "store", str(folder), "--default").code == 0
    if kind == "folder, packed":
        assert tether("remote", "modify", "store", "pack", "true").code == 0
    return Store(folder=folder)


def _data(repo: Path, tether: Any, folder: str = "data", n: int = 6) -> None:
    for i in range(n):
        write(repo / folder / f"f{i}.txt", f"{folder} {i}\n" * (i + 1))
    write(repo / "model.bin", os.urandom(300 << 10))  # above the largest packed object
    assert tether("add", folder, "model.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"add {folder}")


def _pull_in_clone(repo: Path, tether: Any, tmp_path: Path, monkeypatch: Any, store: str) -> None:
    """A fresh clone pulls everything, byte for byte."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    for name in ("config.local.yaml",):
        if (repo / ".tether" / name).exists():
            (clone / ".tether" / name).write_bytes((repo / ".tether" / name).read_bytes())
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 0, r.err
    assert snapshot(clone / "data") == snapshot(repo / "data")
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    monkeypatch.chdir(repo)


DAMAGE = {
    "a loose object deleted": lambda s, r: s.rm(_key(_digest(r, "model.bin.tether"))),
    "a loose object cut short": lambda s, r: s.cut(_key(_digest(r, "model.bin.tether"))),
    "a folder's tree deleted": lambda s, r: s.rm(_key(_digest(r, "data.tether"))),
    "a folder's tree cut short": lambda s, r: s.cut(_key(_digest(r, "data.tether"))),
}
LOOSE_ONLY = {
    "an object of a folder deleted": lambda s, r: s.rm(
        sorted(
            set(_objects(s)) - {_key(_digest(r, p)) for p in ("data.tether", "model.bin.tether")}
        )[0]
    ),
}
PACKED_ONLY = {
    "a pack deleted": lambda s, r: s.rm(_packs(s, ".pack")[0]),
    "a pack cut short": lambda s, r: s.cut(_packs(s, ".pack")[0]),
    "a pack index deleted": lambda s, r: s.rm(_packs(s, ".idx")[0]),
    "a pack index garbled": lambda s, r: s.put(_packs(s, ".idx")[0], b"tether-pack 1\nnot\n"),
}


def _packs(store: Store, ext: str) -> list[str]:
    found = [k for k in store.names() if k.startswith("packs/") and k.endswith(ext)]
    assert found
    return found


def _cases() -> list[Any]:
    out = []
    for kind in ("folder", "folder, packed", "s3"):
        extra = LOOSE_ONLY if kind == "folder" else PACKED_ONLY
        for name in [*DAMAGE, *extra]:
            marks = [pytest.mark.s3] if kind == "s3" else []
            out.append(pytest.param(kind, name, marks=marks, id=f"{kind}: {name}"))
    return out


@pytest.fixture
def s3(request: Any) -> Any:
    """The S3 server's settings, started only for the tests that use it."""
    if "s3" not in request.node.callspec.id.split(":")[0]:
        return None
    return request.getfixturevalue("s3_remote"), request.getfixturevalue("s3_server")


@pytest.mark.parametrize(("kind", "damage"), _cases())
def test_push_puts_back_what_was_deleted_or_damaged(
    repo, tether, tmp_path, monkeypatch, s3, kind, damage
):
    store = _setup(repo, tether, kind, tmp_path, s3)
    _data(repo, tether)
    assert tether("push").code == 0
    before = {k: store.read(k) for k in store.names() if not k.startswith("packs/")}
    {**DAMAGE, **LOOSE_ONLY, **PACKED_ONLY}[damage](store, repo)
    assert tether("remote", "verify").code == 1  # the hole is seen

    r = tether("push")

    assert r.code == 0, r.err
    assert "0 uploaded" not in r.out
    assert {k: store.read(k) for k in before} == before
    assert tether("status", "--remote", "--exit-code").code == 0
    assert tether("remote", "verify", "--deep").code == 0
    assert "0 uploaded" in tether("push").out  # and then nothing more
    _pull_in_clone(repo, tether, tmp_path, monkeypatch, kind)


@pytest.mark.parametrize("damage", ["deleted", "cut short"])
def test_push_run_cache_puts_back_an_entry_and_its_objects(repo, tether, tmp_path, damage):
    store = _setup(repo, tether, "folder", tmp_path, None)
    write(repo / "in.txt", "input\n")
    write(
        repo / "tether.yaml",
        "schema: 1\nstages:\n  s:\n    cmd: cp in.txt out.txt\n"
        "    deps: [in.txt]\n    outs: [out.txt]\n",
    )
    assert tether("repro").code == 0
    assert tether("push", "--run-cache").code == 0
    (entry,) = [k for k in store.names() if k.startswith("runs/")]
    if damage == "deleted":
        store.rm(entry)
    else:
        store.cut(entry)
    out_digest = json.loads((repo / ".tether" / "cache" / entry).read_text())["outs"][0]["digest"]
    store.rm(_key(out_digest))

    r = tether("push", "--run-cache")

    assert r.code == 0, r.err
    assert "1 entry uploaded" in r.out
    assert store.read(entry) == (repo / ".tether" / "cache" / entry).read_bytes()
    assert _key(out_digest) in store.names()


def _holes(tether: Any, *args: str) -> tuple[int, dict[str, Any]]:
    r = tether("remote", "verify", "--json", *args)
    doc = json.loads(r.out)["tether.remote-verify/v1"]
    return r.code, {h["path"]: h for h in doc["holes"]}


def _verify_cases() -> list[Any]:
    return [
        pytest.param(kind, marks=[pytest.mark.s3] if kind == "s3" else [], id=kind)
        for kind in ("folder", "folder, packed", "s3")
    ]


@pytest.mark.parametrize("kind", _verify_cases())
def test_verify_finds_every_hole_and_repair_fills_what_the_cache_can(
    repo, tether, tmp_path, monkeypatch, request, kind
):
    s3 = None
    if kind == "s3":
        s3 = request.getfixturevalue("s3_remote"), request.getfixturevalue("s3_server")
    store = _setup(repo, tether, kind, tmp_path, s3)
    _data(repo, tether)
    assert tether("push").code == 0
    first = set(store.names())
    for i in range(4):
        write(repo / "extra" / f"e{i}.txt", f"extra {i}\n" * (i + 3))
    write(repo / "big.bin", os.urandom(300 << 10))
    write(repo / "lone.txt", "no copy left anywhere\n" * 20000)  # loose: not packed
    assert tether("add", "extra", "big.bin", "lone.txt").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    assert tether("push").code == 0
    assert tether("remote", "verify", "--deep").code == 0
    second = set(store.names()) - first

    lone = _digest(repo, "lone.txt.tether")
    store.rm(_key(lone))
    (repo / ".tether" / "cache" / _key(lone)).unlink()
    store.rm(_key(_digest(repo, "model.bin.tether")))
    store.garble(_key(_digest(repo, "big.bin.tether")))
    store.rm(_key(_digest(repo, "data.tether")))
    store.garble(_key(_digest(repo, "extra.tether")))
    fast = {"lone.txt", "model.bin", "data"}
    deep = fast | {"big.bin", "extra"}
    if kind == "folder":  # one file of each folder
        store.rm(_key(_digest_of(repo / "data" / "f0.txt")))
        store.garble(_key(_digest_of(repo / "extra" / "e1.txt")))
        fast |= {"data/f0.txt"}
        deep |= {"data/f0.txt", "extra/e1.txt"}
    else:  # the pack of each push
        (pack1,) = [k for k in first if k.endswith(".pack")]
        (pack2,) = [k for k in second if k.endswith(".pack")]
        store.rm(pack1)
        store.garble(pack2)
        fast |= {f"data/f{i}.txt" for i in range(6)}
        deep |= fast | {f"extra/e{i}.txt" for i in range(4)}

    code, found = _holes(tether)
    assert (code, set(found)) == (1, fast)
    assert found["data"]["object"] == "tree"
    assert found["model.bin"]["problem"] == "missing"
    code, found = _holes(tether, "--deep")
    assert (code, set(found)) == (1, deep)
    assert found["big.bin"]["problem"] == "damaged"
    assert found["extra"]["problem"] == "damaged"

    code, found = _holes(tether, "--deep", "--repair")

    assert (code, set(found)) == (1, deep)
    assert {p for p, h in found.items() if not h["repaired"]} == {"lone.txt"}
    assert "not in the cache" in found["lone.txt"]["repair_error"]
    code, found = _holes(tether, "--deep")
    assert (code, set(found)) == (1, {"lone.txt"})
    r = tether("remote", "verify")
    assert r.code == 1
    assert "lone.txt: missing on store" in r.out
    (repo / "lone.txt.tether").unlink()  # the one nothing can restore, forgotten
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "forget lone.txt")
    assert tether("remote", "verify", "--deep").code == 0
    _pull_in_clone(repo, tether, tmp_path, monkeypatch, kind)


def _digest_of(path: Path) -> str:
    from tether.storage import hashing

    return hashing.hash_bytes(path.read_bytes())


def test_verify_all_commits_checks_history_too(repo, tether, tmp_path):
    store = _setup(repo, tether, "folder", tmp_path, None)
    write(repo / "w.bin", "version one")
    assert tether("add", "w.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert tether("push").code == 0
    old = _digest(repo, "w.bin.tether")
    write(repo / "w.bin", "version two")
    assert tether("add", "w.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")
    assert tether("push").code == 0
    store.rm(_key(old))

    assert tether("remote", "verify").code == 0
    code, found = _holes(tether, "-A")
    assert (code, set(found)) == (1, {"w.bin"})
    assert found["w.bin"]["digest"] == old
    code, found = _holes(tether, "-A", "--repair")
    assert code == 0
    assert found["w.bin"]["repaired"] is True
    assert tether("remote", "verify", "-A", "--deep").code == 0


def test_objects_that_share_a_prefix_are_found_there_push_after_push(repo, tether, remote):
    """Listings of a two-hex prefix holding several objects: each name is the
    digest's last 62 hex characters, and every one of them counts as there."""
    for i in range(60):  # far more than 256 prefixes' worth of chance: many share one
        write(repo / "d" / f"f{i}", os.urandom(100 + i))
    assert tether("add", "d").code == 0
    first = tether("push")
    assert first.code == 0, first.err
    assert "61 uploaded" in first.out

    again = tether("push")

    assert again.code == 0, again.err
    assert "0 uploaded, 61 already there" in again.out
    r = tether("remote", "verify")
    assert r.code == 0, r.out + r.err


@pytest.mark.parametrize("damage", ["deleted", "cut short", "garbled"])
def test_verify_run_cache_finds_a_damaged_entry_and_repair_puts_back_this_caches_copy(
    repo, tether, tmp_path, damage
):
    """Run-cache entries are named by what ran, not by their bytes: the cache's
    copy is the reference, and same-size damage shows only with --deep."""
    store = _setup(repo, tether, "folder", tmp_path, None)
    write(repo / "in.txt", "input\n")
    write(
        repo / "tether.yaml",
        "schema: 1\nstages:\n  s:\n    cmd: cp in.txt out.txt\n"
        "    deps: [in.txt]\n    outs: [out.txt]\n",
    )
    assert tether("repro").code == 0
    assert tether("push", "--run-cache").code == 0
    assert tether("remote", "verify", "--run-cache", "--deep").code == 0
    (entry,) = [k for k in store.names() if k.startswith("runs/")]
    key = entry.removeprefix("runs/").replace("/", "")
    mine = (repo / ".tether" / "cache" / entry).read_bytes()
    {"deleted": store.rm, "cut short": store.cut, "garbled": store.garble}[damage](entry)

    code, holes = _holes(tether, "--run-cache", "--deep")

    assert code == 1
    assert holes["run-cache"]["digest"] == key
    assert holes["run-cache"]["object"] == "run-cache"
    assert holes["run-cache"]["problem"] == ("missing" if damage == "deleted" else "damaged")
    if damage == "garbled":  # the same size: listings cannot tell
        assert tether("remote", "verify", "--run-cache").code == 0
    code, holes = _holes(tether, "--run-cache", "--deep", "--repair")
    assert code == 0
    assert holes["run-cache"]["repaired"] is True
    assert store.read(entry) == mine
    assert tether("remote", "verify", "--run-cache", "--deep").code == 0
