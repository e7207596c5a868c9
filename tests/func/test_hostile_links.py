"""A clone never reaches outside the workspace through a path it names.

A cloned repository commits symlinks and pointer, pipeline, lock, params,
metrics and .gitignore files whose paths go through them: into ``.git/``
(whose config runs commands), into ``.tether/`` (whose local config moves the
cache), onto files git tracks, or out of the workspace to a secret. Each case
builds the repository for real (git commits, a ``git clone``, a local folder
remote holding the content), runs the commands a user would, and checks that
each ends with one ``error:`` line and exit 1, prints no secret, and changes
nothing outside the workspace, in ``.git/`` or in ``.tether/``.

Out of scope: a symlink swapped in between tether's check and its write (a
local attacker racing the command, not a clone)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git, snapshot, write
from tether.storage import hashing, tree

SECRET = "SECRET-7f3a9c"
PAYLOAD = "payload that must land nowhere"
PIPELINE = """schema: 1
stages:
  make:
    cmd: python -c "open('out.txt', 'w').write('out')"
    outs: [out.txt]
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A project tracking ``f.txt`` (the payload a hostile pointer reuses) and
    ``data/``, with README.md in git, pushed to a local folder remote."""
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
        write(origin / "README.md", "honest readme\n")
        write(origin / "f.txt", PAYLOAD)
        write(origin / "data/a.txt", "a")
        for args in (
            ["init"],
            ["add", "f.txt", "data"],
            ["remote", "add", "store", str(remote), "--default"],
            ["push"],
        ):
            assert invoke(args, catch_bugs=False) == 0
        git(origin, "add", "-A")
        git(origin, "commit", "-qm", "data")
    return origin, remote


@pytest.fixture
def outside(tmp_path):
    top = tmp_path / "outside"
    write(top / "target.txt", "precious")
    write(top / "secret.yaml", f"token: {SECRET}\n")
    return top


def pointer_text(path: str, digest: str, size: int, kind: str = "file") -> str:
    files = "files: 1\n" if kind == "dir" else ""
    return (
        f"schema: 1\npath: {path}\nkind: {kind}\nhash: {hashing.ALGORITHM}\n"
        f"digest: {digest}\nsize: {size}\n{files}"
    )


def payload_pointer(path: str) -> str:
    return pointer_text(path, hashing.hash_bytes(PAYLOAD.encode()), len(PAYLOAD))


def link(origin: Path, name: str, target: str) -> Path:
    full = origin / name
    full.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, full)
    return full


def protected(clone: Path, outside: Path) -> dict[str, bytes]:
    """What no command may change: the folder outside, git's config, hooks and
    info, tether's own config files, and every file git tracks."""
    found = {f"outside/{k}": v for k, v in snapshot(outside).items()}
    for name in ("config", "HEAD", "description", "hooks", "info"):
        p = clone / ".git" / name
        if p.is_dir():
            found.update({f".git/{name}/{k}": v for k, v in snapshot(p).items()})
        elif p.is_file():
            found[f".git/{name}"] = p.read_bytes()
    found.update({f".git/{k}": b"" for k in os.listdir(clone / ".git")})
    for p in sorted((clone / ".tether").iterdir()):
        if p.is_file() or p.is_symlink():
            found[f".tether/{p.name}"] = p.read_bytes() if p.is_file() else b"link"
    for name in git(clone, "ls-files", "-z").split("\0"):
        p = clone / name
        if name and not p.is_symlink() and p.is_file():
            found[name] = p.read_bytes()
    found["index:.gitignore"] = git(clone, "ls-files", "-s", "--", ".gitignore").encode()
    return found


def hostile_clone(tmp_path: Path, pristine: tuple[Path, Path], build: Callable[[Path], object]):
    """A copy of the pristine origin with ``build`` applied and committed, cloned
    with git, its cache filled (so checkout could write), the current folder."""
    origin = tmp_path / "origin"
    shutil.copytree(pristine[0], origin, symlinks=True)
    build(origin)
    git(origin, "add", "-A")
    links = [
        p.relative_to(origin).as_posix()
        for p in origin.rglob("*")
        if p.is_symlink() and p.relative_to(origin).parts[0] not in (".git", ".tether")
    ]
    if links:
        git(origin, "add", "-f", "--", *links)  # also where a .gitignore leaves it out
    git(origin, "commit", "-qm", "hostile", "--allow-empty")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    shutil.copytree(
        origin / ".tether/cache", clone / ".tether/cache", symlinks=True, dirs_exist_ok=True
    )
    write(clone / "new.txt", "new")
    os.chdir(clone)
    return clone


def refused(r, *needles: str) -> None:
    assert r.code == 1, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    for needle in needles:
        assert needle in r.err, r.err
    assert SECRET not in r.out + r.err


def run_all(tether, clone: Path, outside: Path, commands: list[str], *needles: str) -> None:
    before = protected(clone, outside)
    for command in commands:
        r = tether(*command.split())
        refused(r, *needles)
        assert protected(clone, outside) == before, command


# name -> (symlinks to commit {name: target}, the path the hostile pointer names)
LINKS: dict[str, tuple[dict[str, str], str]] = {
    "link to .git": ({"lnk": ".git"}, "lnk/config"),
    "link to .git/hooks": ({"hk": ".git/hooks"}, "hk/pre-commit"),
    "link to .tether": ({"lnk": ".tether"}, "lnk/config.local.yaml"),
    "link to the workspace": ({"here": "."}, "here/README.md"),
    "deep link to .git": ({"a/b/lnk": "../../.git"}, "a/b/lnk/info/exclude"),
    "chain of links to .git": ({"l1": "l2", "l2": ".git"}, "l1/config"),
    "link to .GIT": ({"lnk": ".GIT"}, "lnk/config"),
    "link to a folder inside": ({"sub": "data"}, "sub/new.bin"),
    "link to outside": ({"out": "{outside}"}, "out/target.txt"),
    "final name links into .git": ({"cfg": ".git/config"}, "cfg"),
    "final name links to a git-tracked file": ({"rd": "README.md"}, "rd"),
    ".GIT as written": ({}, ".GIT/config"),
    "loop of links": ({"l1": "l2", "l2": "l1"}, "l1/x"),
}


@pytest.mark.parametrize("case", list(LINKS))
def test_pointer_paths_through_links_are_refused(tmp_path, tether, pristine, outside, case):
    links, path = LINKS[case]

    def build(origin: Path) -> None:
        for name, target in links.items():
            link(origin, name, target.format(outside=outside))
        write(origin / "evil.tether", payload_pointer(path))

    clone = hostile_clone(tmp_path, pristine, build)
    run_all(tether, clone, outside, ["pull", "checkout", "status", "fetch"], "evil.tether")
    assert not (clone / ".git/hooks/pre-commit").exists()


def test_stage_output_through_a_link_into_git_is_refused(tmp_path, tether, pristine, outside):
    """A pipeline whose cached output goes through ``lnk -> .git``, with a
    tether.lock recording the payload as that output."""

    def build(origin: Path) -> None:
        link(origin, "lnk", ".git")
        write(origin / "tether.yaml", PIPELINE.replace("out.txt", "lnk/info2"))
        digest = hashing.hash_bytes(PAYLOAD.encode())
        write(
            origin / "tether.lock",
            "schema: 1\nstages:\n  make:\n    cmd: x\n    deps: []\n    outs:\n"
            f"    - {{path: lnk/info2, kind: file, hash: {hashing.ALGORITHM}, "
            f"digest: {digest}, size: {len(PAYLOAD)}}}\n",
        )

    clone = hostile_clone(tmp_path, pristine, build)
    run_all(tether, clone, outside, ["pull", "checkout", "status", "repro"], "lnk")
    assert not (clone / ".git/info2").exists()


def test_a_git_tracked_link_inside_a_tracked_folder_is_refused(tmp_path, tether, pristine, outside):
    """A symlinked folder deep in a tracked folder's tree path."""
    clone = hostile_clone(tmp_path, pristine, lambda o: link(o, "data/sub", "../.git"))
    run_all(tether, clone, outside, ["pull", "checkout", "status"], "data")


# name -> (committed .gitignore to replace, link target)
GITIGNORES = {
    "root .gitignore to a secret": (".gitignore", "{outside}/secret.yaml"),
    "root .gitignore into .git": (".gitignore", ".git/config"),
    "folder .gitignore to a secret": ("data2/.gitignore", "{outside}/secret.yaml"),
}


@pytest.mark.parametrize("case", list(GITIGNORES))
def test_a_symlinked_gitignore_is_neither_read_nor_replaced(
    tmp_path, tether, pristine, outside, case
):
    name, target = GITIGNORES[case]

    def build(origin: Path) -> None:
        if name == ".gitignore":  # what it ignored goes too, or git would commit it
            for p in (".gitignore", "f.txt", "data"):
                shutil.rmtree(origin / p) if p == "data" else os.unlink(origin / p)
        write(origin / "data2/keep.txt", "kept in git")
        link(origin, name, target.format(outside=outside))

    clone = hostile_clone(tmp_path, pristine, build)
    write(clone / "data2/new.txt", "new")
    if name == ".gitignore":
        run_all(tether, clone, outside, ["add new.txt", "remove f.txt", "init"], name)
        write(clone / "tether.yaml", PIPELINE)
        run_all(tether, clone, outside, ["repro"], name)
    else:
        run_all(tether, clone, outside, ["add data2/new.txt"], name)
    assert (clone / name).is_symlink()
    assert git(clone, "ls-files", "-s", "--", name).startswith("120000")  # still the link


def local_secret(clone: Path) -> None:
    write(clone / ".tether/config.local.yaml", f"remotes:\n  store: {{token: {SECRET}}}\n")


# name -> (build the origin, command, what the refusal names)
READS: dict[str, tuple[Callable[[Path, Path], object], str, str]] = {
    "params.yaml outside": (
        lambda o, out: link(o, "params.yaml", f"{out}/secret.yaml"),
        "params show",
        "params.yaml",
    ),
    "params.yaml into .tether": (
        lambda o, out: link(o, "params.yaml", ".tether/config.local.yaml"),
        "params show",
        "params.yaml",
    ),
    "metrics file into .tether": (
        lambda o, out: (
            link(o, "m.yaml", ".tether/config.local.yaml"),
            write(o / "tether.yaml", PIPELINE + "    metrics: [m.yaml]\n"),
        ),
        "metrics show",
        "m.yaml",
    ),
    "stage params file into .tether": (
        lambda o, out: (
            link(o, "p.yaml", ".tether/config.local.yaml"),
            write(o / "tether.yaml", PIPELINE + "    params: [{p.yaml: }]\n"),
        ),
        "params show",
        "p.yaml",
    ),
    "tether.yaml outside": (
        lambda o, out: (
            write(out / "pipeline.yaml", f"stages:\n  s: {{cmd: echo {SECRET}}}\n"),
            link(o, "tether.yaml", f"{out}/pipeline.yaml"),
        ),
        "repro --dry",
        "tether.yaml",
    ),
    "tether.lock into .git": (
        lambda o, out: (write(o / "tether.yaml", PIPELINE), link(o, "tether.lock", ".git/config")),
        "status",
        "tether.lock",
    ),
    "stage wdir into .git": (
        lambda o, out: (
            link(o, "lnk", ".git"),
            write(o / "tether.yaml", PIPELINE + "    wdir: lnk\n"),
        ),
        "repro --dry",
        "lnk",
    ),
    "stage deps into .tether": (
        lambda o, out: (
            link(o, "lnk", ".tether"),
            write(o / "tether.yaml", PIPELINE + "    deps: [lnk/config.local.yaml]\n"),
        ),
        "status",
        "lnk",
    ),
    "pointer file into .tether": (
        lambda o, out: link(o, "x.tether", ".tether/config.local.yaml"),
        "status",
        "x.tether",
    ),
}


@pytest.mark.parametrize("case", list(READS))
def test_files_read_through_links_out_of_bounds_are_refused(
    tmp_path, tether, pristine, outside, case
):
    build, command, word = READS[case]
    clone = hostile_clone(tmp_path, pristine, lambda o: build(o, outside))
    local_secret(clone)
    run_all(tether, clone, outside, [command], word)


def test_a_path_typed_through_a_link_into_git_is_refused(tmp_path, tether, pristine, outside):
    """The user's own command line goes through the same gate: ``add lnk/config``
    would write its pointer file into .git/."""
    clone = hostile_clone(tmp_path, pristine, lambda o: link(o, "lnk", ".git"))
    run_all(tether, clone, outside, ["add lnk/config", "add lnk"], "lnk")
    assert not (clone / ".git/config.tether").exists()


LONG = "a" * 300


def test_a_pointer_name_too_long_is_one_error(tmp_path, tether, pristine, outside):
    clone = hostile_clone(
        tmp_path, pristine, lambda o: write(o / "long.tether", payload_pointer(LONG))
    )
    run_all(tether, clone, outside, ["status", "pull", "checkout"], "long.tether", "255")


def test_a_tree_entry_too_long_is_one_error(tmp_path, tether, pristine, outside):
    remote = pristine[1]
    digest = hashing.hash_bytes(PAYLOAD.encode())
    data = tree.serialize([[f"x/{LONG}", digest, len(PAYLOAD), False]])
    tree_digest = hashing.hash_bytes(data)
    obj = remote / "objects" / tree_digest[:2] / tree_digest[2:]
    if not obj.exists():
        write(obj, data)

    def build(origin: Path) -> None:
        write(origin / "t.tether", pointer_text("t", tree_digest, len(PAYLOAD), "dir"))

    clone = hostile_clone(tmp_path, pristine, build)
    run_all(tether, clone, outside, ["pull"], "255")
    assert not (clone / "t").exists()


# name -> (hostile pointer file, its path, the other file the refusal names)
OVERLAPS = {
    "inside another pointer's file": ("over.tether", "f.txt/inner", "f.txt.tether"),
    "the same path as another pointer": ("dup.tether", "f.txt", "f.txt.tether"),
    "inside another pointer's folder": ("deep.tether", "data/a.txt", "data.tether"),
    "under a git-tracked file": ("evil.tether", "README.md/x", "README.md"),
}


@pytest.mark.parametrize("case", list(OVERLAPS))
def test_overlapping_pointers_are_refused_before_anything_is_written(
    tmp_path, tether, pristine, outside, case
):
    source, path, other = OVERLAPS[case]
    clone = hostile_clone(tmp_path, pristine, lambda o: write(o / source, payload_pointer(path)))
    run_all(tether, clone, outside, ["pull", "checkout", "status"], source, other)
    assert not (clone / "f.txt").exists() and not (clone / "data").exists()


def test_a_pointer_under_a_deleted_git_tracked_file_is_refused(tmp_path, tether, pristine, outside):
    clone = hostile_clone(
        tmp_path, pristine, lambda o: write(o / "evil.tether", payload_pointer("README.md/x"))
    )
    (clone / "README.md").unlink()
    run_all(tether, clone, outside, ["checkout"], "evil.tether", "README.md")
    assert not (clone / "README.md").exists()


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_links_tether_made_itself_stay_usable(repo, tether, tmp_path, monkeypatch, where):
    """With ``cache.link: symlink`` a tracked path is tether's own link into the
    cache, wherever the cache is: the final name is never judged by where it
    points, and a cached metrics file is read through it."""
    if where == "outside":
        monkeypatch.setenv("TETHER_CACHE_DIR", str(tmp_path / "cache"))
    assert tether("config", "cache.link", "symlink").code == 0
    write(repo / "a.bin", "data")
    write(repo / "src.json", '{"acc": 1}')
    write(repo / "tether.yaml", "stages:\n  make:\n    cmd: cp src.json m.json\n")
    with (repo / "tether.yaml").open("a") as f:
        f.write("    deps: [src.json]\n    metrics: [m.json]\n")
    assert tether("add", "a.bin").code == 0
    assert tether("repro").code == 0
    assert (repo / "a.bin").is_symlink() and (repo / "m.json").is_symlink()
    r = tether("status")
    assert r.code == 0, r.err
    (repo / "a.bin").unlink()
    assert tether("checkout").code == 0
    assert (repo / "a.bin").read_text() == "data"
    r = tether("metrics", "show")
    assert r.code == 0 and "m.json" in r.out, r
