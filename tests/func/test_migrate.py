"""`tether migrate`: a workspace written with the older xxh3 hash, rehashed to the
current one with its data, pointers, tether.lock and run-cache intact; and every
record naming an old or unknown algorithm refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import xxhash
import yaml

from tests.conftest import git, write
from tests.func.test_pipeline import PY, STEP, runs
from tether.storage import hashing

OLD = hashing.LEGACY


def one_line_error(r: Any, *needles: str) -> None:
    assert r.code not in (0, 3), (r.code, r.out, r.err)
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    for needle in needles:
        assert needle in r.err, r.err


# -- what an older tether left: xxh3 objects, trees, pointers, lock, run-cache ----


def _old_object(root: Path, data: bytes, store: bool = True) -> str:
    digest = xxhash.xxh3_128_hexdigest(data)
    path = root / ".tether/cache/objects" / digest[:2] / digest[2:]
    if store and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o444)
    return digest


def _old_record(root: Path, rel: str, store: bool = True) -> dict[str, Any]:
    """``store``: into the cache too (a dependency's content is not stored)."""
    full = root / rel
    if full.is_file():
        return {
            "kind": "file",
            "digest": _old_object(root, full.read_bytes(), store),
            "size": len(full.read_bytes()),
        }
    rows = sorted(
        [
            p.relative_to(full).as_posix(),
            _old_object(root, p.read_bytes(), store),
            p.stat().st_size,
            bool(p.stat().st_mode & 0o100),
        ]
        for p in full.rglob("*")
        if p.is_file()
    )
    data = json.dumps({"schema": 1, "entries": rows}, ensure_ascii=False, separators=(",", ":"))
    return {
        "kind": "dir",
        "digest": _old_object(root, data.encode(), store),
        "size": sum(r[2] for r in rows),
        "files": len(rows),
    }


def downgrade(root: Path) -> None:
    """Rewrite a workspace as the xxh3 release wrote it, and drop every current object."""
    cache = root / ".tether/cache"
    for path in list(cache.rglob("*")):
        if path.is_file() and len(path.parent.name + path.name) == hashing.HEX:
            path.unlink()
    (root / ".tether/state.db").unlink(missing_ok=True)
    (cache / ".tether-cache").write_text(f"tether-cache 1\nhash: {OLD}\n")
    for source in (p for p in root.rglob("*.tether") if p.is_file()):
        doc = yaml.safe_load(source.read_text())
        rel = (source.parent / doc["path"]).relative_to(root).as_posix()
        doc.update(_old_record(root, rel), hash=OLD)
        source.write_text(yaml.safe_dump(doc, sort_keys=False))
    lock = yaml.safe_load((root / "tether.lock").read_text())
    for entry in lock["stages"].values():
        for key in ("deps", "outs"):
            for a in entry[key]:
                a.update(_old_record(root, a["path"], key == "outs"), hash=OLD)
        outs = {"schema": 1, "outs": entry["outs"]}
        name = _old_object(root, json.dumps(outs).encode())  # an old run-cache entry
        write(cache / "runs" / name[:2] / name[2:], json.dumps(outs))
    (root / "tether.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def make_project(repo: Path, tether: Any) -> Path:
    write(repo / "step.py", STEP)
    write(repo / "params.yaml", "train: {lr: 0.1}\n")
    write(repo / "data/raw/a.txt", "alpha\n")
    write(repo / "data/raw/sub/b.txt", "beta\n" * 1000)
    write(repo / "notes.bin", "n" * 3_000_000)  # over hashing.SMALL: read in chunks
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  train:
    cmd: {PY} step.py train model.bin train.lr data/raw/a.txt
    deps: [step.py, data/raw]
    params: [train.lr]
    outs: [model.bin]
""",
    )
    assert tether("add", "data/raw", "notes.bin").code == 0
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    downgrade(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "as the xxh3 release wrote it")
    return repo


def _pointer(repo: Path, source: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((repo / source).read_text())
    return doc


def test_migrate_rehashes_files_folders_and_stage_outputs(repo, tether):
    make_project(repo, tether)
    model = (repo / "model.bin").read_bytes()
    one_line_error(tether("status"), f"written with the older {OLD} hash", "tether migrate")
    one_line_error(tether("repro"), "tether migrate")

    before = {
        s: (repo / s).read_text() for s in ("data/raw.tether", "notes.bin.tether", "tether.lock")
    }
    r = tether("migrate", "--dry-run")
    assert r.code == 0, r.err
    assert "would rehash 2 pointer file(s) and 1 stage(s)" in r.out
    assert {s: (repo / s).read_text() for s in before} == before  # nothing written

    # one object is gone from the cache: its content comes from the workspace
    gone = _pointer(repo, "notes.bin.tether")["digest"]
    (repo / ".tether/cache/objects" / gone[:2] / gone[2:]).unlink()
    r = tether("migrate")
    assert r.code == 0, r.err
    assert "rehashed 2 pointer file(s) and 1 stage(s)" in r.out

    notes = _pointer(repo, "notes.bin.tether")
    assert notes["hash"] == hashing.ALGORITHM
    assert notes["digest"] == hashing.hash_bytes((repo / "notes.bin").read_bytes())
    raw = _pointer(repo, "data/raw.tether")
    assert (raw["hash"], raw["files"], hashing.is_digest(raw["digest"])) == (
        hashing.ALGORITHM,
        2,
        True,
    )
    lock = yaml.safe_load((repo / "tether.lock").read_text())
    arts = lock["stages"]["train"]["deps"] + lock["stages"]["train"]["outs"]
    assert {a["hash"] for a in arts} == {hashing.ALGORITHM} and len(arts) == 3
    marker = (repo / ".tether/cache/.tether-cache").read_text()
    assert marker == f"tether-cache 1\nhash: {hashing.ALGORITHM}\n"

    assert tether("status", "--exit-code").code == 0  # clean
    assert tether("repro").code == 0
    assert runs(repo) == ["train"]  # nothing ran again

    # the data is intact: checked out again from the new objects alone
    git(repo, "commit", "-qam", "migrated")
    # older commits still hold xxh3 pointers and locks: they name only old
    # objects, which gc never deletes, so they do not stop it
    r = tether("gc", "-f")
    assert r.code == 0, r.err
    for path in ("data/raw", "notes.bin", "model.bin"):
        target = repo / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    r = tether("migrate", "--drop-old")
    assert r.code == 0, r.err
    assert "rehashed 0 pointer file(s) and 0 stage(s)" in r.out  # idempotent
    assert "removed" in r.out
    objects = repo / ".tether/cache/objects"
    assert all(
        len(p.parent.name + p.name) == hashing.HEX for p in objects.rglob("*") if p.is_file()
    )
    assert tether("checkout").code == 0
    assert (repo / "data/raw/sub/b.txt").read_text() == "beta\n" * 1000
    assert (repo / "notes.bin").read_text() == "n" * 3_000_000
    assert (repo / "model.bin").read_bytes() == model
    assert tether("status", "--exit-code").code == 0

    # the run-cache restores the recorded configuration
    write(repo / "params.yaml", "train: {lr: 0.7}\n")
    assert tether("repro").code == 0 and runs(repo) == ["train", "train"]
    write(repo / "params.yaml", "train: {lr: 0.1}\n")
    r = tether("repro")
    assert "restored train from the run-cache" in r.out, r.out
    assert runs(repo) == ["train", "train"]
    assert (repo / "model.bin").read_bytes() == model


def test_migrate_leaves_a_pointer_whose_data_is_nowhere(repo, tether):
    make_project(repo, tether)
    gone = _pointer(repo, "notes.bin.tether")["digest"]
    (repo / ".tether/cache/objects" / gone[:2] / gone[2:]).unlink()
    (repo / "notes.bin").write_text("changed since")
    before = (repo / "notes.bin.tether").read_text()
    r = tether("migrate")
    one_line_error(r, "1 pointer file(s) left unmigrated", "notes.bin.tether")
    assert (repo / "notes.bin.tether").read_text() == before  # never renamed to other content
    assert _pointer(repo, "data/raw.tether")["hash"] == hashing.ALGORITHM  # the rest is done


def test_a_stage_whose_dependency_changed_stays_stale(repo, tether):
    make_project(repo, tether)
    write(repo / "step.py", STEP + "\n# edited\n")
    r = tether("migrate")
    assert r.code == 0, r.err
    assert "stage train: step.py: its data is gone or changed" in r.out
    r = tether("repro")
    assert r.code == 0 and runs(repo) == ["train", "train"]


# -- records naming an old or unknown algorithm: one line, never a crash ----------


def test_pointer_of_an_unknown_algorithm_is_refused(repo, tether):
    write(repo / "x.bin", "x")
    write(
        repo / "x.bin.tether",
        f"schema: 1\npath: x.bin\nkind: file\nhash: sha1\ndigest: {'a' * 40}\nsize: 1\n",
    )
    for cmd in ("status", "checkout", "migrate"):
        one_line_error(tether(cmd), "x.bin.tether", "unsupported hash 'sha1'")


def _tree_pointer(repo: Path, algorithm: str | None) -> None:
    doc: dict[str, Any] = {"schema": 1, "entries": [["a.txt", "b" * 32, 1, False]]}
    if algorithm is not None:
        doc = {"schema": 1, "hash": algorithm, "entries": doc["entries"]}
    data = json.dumps(doc, separators=(",", ":")).encode()
    digest = hashing.hash_bytes(data)  # a current name, content of another algorithm
    obj = repo / ".tether/cache/objects" / digest[:2] / digest[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    write(repo / "d/a.txt", "x")  # differs: status reads the tree to say how
    write(
        repo / "d.tether",
        f"schema: 1\npath: d\nkind: dir\nhash: {hashing.ALGORITHM}\ndigest: {digest}\n"
        "size: 1\nfiles: 1\n",
    )


def test_tree_of_the_old_algorithm_is_refused(repo, tether):
    for algorithm in (None, OLD):
        _tree_pointer(repo, algorithm)
        for cmd in ("checkout", "status"):
            one_line_error(
                tether(cmd), f"tree object: written with the older {OLD} hash", "tether migrate"
            )


def test_tree_of_an_unknown_algorithm_is_refused(repo, tether):
    _tree_pointer(repo, "md5")
    for cmd in ("checkout", "status"):
        one_line_error(tether(cmd), "unsupported hash 'md5'")


@pytest.mark.parametrize(
    ("algorithm", "digest", "message"),
    [("crc32", "c" * 64, "unsupported hash 'crc32'"), (OLD, "c" * 32, "tether migrate")],
)
def test_lock_entry_of_an_old_or_unknown_algorithm_is_refused(
    repo, tether, algorithm, digest, message
):
    write(repo / "tether.yaml", "schema: 1\nstages:\n  s:\n    cmd: 'true'\n    outs: [o]\n")
    write(
        repo / "tether.lock",
        "schema: 1\nstages:\n  s:\n    cmd: 'true'\n    deps: []\n"
        f"    outs: [{{path: o, kind: file, hash: {algorithm}, digest: {digest}, size: 1}}]\n",
    )
    for cmd in ("status", "checkout", "repro"):
        one_line_error(tether(cmd), "tether.lock", message)


def test_migrate_relinks_a_workspace_of_symlinks(repo, tether):
    make_project(repo, tether)
    assert tether("config", "cache.link", "symlink").code == 0
    r = tether("migrate", "--drop-old")
    assert r.code == 0, r.err
    for path in ("notes.bin", "model.bin", "data/raw/a.txt"):
        assert (repo / path).is_symlink(), path  # into the new objects, not the old
    assert (repo / "notes.bin").read_text() == "n" * 3_000_000
    assert (repo / "data/raw/a.txt").read_text() == "alpha\n"
    assert tether("status", "--exit-code").code == 0
