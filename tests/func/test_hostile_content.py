"""Content a cloned repository or a remote controls: nested .git folders, paths
aimed at files git tracks, and files built to hang or crash a parser.

Each case builds the hostile repository or remote for real (git commits, a
local folder remote whose objects are written under their right names,
SeaweedFS), then runs the commands a user would and checks that each one ends
with one clear line and a non-zero exit, and that nothing outside the
workspace, and no file git tracks, changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git, snapshot, write
from tether.storage import hashing

DIGEST = "a" * 32


def one_line_error(r, *needles: str) -> None:
    assert r.code not in (0, 3), (r.code, r.out, r.err)
    assert r.err.startswith("error: "), r.err
    assert r.err.count("\n") == 1, r.err
    for needle in needles:
        assert needle in r.err, r.err


@pytest.fixture
def sentinel(tmp_path):
    """A folder outside the workspace that no command may touch."""
    top = tmp_path / "outside"
    write(top / "victim.txt", "keep me")
    write(top / "deep/also.txt", "and me")
    return top


def tracked_files(root: Path) -> dict[str, bytes]:
    """Every file git tracks in ``root``, with its bytes."""
    names = git(root, "ls-files", "-z").split("\0")
    return {n: (root / n).read_bytes() for n in names if n and (root / n).is_file()}


def unchanged_after(root: Path, sentinel: Path, tether, *commands: tuple[str, ...]):
    """Run each command; yield its result; check the sentinel and git's files after each."""
    outside, in_git = snapshot(sentinel), tracked_files(root)
    for cmd in commands:
        r = tether(*cmd)
        yield cmd, r
        assert snapshot(sentinel) == outside, cmd
        assert tracked_files(root) == in_git, cmd


def put(remote: Path, data: bytes) -> str:
    """Store ``data`` in a local folder remote under its digest."""
    digest = hashing.hash_bytes(data)
    write(remote / "objects" / digest[:2] / digest[2:], data)
    return digest


def hostile_tree(names: list[str], *stores: Path) -> tuple[str, int]:
    """A tree object naming ``names`` (files, stored too) in each of ``stores``,
    as a hostile remote would craft it: escapes kept as they are (lone surrogates)."""
    rows: list[list[object]] = []
    data = b"[core]\n\tfsmonitor = touch pwned\n"
    for name in sorted(names):
        rows.append([name, hashing.hash_bytes(data), len(data), False])
    raw = json.dumps({"schema": 1, "entries": rows}, separators=(",", ":")).encode()
    for store in stores:
        put(store, data)
        put(store, raw)
    return hashing.hash_bytes(raw), len(rows)


def pointer_text(path: str, kind: str = "dir", digest: str = DIGEST, size: int = 1, files=1):
    text = f"schema: 1\npath: {path}\nkind: {kind}\nhash: xxh3\ndigest: {digest}\nsize: {size}\n"
    return text + (f"files: {files}\n" if kind == "dir" else "")


def commit_pointer(root: Path, source: str, text: str) -> None:
    write(root / source, text)
    git(root, "add", "-f", source)
    git(root, "commit", "-qm", f"hostile {source}")


@pytest.fixture
def remote(repo, tether, tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    assert tether("remote", "add", "origin", str(folder), "--default").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    return folder


# -- a .git inside tracked data ---------------------------------------------------

GIT_ALIASES = [
    ".git",
    ".GIT",
    ".Git",
    ".git ",
    ".git.",
    ".git. . ",
    ".git::$INDEX_ALLOCATION",
    "git~1",
    "GIT~1",
    ".g\u200cit",
    "\u200c.git",
    ".git\ufeff",
]


@pytest.mark.parametrize("name", GIT_ALIASES)
def test_tree_with_a_nested_git_folder_is_refused(repo, tether, remote, sentinel, name):
    digest, files = hostile_tree(
        [f"x/{name}/config", f"x/{name}/HEAD", "x/keep.csv", "y.csv"], remote
    )
    commit_pointer(repo, "data.tether", pointer_text("data", digest=digest, files=files))
    commands = [("pull",), ("checkout",), ("status",), ("diff", "HEAD")]
    for cmd, r in unchanged_after(repo, sentinel, tether, *commands):
        if cmd[0] in ("status", "diff") and r.code == 0:  # nothing checked out to compare
            continue
        one_line_error(r, "data", "stands for .git")
        assert not (repo / "data").exists(), cmd


def test_tree_with_a_git_file_is_refused(repo, tether, remote, sentinel):
    """``.git`` as a file ("gitdir: /elsewhere") is as dangerous as a folder."""
    digest, files = hostile_tree(["sub/.git", "sub/a.csv"], remote)
    commit_pointer(repo, "data.tether", pointer_text("data", digest=digest, files=files))
    for _, r in unchanged_after(repo, sentinel, tether, ("pull",), ("checkout",)):
        one_line_error(r, "stands for .git")
    assert not (repo / "data").exists()


@pytest.mark.parametrize("path", ["x/.git/config", "x/.GIT /hooks/pre-commit", "git~1/config"])
def test_pointer_into_a_nested_git_folder_is_refused(repo, tether, remote, sentinel, path):
    data = b"[core]\n\tfsmonitor = touch pwned\n"
    digest = put(remote, data)
    write(repo / "x/.keep", "")
    commit_pointer(repo, "p.tether", pointer_text(path, "file", digest, len(data)))
    for _, r in unchanged_after(repo, sentinel, tether, ("pull",), ("checkout",), ("status",)):
        one_line_error(r, "p.tether", "stands for .git")
    assert not (repo / "x/.git").exists()


def test_adding_a_folder_holding_a_git_repository_is_refused(repo, tether):
    write(repo / "data/x/a.csv", "1\n")
    git(repo / "data/x", "init", "-q")
    r = tether("add", "data")
    one_line_error(r, "data/x/.git", "a .git inside tracked data")
    assert not (repo / "data.tether").exists()


def test_tree_entry_that_is_not_unicode_is_refused(repo, tether, remote, sentinel):
    cache = repo / ".tether/cache"  # status and diff read the tree from the cache
    digest, files = hostile_tree(["bad\ud800name.csv", "good.csv"], remote, cache)
    commit_pointer(repo, "data.tether", pointer_text("data", digest=digest, files=files))
    write(repo / "data/good.csv", "local")
    commands = [("pull",), ("checkout", "-f"), ("status",), ("diff", "HEAD")]
    for cmd, r in unchanged_after(repo, sentinel, tether, *commands):
        if cmd[0] == "diff" and r.code == 0:  # compares pointers only: reads no tree
            continue
        one_line_error(r, "data", "not valid Unicode")
    assert (repo / "data/good.csv").read_text() == "local"
