"""Content a cloned repository or a remote controls: nested .git folders, paths
aimed at files git tracks, and files built to hang or crash a parser.

Each case builds the hostile repository or remote for real (git commits, a
local folder remote whose objects are written under their right names,
SeaweedFS), then runs the commands a user would and checks that each one ends
with one clear line and a non-zero exit, and that nothing outside the
workspace, and no file git tracks, changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, snapshot, write
from tether.storage import hashing

DIGEST = "a" * 64


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
    raw = json.dumps(
        {"schema": 1, "hash": hashing.ALGORITHM, "entries": rows}, separators=(",", ":")
    ).encode()
    for store in stores:
        put(store, data)
        put(store, raw)
    return hashing.hash_bytes(raw), len(rows)


def pointer_text(path: str, kind: str = "dir", digest: str = DIGEST, size: int = 1, files=1):
    text = f"schema: 1\npath: {path}\nkind: {kind}\nhash: {hashing.ALGORITHM}\ndigest: {digest}\nsize: {size}\n"
    return text + (f"files: {files}\n" if kind == "dir" else "")


def commit_pointer(root: Path, source: str, text: str) -> None:
    write(root / source, text)
    git(root, "add", "-f", source)
    git(root, "commit", "-qm", f"hostile {source}")


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


# -- files built to hang or crash a parser ------------------------------------------


def _bomb(indent: str = "") -> str:
    """A "billion laughs": nine levels of nine aliases, 9**9 strings once expanded."""
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"{indent}a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


PIPELINE = (
    "schema: 1\nstages:\n  train:\n    cmd: python train.py\n"
    "    deps: [params.yaml]\n    params: [lr]\n    metrics: [metrics.yaml]\n"
)


def run_bounded(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a child process that must end well within ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


class Done:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr


def bounded_commands(root: Path, sentinel: Path, *commands: tuple[str, ...]):
    outside, in_git = snapshot(sentinel), tracked_files(root)
    for cmd in commands:
        yield cmd, Done(run_bounded(root, *cmd))
        assert snapshot(sentinel) == outside, cmd
        assert tracked_files(root) == in_git, cmd


def commit_all(root: Path) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", "hostile")


@pytest.fixture
def pipeline_repo(repo):
    write(repo / "tether.yaml", PIPELINE)
    write(repo / "params.yaml", "lr: 0.1\n")
    write(repo / "metrics.yaml", "acc: 0.9\n")
    write(repo / "tether.lock", "schema: 1\nstages: {}\n")  # so checkout reads tether.yaml
    return repo


ALL_READERS = [
    ("status",),
    ("repro", "--dry"),
    ("dag",),
    ("checkout",),
    ("gc", "-f"),
    ("params", "show"),
    ("metrics", "show"),
    ("metrics", "diff", "HEAD"),
]


def test_alias_bomb_in_a_stage_description_is_refused(pipeline_repo, sentinel):
    root = pipeline_repo
    text = PIPELINE + "    desc:\n" + _bomb("      ")
    write(root / "tether.yaml", text)
    commit_all(root)
    for _, r in bounded_commands(root, sentinel, *ALL_READERS):
        one_line_error(r, "tether.yaml", "YAML aliases expand it")


@pytest.mark.parametrize(
    ("file", "commands"),
    [
        ("params.yaml", [("status",), ("repro", "--dry"), ("params", "show")]),
        ("metrics.yaml", [("metrics", "show"), ("metrics", "diff", "HEAD")]),
        (".tether/config.yaml", [("remote", "list"), ("config", "--list"), ("status",)]),
        ("tether.lock", [("status",), ("checkout",), ("repro", "--dry")]),
        ("data.tether", [("status",), ("checkout",), ("gc", "-f")]),
    ],
)
def test_alias_bomb_in_any_yaml_file_is_refused(pipeline_repo, sentinel, file, commands):
    root = pipeline_repo
    write(root / file, "schema: 1\n" + _bomb())
    commit_all(root)
    for _, r in bounded_commands(root, sentinel, *commands):
        one_line_error(r, file, "YAML alias")


@pytest.mark.parametrize("file", ["tether.lock", "data.tether", ".tether/config.yaml"])
def test_files_tether_writes_hold_no_aliases(pipeline_repo, tether, sentinel, file):
    write(pipeline_repo / file, "schema: 1\nx: &x 1\ny: *x\n")
    for _, r in unchanged_after(pipeline_repo, sentinel, tether, ("checkout",)):
        one_line_error(r, file, "YAML aliases are not allowed")


def test_recursive_alias_is_refused(pipeline_repo, tether, sentinel):
    write(pipeline_repo / "params.yaml", "lr: &x [1, *x]\n")
    for _, r in unchanged_after(pipeline_repo, sentinel, tether, ("params", "show"), ("status",)):
        one_line_error(r, "params.yaml", "refers to a node that contains it")


def test_aliases_within_bounds_still_work(pipeline_repo, tether):
    write(pipeline_repo / "params.yaml", "base: &b {lr: 0.5}\nlr: 0.1\nrun:\n  <<: *b\n  seed: 1\n")
    r = tether("params", "show")
    assert r.code == 0, r.err
    assert "run.lr" in r.out and "run.seed" in r.out


@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("metrics.json", "[" * 100_000 + "]" * 100_000),
        ("metrics.json", '{"a":' * 150 + "1" + "}" * 150),
        ("metrics.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n"),
        ("metrics.yaml", "- " * 150 + "x\n"),
    ],
)
def test_deeply_nested_metrics_are_refused(repo, tether, sentinel, file, text):
    write(repo / file, text)
    for _, r in unchanged_after(repo, sentinel, tether, ("metrics", "show", "-f", file)):
        one_line_error(r, file, "nested")


def test_deeply_nested_tree_object_is_refused(repo, tether, remote, sentinel):
    raw = b'{"schema":1,"entries":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    digest = put(remote, raw)
    commit_pointer(repo, "data.tether", pointer_text("data", digest=digest))
    for _, r in unchanged_after(repo, sentinel, tether, ("pull",), ("checkout",)):
        one_line_error(r, "data")


@pytest.mark.parametrize(
    ("name", "commands"),
    [
        ("params.yaml", [("status",), ("params", "show"), ("repro", "--dry")]),
        ("tether.yaml", [("checkout",), ("dag",), ("params", "show"), ("repro", "--dry")]),
        ("tether.lock", [("checkout",), ("repro", "--dry")]),
        ("metrics.yaml", [("metrics", "show")]),
        (".tether/config.yaml", [("status",), ("remote", "list")]),
    ],
)
def test_fifo_in_place_of_a_file_is_refused_without_hanging(
    pipeline_repo, sentinel, name, commands
):
    root = pipeline_repo
    commit_all(root)
    (root / name).unlink()
    os.mkfifo(root / name)
    # tether's own files under .tether/ are checked first, by what sits there
    what = "is a FIFO" if name.startswith(".tether/") else "not a regular file"
    for _, r in bounded_commands(root, sentinel, *commands):
        one_line_error(r, name, what)


def test_device_linked_as_metrics_is_refused(pipeline_repo, sentinel):
    root = pipeline_repo
    commit_all(root)
    (root / "metrics.yaml").unlink()
    os.symlink("/dev/zero", root / "metrics.yaml")
    for _, r in bounded_commands(root, sentinel, ("metrics", "show"), ("metrics", "diff")):
        one_line_error(r, "metrics.yaml", "outside the workspace")


def test_oversized_params_file_is_refused(pipeline_repo, tether, sentinel):
    with open(pipeline_repo / "params.yaml", "ab") as f:
        f.truncate(64 << 20)  # sparse: nothing is written, the size is what counts
    for _, r in unchanged_after(pipeline_repo, sentinel, tether, ("params", "show"), ("status",)):
        one_line_error(r, "params.yaml", "MiB tether reads")


# -- paths aimed at what git keeps ------------------------------------------------------


def _file_on_remote(remote: Path) -> tuple[str, int]:
    data = b"#!/bin/sh\necho owned\n"
    return put(remote, data), len(data)


@pytest.mark.parametrize(
    "path",
    [
        "README.md",  # tracked by git
        ".gitignore",  # git's own file, tracked
        "src/other.tether",  # another pointer file
        "p.tether",  # the pointer itself
        "tether.yaml",
        "params.yaml",
        "src",  # a folder holding tracked files
        ".tether/config.yaml",
        ".TETHER/config.yaml",
    ],
)
def test_pointer_aimed_at_a_file_git_keeps_is_refused(repo, tether, remote, sentinel, path):
    write(repo / "README.md", "readme\n")
    write(repo / "src/main.py", "print('hi')\n")
    write(repo / "src/other.tether", pointer_text("x", "file", DIGEST, 1))
    write(repo / "tether.yaml", "schema: 1\nstages: {}\n")
    write(repo / "params.yaml", "lr: 0.1\n")
    digest, size = _file_on_remote(remote)
    kind, files = ("dir", 1) if path == "src" else ("file", None)
    if kind == "dir":  # a tree whose entry would overwrite src/main.py
        digest, files = hostile_tree(["main.py"], remote)
    write(repo / "p.tether", pointer_text(path, kind, digest, size, files))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hostile pointer")
    commands = [("pull",), ("checkout",), ("checkout", "-f"), ("status",)]
    for _, r in unchanged_after(repo, sentinel, tether, *commands):
        one_line_error(r, "p.tether")
    assert (repo / "README.md").read_text() == "readme\n"
    assert (repo / "src/main.py").read_text() == "print('hi')\n"


@pytest.mark.parametrize("out", ["README.md", "src", ".gitignore", "data.tether", "tether.lock"])
def test_stage_output_aimed_at_a_file_git_keeps_is_refused(repo, tether, remote, sentinel, out):
    write(repo / "README.md", "readme\n")
    write(repo / "src/main.py", "print('hi')\n")
    write(repo / "data.tether", pointer_text("data", "file", DIGEST, 1))
    digest, size = _file_on_remote(remote)
    kind = "dir" if out == "src" else "file"
    files = None
    if kind == "dir":
        digest, files = hostile_tree(["main.py"], remote)
    write(repo / "tether.yaml", f"schema: 1\nstages:\n  s:\n    cmd: 'true'\n    outs: [{out}]\n")
    lock_out = {"path": out, "kind": kind, "digest": digest, "size": size}
    if files is not None:
        lock_out["files"] = files
    lock = {"schema": 1, "stages": {"s": {"cmd": "true", "outs": [lock_out]}}}
    write(repo / "tether.lock", json.dumps(lock))  # JSON is YAML too
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hostile stage")
    for _, r in unchanged_after(repo, sentinel, tether, ("pull",), ("checkout", "-f")):
        one_line_error(r, "tether")
    assert (repo / "README.md").read_text() == "readme\n"


def test_pointer_at_a_tracked_file_on_s3_is_refused(repo, tether, s3_remote, sentinel, tmp_path):
    """The same through a real S3 remote: the content is there, the path is not ours."""
    url, endpoint, key, secret = s3_remote
    write(repo / "README.md", "readme\n")
    write(repo / "blob.bin", "remote bytes\n")
    assert tether("add", "blob.bin").code == 0
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "--local", "s3", "access_key_id", key).code == 0
    assert tether("remote", "modify", "--local", "s3", "secret_access_key", secret).code == 0
    assert tether("push").code == 0
    text = (repo / "blob.bin.tether").read_text().replace("path: blob.bin", "path: README.md")
    write(repo / "blob.bin.tether", text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hostile pointer")
    for _, r in unchanged_after(repo, sentinel, tether, ("pull",), ("checkout", "-f")):
        one_line_error(r, "blob.bin.tether", "tracked by git")
    assert (repo / "README.md").read_text() == "readme\n"


def test_lock_output_into_a_nested_git_folder_is_refused(pipeline_repo, tether, sentinel):
    root = pipeline_repo
    write(root / "tether.yaml", "schema: 1\nstages:\n  s:\n    cmd: 'true'\n    outs: [out]\n")
    bad = {"path": "out/.Git/config", "kind": "file", "digest": DIGEST, "size": 1}
    write(
        root / "tether.lock",
        json.dumps({"schema": 1, "stages": {"s": {"cmd": "true", "outs": [bad]}}}),
    )
    for _, r in unchanged_after(root, sentinel, tether, ("checkout",), ("status",), ("gc", "-f")):
        one_line_error(r, "tether.lock", "stands for .git")


@pytest.mark.parametrize("field", ["outs", "deps", "metrics", "wdir"])
def test_pipeline_path_into_a_nested_git_folder_is_refused(repo, tether, sentinel, field):
    value = "sub/.git " if field == "wdir" else "[sub/.git/hooks/post-checkout]"
    write(repo / "sub/keep.txt", "")
    write(
        repo / "tether.yaml", f"schema: 1\nstages:\n  s:\n    cmd: 'true'\n    {field}: {value}\n"
    )
    commands = [("repro", "--dry"), ("dag",), ("metrics", "show")]
    for _, r in unchanged_after(repo, sentinel, tether, *commands):
        one_line_error(r, "tether.yaml", "stands for .git")


def test_gitignore_linked_to_a_device_is_refused_without_hanging(repo, sentinel):
    """git itself ignores a .gitignore that is a symlink; tether must not read /dev/zero."""
    write(repo / "data/a.csv", "1\n")
    (repo / ".gitignore").unlink(missing_ok=True)
    os.symlink("/dev/zero", repo / ".gitignore")
    for _, r in bounded_commands(repo, sentinel, ("add", "data")):
        one_line_error(r, ".gitignore", "not a regular file")


def test_tree_with_a_nested_git_folder_on_s3_is_refused(
    repo, tether, s3_server, s3_remote, sentinel, tmp_path
):
    url, endpoint, key, secret = s3_remote
    staging = tmp_path / "staging"
    digest, files = hostile_tree(["x/.git/HEAD", "x/.git/config", "x/a.csv"], staging)
    fs = s3_server.filesystem()
    for obj in (staging / "objects").rglob("*"):
        if obj.is_file():
            rel = obj.relative_to(staging).as_posix()
            fs.pipe(f"{url.removeprefix('s3://')}/{rel}", obj.read_bytes())
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "--local", "s3", "access_key_id", key).code == 0
    assert tether("remote", "modify", "--local", "s3", "secret_access_key", secret).code == 0
    commit_pointer(repo, "data.tether", pointer_text("data", digest=digest, files=files))
    for _, r in unchanged_after(repo, sentinel, tether, ("pull",), ("checkout",)):
        one_line_error(r, "data", "stands for .git")
    assert not (repo / "data").exists()


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_params_linked_to_a_device_is_refused(pipeline_repo, sentinel, target):
    root = pipeline_repo
    (root / "params.yaml").unlink()
    os.symlink(target, root / "params.yaml")
    commit_all(root)
    commands = [("params", "show"), ("status",), ("repro", "--dry"), ("params", "diff", "HEAD")]
    for _, r in bounded_commands(root, sentinel, *commands):
        assert r.code not in (0, 3), (r.code, r.out, r.err)
        assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
        assert "params.yaml" in r.err, r.err
