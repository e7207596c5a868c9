"""A cloned repository is hostile input: whatever it commits under ``.tether/``
(symlinks, folders, a local config), in its config (a cache outside, fsspec
options that write locally), no tether command may write, delete or follow
anything outside the workspace. Each case builds the repository for real,
clones it with git, and compares a sentinel folder outside before and after."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git, snapshot, write

COMMANDS = {
    "pull": ["pull"],
    "checkout": ["checkout"],
    "add": ["add", "new.txt"],
    "status": ["status"],
    "gc": ["gc", "-f"],
    "fsck": ["fsck"],
    "repro": ["repro", "--dry"],
    "push": ["push"],
}
PIPELINE = """schema: 1
stages:
  copy:
    cmd: cp data/a.txt out.txt
    deps: [data]
    outs: [out.txt]
"""
DAY = 24 * 3600


def _old(path: Path, content: str) -> None:
    write(path, content)
    then = time.time() - 3 * DAY
    os.utime(path, (then, then))


def _clear(path: Path) -> Path:
    """Make room for a planted entry where the origin's own file or folder is."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    for parent in reversed(path.parents):
        if parent.is_file():
            parent.unlink()  # a folder takes the place of the origin's file
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _link(origin: Path, rel: str, target: Path) -> str:
    os.symlink(target, _clear(origin / rel))
    return rel


def _plant(origin: Path, rel: str, content: str) -> str:
    write(_clear(origin / rel), content)
    return rel


def _config(origin: Path, text: str) -> str:
    write(origin / ".tether/config.yaml", text)
    return ".tether/config.yaml"


def _remote_config(remote: Path, extra: str) -> str:
    return f"schema: 1\ncore: {{remote: store}}\nremotes:\n  store: {{{extra}}}\n"


# name -> (plant(origin, outside, remote) -> the path to commit, the word the refusal names)
Plant = Callable[[Path, Path, Path], str]
PLANTS: dict[str, tuple[Plant, str]] = {
    "lock symlink": (lambda o, out, r: _link(o, ".tether/tmp/lock", out / "target.txt"), "lock"),
    "state.db symlink": (
        lambda o, out, r: _link(o, ".tether/tmp/state.db", out / "target.txt"),
        "state.db",
    ),
    "state.db journal symlink": (
        lambda o, out, r: _link(o, ".tether/tmp/state.db-journal", out / "target.txt"),
        "state.db-journal",
    ),
    "clone id symlink": (
        lambda o, out, r: _link(o, ".tether/clone-id", out / "target.txt"),
        "clone-id",
    ),
    "tmp symlink": (lambda o, out, r: _link(o, ".tether/tmp", out), ".tether/tmp"),
    "cache symlink": (lambda o, out, r: _link(o, ".tether/cache", out), ".tether/cache"),
    "fan-out symlink": (
        lambda o, out, r: _link(o, ".tether/cache/objects/ab", out),
        ".tether/cache/objects/ab",
    ),
    "lock folder": (lambda o, out, r: _plant(o, ".tether/tmp/lock/x", "x"), "lock"),
    "local config committed": (
        lambda o, out, r: _plant(o, ".tether/config.local.yaml", f"cache: {{dir: {out}}}\n"),
        "config.local.yaml",
    ),
    "config symlink": (
        lambda o, out, r: _link(o, ".tether/config.yaml", out / "conf.yaml"),
        ".tether/config.yaml is a symlink",
    ),
    "local config symlink": (
        lambda o, out, r: _link(o, ".tether/config.local.yaml", out / "conf.yaml"),
        "config.local.yaml",
    ),
    "cache.dir parent": (
        lambda o, out, r: _config(o, "schema: 1\ncache: {dir: ..}\n"),
        "cache.dir",
    ),
    "cache.dir absolute": (
        lambda o, out, r: _config(o, f"schema: 1\ncache: {{dir: {out}}}\n"),
        "cache.dir",
    ),
    "cache.dir home": (lambda o, out, r: _config(o, "schema: 1\ncache: {dir: ~/c}\n"), "cache.dir"),
    "cache.dir env": (
        lambda o, out, r: _config(o, "schema: 1\ncache: {dir: $HOME/c}\n"),
        "cache.dir",
    ),
    "cache.dir escaping": (
        lambda o, out, r: _config(o, "schema: 1\ncache: {dir: sub/../../../x}\n"),
        "cache.dir",
    ),
}
# remotes: harmless to every command but those that open the remote
REMOTE_PLANTS: dict[str, tuple[Callable[[Path, Path], str], str]] = {
    "filecache chain": (
        lambda out, r: _remote_config(
            r, f"url: 'filecache://{r}', target_protocol: file, cache_storage: '{out}'"
        ),
        "filecache://",
    ),
    "simplecache chain": (
        lambda out, r: _remote_config(r, f"url: 'simplecache::file://{r}', cache_storage: '{out}'"),
        "simplecache://",
    ),
    "memory": (lambda out, r: _remote_config(r, "url: 'memory://x'"), "memory://"),
    "reference": (lambda out, r: _remote_config(r, "url: 'reference://x'"), "reference://"),
    "local protocol": (lambda out, r: _remote_config(r, f"url: 'local://{out}'"), "local://"),
    "file option": (
        lambda out, r: _remote_config(r, f"url: '{r}', cache_storage: '{out}'"),
        "cache_storage",
    ),
    "s3 client_kwargs": (
        lambda out, r: _remote_config(
            r, "url: 's3://b/p', client_kwargs: {endpoint_url: 'http://127.0.0.1:9'}"
        ),
        "client_kwargs",
    ),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A project with tracked data and a pipeline, pushed to a local remote
    (built once; each test plants into its own copy)."""
    from tether.cli.app import invoke

    top = tmp_path_factory.mktemp("pristine")
    origin, remote = top / "origin", top / "remote"
    origin.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(origin)
        for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
            mp.setenv(f"{key}_NAME", "Test")
            mp.setenv(f"{key}_EMAIL", "test@example.invalid")
        git(origin, "init", "-q", "-b", "main")
        write(origin / "data/a.txt", "hello")
        write(origin / "tether.yaml", PIPELINE)
        for args in (
            ["init"],
            ["add", "data"],
            ["remote", "add", "store", str(remote), "--default"],
            ["push"],
        ):
            assert invoke(args, catch_bugs=False) == 0
        git(origin, "add", "-A")
        git(origin, "commit", "-qm", "data")
    return origin, remote


def _origin(tmp_path: Path, pristine: tuple[Path, Path]) -> tuple[Path, Path]:
    origin = tmp_path / "origin"
    shutil.copytree(pristine[0], origin, symlinks=True)
    return origin, pristine[1]


def _clone(tmp_path: Path, origin: Path, outside: Path) -> tuple[Path, dict[str, bytes]]:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    os.chdir(clone)
    write(clone / "new.txt", "new")
    _old(clone / "tmp/results.csv", "the user's results")  # what `cache.dir: ..` swept
    before = {**snapshot(outside), **{f"ws/{k}": v for k, v in snapshot(clone / "tmp").items()}}
    return clone, before


def _after(clone: Path, outside: Path) -> dict[str, bytes]:
    return {**snapshot(outside), **{f"ws/{k}": v for k, v in snapshot(clone / "tmp").items()}}


@pytest.fixture
def outside(tmp_path, monkeypatch):
    top = tmp_path / "outside"
    write(top / "target.txt", "precious")
    write(top / "conf.yaml", f"cache: {{dir: {top}}}\n")
    _old(top / "tmp/old.csv", "old but precious")
    (top / "home").mkdir()
    monkeypatch.setenv("HOME", str(top / "home"))
    return top


def _one_error_line(err: str, word: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert word in lines[0], err


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("plant", list(PLANTS))
def test_hostile_tether_folder_or_config_is_refused(
    tmp_path, tether, pristine, outside, plant, command
):
    origin, remote = _origin(tmp_path, pristine)
    setup, word = PLANTS[plant]
    git(origin, "add", "-f", setup(origin, outside, remote))
    git(origin, "commit", "-qm", "hostile")
    clone, before = _clone(tmp_path, origin, outside)
    r = tether(*COMMANDS[command])
    assert r.code == 1, r
    _one_error_line(r.err, word)
    assert _after(clone, outside) == before


@pytest.mark.parametrize("command", ["pull", "push", "fetch", "status --remote"])
@pytest.mark.parametrize("plant", list(REMOTE_PLANTS))
def test_committed_remote_options_that_write_locally_are_refused(
    tmp_path, tether, pristine, outside, plant, command
):
    origin, remote = _origin(tmp_path, pristine)
    text, word = REMOTE_PLANTS[plant]
    _config(origin, text(outside, remote))
    git(origin, "commit", "-qam", "hostile remote")
    clone, before = _clone(tmp_path, origin, outside)
    r = tether(*command.split())
    assert r.code == 1, r
    _one_error_line(r.err, word)
    assert "--local" in r.err
    assert _after(clone, outside) == before


def test_the_same_options_from_local_config_are_the_users_choice(
    tmp_path, tether, pristine, outside
):
    origin, remote = _origin(tmp_path, pristine)
    clone, _ = _clone(tmp_path, origin, outside)
    store = outside / "filecache"
    opts = {"url": f"filecache://{remote}", "target_protocol": "file", "cache_storage": str(store)}
    for option, value in opts.items():
        assert tether("remote", "modify", "--local", "store", option, value).code == 0
    assert tether("pull").code == 0
    assert (clone / "data/a.txt").read_text() == "hello"
    assert store.is_dir()  # fsspec's cache, where this machine's config put it


def test_a_clean_clone_runs_every_command(tmp_path, tether, pristine, outside):
    """The control: without a plant, the same commands succeed."""
    origin, _ = _origin(tmp_path, pristine)
    clone, before = _clone(tmp_path, origin, outside)
    for args in COMMANDS.values():
        r = tether(*args)
        assert r.code == 0, (args, r)
    assert _after(clone, outside) == before


def test_committing_a_foreign_remote_option_is_refused_up_front(repo, tether, tmp_path):
    assert tether("remote", "add", "store", str(tmp_path / "r"), "--default").code == 0
    r = tether("remote", "modify", "store", "cache_storage", str(tmp_path / "x"))
    assert r.code == 1 and "--local" in r.err and "not written" in r.err
    r = tether("remote", "add", "c", f"simplecache::file://{tmp_path}")
    assert r.code == 1 and "--local" in r.err
    r = tether("config", "remotes.store.cache_storage", str(tmp_path / "x"))
    assert r.code == 1 and "--local" in r.err
    assert "cache_storage" not in (repo / ".tether/config.yaml").read_text()
    assert tether("remote", "modify", "--local", "store", "cache_storage", "/x").code == 0


def test_dot_tether_itself_a_committed_symlink_is_refused(tmp_path, tether, pristine, outside):
    origin, _ = _origin(tmp_path, pristine)
    shutil.copytree(origin / ".tether", outside / "dot")
    git(origin, "rm", "-rq", "--cached", ".tether")
    shutil.rmtree(origin / ".tether")
    os.symlink(outside / "dot", origin / ".tether")
    git(origin, "add", ".tether")
    git(origin, "commit", "-qm", "hostile")
    clone, before = _clone(tmp_path, origin, outside)
    for args in COMMANDS.values():
        r = tether(*args)
        assert r.code == 1
        _one_error_line(r.err, ".tether")
    assert _after(clone, outside) == before


@pytest.mark.parametrize("kind", ["folder", "fifo", "symlink"])
def test_a_lock_that_is_no_file_is_one_clear_line(repo, tether, tmp_path, kind):
    lock = repo / ".tether/tmp/lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.unlink(missing_ok=True)
    target = write(tmp_path / "target.txt", "precious")
    {
        "folder": lock.mkdir,
        "fifo": lambda: os.mkfifo(lock),
        "symlink": lambda: lock.symlink_to(target),
    }[kind]()
    write(repo / "a.txt", "a")
    r = tether("add", "a.txt")
    assert r.code == 1
    _one_error_line(r.err, f".tether/tmp/lock is a {'FIFO' if kind == 'fifo' else kind}")
    assert target.read_text() == "precious"


def test_a_linked_cache_must_be_configured_on_this_machine(repo, tether, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    shutil.rmtree(repo / ".tether/cache", ignore_errors=True)
    os.symlink(disk, repo / ".tether/cache")
    write(repo / "a.txt", "a")
    r = tether("add", "a.txt")
    assert r.code == 1
    _one_error_line(r.err, ".tether/cache is a symlink")
    assert list(disk.iterdir()) == []
    (repo / ".tether/cache").unlink()
    assert tether("cache", "dir", "--local", str(disk)).code == 0
    assert tether("add", "a.txt").code == 0
    assert (disk / "objects").is_dir()


def test_the_cache_location_comes_from_this_machine(repo, tether, tmp_path, monkeypatch):
    r = tether("cache", "dir", str(tmp_path / "shared"))  # would be committed
    assert r.code == 1 and "--local" in r.err and "TETHER_CACHE_DIR" in r.err
    assert "shared" not in (repo / ".tether/config.yaml").read_text()
    assert tether("cache", "dir", "mycache").code == 0  # inside .tether/: fine to commit
    write(repo / "a.txt", "a")
    assert tether("add", "a.txt").code == 0
    assert (repo / ".tether/mycache/objects").is_dir()
    assert git(repo, "status", "--porcelain", "--", ".tether") == " M .tether/config.yaml\n"
    monkeypatch.setenv("TETHER_CACHE_DIR", str(tmp_path / "env-cache"))
    assert tether("cache", "dir").out.strip() == str(tmp_path / "env-cache")
    write(repo / "b.txt", "b")
    assert tether("add", "b.txt").code == 0
    assert (tmp_path / "env-cache/objects").is_dir()


def test_init_keeps_everything_but_the_project_config_out_of_git(repo):
    names = [".tether/tmp/lock", ".tether/cache/x", ".tether/config.local.yaml", ".tether/other"]
    ignored = git(repo, "check-ignore", *names, ".tether/config.yaml")
    assert ignored.split() == names


def test_a_remote_whose_library_cannot_load_names_what_it_needs(repo, tether, monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.setenv("JAVA_HOME", str(repo / "no-java"))  # HDFS needs Java's libjvm
    assert tether("remote", "add", "h", "hdfs://127.0.0.1:9/x", "--default").code == 0
    write(repo / "a.txt", "a")
    assert tether("add", "a.txt").code == 0
    r = tether("push")
    assert r.code == 1
    _one_error_line(r.err, "remote 'h'")
    assert "pyarrow" in r.err and "java" in r.err


def test_a_linked_fan_out_folder_is_never_written_or_swept(repo, tether, tmp_path):
    from tether.storage.hashing import hash_bytes

    outside = tmp_path / "outside"
    write(outside / ("e" * 62), "a file named like an object")
    os.utime(outside / ("e" * 62), (time.time() - 3 * DAY,) * 2)
    write(repo / "a.txt", "a")
    digest = hash_bytes(b"a")
    objects = repo / ".tether/cache/objects"
    objects.mkdir(parents=True)
    os.symlink(outside, objects / digest[:2])
    os.symlink(outside, objects / "ee")
    r = tether("add", "a.txt")
    assert r.code == 1
    _one_error_line(r.err, "is a symlink")
    (objects / digest[:2]).unlink()
    assert tether("add", "a.txt").code == 0
    assert tether("gc", "-f", "-w").code == 0
    assert tether("fsck").code == 0
    assert sorted(p.name for p in outside.iterdir()) == ["e" * 62]
