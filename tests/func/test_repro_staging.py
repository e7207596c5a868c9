"""What `repro` stages in git: tether.lock and, with it, the outputs kept in
git (metrics files from `-M`, `-O` outputs), so one commit holds both."""

from __future__ import annotations

import sys

from tests.conftest import git, write

SCRIPT = (
    "import json, pathlib\n"
    "pathlib.Path('model.bin').write_text('weights')\n"
    "json.dump({'acc': 0.9}, open('metrics.json', 'w'))\n"
    "pathlib.Path('report.txt').write_text('fine')\n"
)


def _staged(root) -> set[str]:
    return set(git(root, "diff", "--cached", "--name-only").split())


def test_repro_stages_outputs_kept_in_git_with_the_lock(repo, tether):
    write(repo / "train.py", SCRIPT)
    r = tether(
        "stage", "add", "train", "-d", "train.py", "-o", "model.bin",
        "-M", "metrics.json", "-O", "report.txt", f"{sys.executable} train.py",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert tether("repro").code == 0
    staged = _staged(repo)
    assert {"tether.lock", "metrics.json", "report.txt", ".gitignore"} <= staged, staged
    assert "model.bin" not in staged  # cached: in .gitignore, not in git
    git(repo, "commit", "-qm", "trained")
    assert "metrics.json" not in git(repo, "status", "--porcelain")  # nothing left behind


def test_an_output_the_user_ignores_stays_out_of_git(repo, tether):
    write(repo / "train.py", SCRIPT)
    write(repo / ".gitignore", "report.txt\n")
    r = tether(
        "stage", "add", "train", "-o", "model.bin", "-M", "metrics.json", "-O", "report.txt",
        f"{sys.executable} train.py",
    )  # fmt: skip
    assert r.code == 0, r.err
    r = tether("repro")
    assert r.code == 0, r.err
    staged = _staged(repo)
    assert "metrics.json" in staged and "report.txt" not in staged


def test_adding_a_stage_from_python_stages_tether_yaml_like_the_cli(repo, tether):
    from tether.pipeline.edit import add_stage
    from tether.repo import Repo

    add_stage(
        Repo.find(), "make", "echo hi > out.txt", [], [], ["out.txt"], [], [], [], None, False
    )
    assert "tether.yaml" in git(repo, "diff", "--cached", "--name-only").split()
    assert tether("config", "core.autostage", "false").code == 0
    git(repo, "commit", "-qm", "stage")
    assert tether("stage", "add", "other", "true").code == 0
    assert "tether.yaml" not in git(repo, "diff", "--cached", "--name-only").split()
