"""Experiments: isolated runs recorded on refs outside branches, compared,
applied and branched, with a real git repository and a pipeline of Python scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git, snapshot, write
from tests.func.conftest import PY, TRAIN
from tests.func.conftest import exp_run as _exp_run
from tests.func.conftest import exp_show as _show


def _user_files(root: Path) -> dict[str, bytes]:
    """The checkout as the user sees it: everything outside .git/ and .tether/."""
    return {k: v for k, v in snapshot(root).items() if not k.startswith((".git/", ".tether/"))}


def _git_state(root: Path) -> tuple[str, bytes, str]:
    index = (root / ".git" / "index").read_bytes()
    status = git(root, "status", "--porcelain=v1", "--untracked-files=all")
    return status, index, git(root, "rev-parse", "HEAD").strip()


def test_run_is_isolated_and_records_the_dirty_state(proj: Path, tether) -> None:
    # a staged change, an unstaged change to code, and an untracked file
    write(proj / "raw.txt", "wxyz\n")
    git(proj, "add", "raw.txt")
    write(proj / "train.py", TRAIN + "# edited\n")
    write(proj / "notes.txt", "mine\n")
    before_files = _user_files(proj)
    before_git = _git_state(proj)
    [exp] = _exp_run(tether, "-S", "train.lr=0.5")
    assert _user_files(proj) == before_files  # byte for byte
    assert _git_state(proj) == before_git
    assert exp["state"] == "done" and exp["changed"] == {"params.yaml:train.lr": 0.5}
    assert exp["metrics"]["metrics.json"]["acc"] == 5.0  # 10 chars of the staged raw.txt
    # the commit holds the user's uncommitted code and the set param; its parent is HEAD
    commit = exp["commit"]
    assert git(proj, "rev-parse", f"{commit}^").strip() == before_git[2]
    assert git(proj, "show", f"{commit}:train.py").endswith("# edited\n")
    assert "lr: 0.5" in git(proj, "show", f"{commit}:params.yaml")
    assert "notes.txt" not in git(proj, "ls-tree", "-r", "--name-only", commit)
    assert git(proj, "for-each-ref", "--format=%(refname)", "refs/tether/exps/").strip() == (
        f"refs/tether/exps/{before_git[2]}/{exp['name']}"
    )
    assert not git(proj, "branch", "--list", "--format=%(refname)").count("tether")
    assert not (proj / ".tether/exps/work" / exp["name"]).exists()  # work tree removed
    assert "$ tether repro" in (proj / exp["log"]).read_text()


def test_set_param_keeps_yaml_types_and_expands_a_grid(proj: Path, tether) -> None:
    exps = _exp_run(
        tether, "-S", "train.lr=1,2.5", "--set-param", "params.yaml:train.mode=head,last"
    )
    assert len(exps) == 4
    changed = [tuple(e["changed"].values()) for e in exps]
    assert changed == [(1, "head"), (1, "last"), (2.5, "head"), (2.5, "last")]
    assert [e["metrics"]["metrics.json"]["lr_type"] for e in exps] == ["int"] * 2 + ["float"] * 2
    assert len({e["name"] for e in exps}) == 4
    # prepare did not change: its output is checked out from the cache, it is not rerun
    for e in exps:
        log = (proj / e["log"]).read_text()
        assert "stage prepare unchanged, skipped" in log and "running prepare" not in log
        assert "running train" in log
    # a configuration already run is restored from the run-cache, not run again
    [again] = _exp_run(tether, "-S", "train.lr=1", "-S", "train.mode=last", "--name", "again")
    assert again["name"] == "again" and again["state"] == "done"
    log = (proj / again["log"]).read_text()
    assert "restored train from the run-cache" in log and "running" not in log
    assert again["metrics"] == exps[1]["metrics"]


@pytest.mark.parametrize(
    ("arg", "expect"),
    [
        ("train.nope=1", "no key 'train.nope' in params.yaml"),
        ("train.lr", "expected [FILE:]KEY=VALUE"),
        ("train.lr=[1,", "is not a valid YAML value"),
        ("other.yaml:a=1", "other.yaml"),
    ],
)
def test_bad_set_param_is_one_line_and_runs_nothing(proj: Path, tether, arg, expect) -> None:
    r = tether("exp", "run", "-S", arg)
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0]
    assert not git(proj, "for-each-ref", "refs/tether/")
    assert not (proj / ".tether/exps").exists()


def test_set_param_in_an_untracked_file_is_refused(proj: Path, tether) -> None:
    write(proj / "extra.yaml", "a: 1\n")
    r = tether("exp", "run", "-S", "extra.yaml:a=2")
    assert r.code == 2 and "extra.yaml is not tracked by git" in r.err
    git(proj, "add", "extra.yaml")  # staged is enough: it is part of the starting point
    [exp] = _exp_run(tether, "-S", "extra.yaml:a=2")
    assert git(proj, "show", f"{exp['commit']}:extra.yaml") == "a: 2\n"


def test_failed_experiment_is_recorded_with_its_log(proj: Path, tether) -> None:
    r = tether("exp", "run", "-S", "train.fail=true", "--name", "boom")
    assert r.code == 1
    assert "boom: failed" in r.out
    [row] = [x for x in _show(tether)["rows"] if x["name"] == "boom"]
    assert row["state"] == "failed"
    assert "training blew up" in (proj / ".tether/exps/logs/boom.log").read_text()


def test_show_remove_branch_and_metrics_diff(proj: Path, tether) -> None:
    _exp_run(tether, "-S", "train.lr=0.3", "--name", "small")
    _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    doc = _show(tether, "--sort-by", "acc")
    assert [r["name"] for r in doc["rows"]] == ["HEAD", "small", "big"]
    assert doc["params"] == ["params.yaml:train.lr"]
    assert [r["params"]["params.yaml:train.lr"] for r in doc["rows"]] == [0.1, 0.3, 0.9]
    assert [r["metrics"]["metrics.json:acc"] for r in doc["rows"]] == [1.0, 3.0, 9.0]
    md = tether("exp", "show", "--md")
    assert md.code == 0 and "| big |" in md.out.replace("  ", " ")
    csv = tether("exp", "show", "--csv", "--only-changed")
    assert csv.out.splitlines()[0].startswith("Experiment,Baseline,params.yaml:train.lr")
    assert "lr_type" not in csv.out  # the same in every row
    assert tether("exp", "show", "--sort-by", "nope").code == 2
    # an experiment's name is a revision for metrics diff / params diff
    r = tether("metrics", "diff", "HEAD", "big", "--json")
    assert r.code == 0, r.err
    assert '"new": 9.0' in r.out
    assert "0.9" in tether("params", "diff", "small", "big").out
    # branch
    assert tether("exp", "branch", "big", "try-big").code == 0
    assert "lr: 0.9" in git(proj, "show", "try-big:params.yaml")
    assert tether("exp", "branch", "big", "try-big").code == 2
    bad = tether("exp", "branch", "big", "no..good")
    assert bad.code == 2 and "not a valid branch name" in bad.err
    # remove
    assert tether("exp", "remove", "small", "small").code == 0
    assert [r["name"] for r in _show(tether)["rows"]] == ["HEAD", "big"]
    assert tether("exp", "remove", "small").code == 2
    assert tether("exp", "remove", "--all").code == 0
    assert not git(proj, "for-each-ref", "refs/tether/")
    assert git(proj, "show", "try-big:params.yaml")  # the branch stays


def test_apply_refuses_to_overwrite_then_applies(proj: Path, tether) -> None:
    _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    write(proj / "params.yaml", "prepare: {n: 2}\ntrain: {lr: 0.2, mode: head, fail: false}\n")
    r = tether("exp", "apply", "big")
    assert r.code != 0 and "uncommitted changes to params.yaml" in r.err
    assert "lr: 0.2" in (proj / "params.yaml").read_text()  # untouched
    git(proj, "checkout", "params.yaml")
    assert tether("exp", "apply", "big").code == 0
    assert "lr: 0.9" in (proj / "params.yaml").read_text()
    assert (proj / "model.bin").read_text().startswith("0.9:head:")
    assert json.loads((proj / "metrics.json").read_text())["acc"] == 9.0
    assert tether("status").code == 0
    # the changes are left unstaged, for the user to commit or drop
    assert git(proj, "diff", "--cached", "--name-only") == ""
    assert set(git(proj, "diff", "--name-only").split()) >= {"params.yaml", "tether.lock"}


def test_apply_force_overwrites(proj: Path, tether) -> None:
    _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    write(proj / "params.yaml", "prepare: {n: 2}\ntrain: {lr: 0.2, mode: head, fail: false}\n")
    assert tether("exp", "apply", "big", "--force").code == 0
    assert "lr: 0.9" in (proj / "params.yaml").read_text()


def test_apply_writes_files_as_committed_and_never_through_a_symlink(
    proj: Path, tether, tmp_path: Path
) -> None:
    # an executable script and a file in a new folder, staged: part of the experiment
    write(proj / "tool.sh", "#!/bin/sh\necho hi\n")
    (proj / "tool.sh").chmod(0o755)
    write(proj / "sub" / "extra.txt", "from the experiment\n")
    git(proj, "add", "tool.sh", "sub/extra.txt")
    _exp_run(tether, "-S", "train.lr=0.4", "--name", "tools")
    git(proj, "rm", "-q", "--cached", "tool.sh", "sub/extra.txt")
    (proj / "tool.sh").unlink()
    (proj / "sub" / "extra.txt").unlink()
    (proj / "sub").rmdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (proj / "sub").symlink_to(outside)  # a folder link planted in the work tree
    r = tether("exp", "apply", "tools")
    assert r.code == 0, r.err
    assert (proj / "tool.sh").stat().st_mode & 0o111  # still executable
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert (proj / "sub" / "extra.txt").read_text() == "from the experiment\n"
    assert "lr: 0.4" in (proj / "params.yaml").read_text()


def test_experiments_survive_a_rebase_of_their_baseline(proj: Path, tether) -> None:
    _exp_run(tether, "-S", "train.lr=0.3", "--name", "before")
    old_head = git(proj, "rev-parse", "HEAD").strip()
    git(proj, "commit", "--amend", "-qm", "pipeline, reworded")
    git(proj, "checkout", "-qb", "side", "HEAD~1")
    write(proj / "other.txt", "x\n")
    git(proj, "add", "other.txt")
    git(proj, "commit", "-qm", "side")
    git(proj, "checkout", "-q", "main")
    git(proj, "rebase", "-q", "side")
    git(proj, "gc", "--prune=now", "--quiet")
    rows = _show(tether)["rows"]
    assert [r["name"] for r in rows] == ["HEAD", "before"]
    assert rows[1]["baseline"] == old_head
    assert rows[1]["metrics"]["metrics.json:acc"] == 3.0


def test_data_comes_from_the_cache_by_the_configured_link(proj: Path, tether) -> None:
    assert tether("config", "--local", "cache.link", "hardlink").code == 0
    [exp] = _exp_run(tether, "-S", "train.lr=0.2")  # prepare is restored, train runs
    assert exp["metrics"]["metrics.json"]["links"] >= 2


def test_data_is_hardlinked_where_the_checkout_would_copy(proj: Path, tether) -> None:
    """The experiment's work tree is thrown away: a link instead of a copy of
    each file makes it ready fast, and the user's checkout keeps its copies."""
    assert tether("config", "--local", "cache.link", "copy").code == 0
    assert tether("checkout", "--force").code == 0
    [exp] = _exp_run(tether, "-S", "train.lr=0.2")  # prepare is restored, train runs
    assert exp["state"] == "done"
    assert exp["metrics"]["metrics.json"]["links"] >= 2
    assert (proj / "data/prep.txt").stat().st_nlink == 1


def test_no_git_hook_runs_in_the_experiment_work_tree(proj: Path, tether) -> None:
    hook = write(proj / ".git/hooks/post-checkout", f"#!/bin/sh\ntouch {proj}/hook-ran\nexit 1\n")
    hook.chmod(0o755)
    [exp] = _exp_run(tether, "-S", "train.lr=0.2")
    assert exp["state"] == "done"
    assert not (proj / "hook-ran").exists()


def test_an_experiment_sees_this_machines_settings(repo: Path, tether, tmp_path: Path) -> None:
    """Remotes and credentials set for this clone only (config.local.yaml) reach
    the experiment's work tree, so a run-cache restore from the remote works there."""
    store = tmp_path / "store"
    store.mkdir()
    assert tether("remote", "add", "--local", "mine", str(store), "--default").code == 0
    write(
        repo / "probe.py",
        "import json, subprocess, sys\n"
        "out = subprocess.run([sys.executable, '-m', 'tether', 'remote', 'list'],"
        " capture_output=True, text=True).stdout\n"
        "json.dump({'seen': int('mine' in out)}, open('m.json', 'w'))\n",
    )
    write(
        repo / "tether.yaml",
        f"schema: 1\nstages:\n  probe:\n    cmd: {PY} probe.py\n    deps: [probe.py]\n"
        "    metrics:\n      - m.json: {cache: false}\n",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "probe")

    (run,) = _exp_run(tether)

    assert run["state"] == "done", run
    assert run["metrics"]["m.json"]["seen"] == 1
    assert not (repo / "m.json").exists()  # ran in the experiment's work tree only


def test_gc_of_a_remote_keeps_what_an_experiment_pushed(proj: Path, tether, tmp_path: Path) -> None:
    """Experiments are references: their outputs on a shared remote outlive a gc."""
    import yaml

    store = tmp_path / "store"
    store.mkdir()
    assert tether("remote", "add", "store", str(store), "--default").code == 0
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "remote")
    (run,) = _exp_run(tether, "-S", "train.lr=0.3")
    assert run["state"] == "done", run
    ref = git(proj, "for-each-ref", "--format=%(refname)", "refs/tether/exps").strip()
    lock = yaml.safe_load(git(proj, "show", f"{ref}:tether.lock"))
    (model,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "model.bin"]
    obj = store / "objects" / model["digest"][:2] / model["digest"][2:]
    assert tether("push", "-A").code == 0
    assert obj.exists()

    r = tether("gc", "--remote", "store", "--grace", "0", "--force")

    assert r.code == 0, r.err
    assert obj.exists()
