"""Talking to git leaves nothing running: every git process tether starts
has ended by the time the call returns (a long-lived process, such as the
Python API or a queue worker, must not collect them)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import git, run_cli
from tether import gitscm


def _children() -> list[str]:
    kids: list[str] = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            kids += f.read().split()
    names = []
    for pid in kids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                names.append(f.read().replace(b"\0", b" ").decode())
        except FileNotFoundError:
            continue
    return names


def test_ref_heads_peels_tags_and_leaves_no_git_process(tmp_path: Path):
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert gitscm.ref_heads(root) == {}  # no commit yet: no HEAD either
    git(root, "commit", "-q", "--allow-empty", "-m", "one")
    first = git(root, "rev-parse", "HEAD").strip()
    git(root, "tag", "-a", "v1", "-m", "annotated")
    git(root, "tag", "light")
    git(root, "tag", "-a", "v1-again", "-m", "a tag of a tag", "v1")
    tree = git(root, "rev-parse", "HEAD^{tree}").strip()
    git(root, "tag", "a-tree", tree)  # names no commit: left out
    git(root, "commit", "-q", "--allow-empty", "-m", "two")
    second = git(root, "rev-parse", "HEAD").strip()
    before = _children()

    refs = gitscm.ref_heads(root)

    assert refs == {
        "refs/heads/main": second,
        "refs/tags/v1": first,
        "refs/tags/light": first,
        "refs/tags/v1-again": first,
        "HEAD": second,
    }
    assert [c for c in _children() if c.startswith("git")] == [
        c for c in before if c.startswith("git")
    ]


def test_tether_in_a_git_hook_environment_acts_on_its_own_repository(repo, tmp_path):
    """A hook (or a shell) may export GIT_DIR / GIT_INDEX_FILE of another repository:
    tether's git still works on the repository tether runs in."""
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (repo / "data.csv").write_text("a,b\n1,2\n")
    hook_env = {
        "GIT_DIR": str(other / ".git"),
        "GIT_INDEX_FILE": str(other / ".git" / "index"),
        "GIT_WORK_TREE": str(other),
    }
    r = run_cli(repo, "add", "data.csv", env=hook_env)
    assert r.returncode == 0, r.stderr
    staged = git(repo, "diff", "--cached", "--name-only").split()
    assert "data.csv.tether" in staged
    assert git(other, "ls-files") == ""  # nothing landed in the other repository
