"""Metrics, params and data diffs across real git commits, in every format."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import git, write

PIPELINE = """schema: 1
stages:
  evaluate:
    cmd: "true"
    params: [train.lr, {other.toml: [seed]}]
    metrics: [m/a.json, m/b.yaml, m/c.toml, m/d.csv, m/e.tsv]
"""


def _metrics(root, acc: float, loss: float, note: str = "ok") -> None:
    write(
        root / "m" / "a.json", json.dumps({"acc": acc, "nested": {"f1": acc - 0.1}, "note": note})
    )
    write(root / "m" / "b.yaml", f"loss: {loss}\n")
    write(root / "m" / "c.toml", f"[eval]\nauc = {acc + 0.05}\n")
    write(root / "m" / "d.csv", f"epoch,acc\n1,0.1\n2,{acc}\n")
    write(root / "m" / "e.tsv", f"step\tloss\n10\t{loss}\n")


@pytest.fixture
def history(repo, tether):
    write(repo / "tether.yaml", PIPELINE)
    write(repo / "other.toml", "seed = 1\n")
    for i, (acc, loss, lr) in enumerate([(0.5, 0.9, 0.1), (0.6, 0.7, 0.1), (0.75, 0.5, 0.2)]):
        _metrics(repo, acc, loss)
        write(repo / "params.yaml", f"train:\n  lr: {lr}\n  epochs: 3\nunused: {i}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"v{i + 1}")
        git(repo, "tag", f"v{i + 1}")
    return repo


def test_metrics_show_every_format(history, tether):
    r = tether("metrics", "show", "--json")
    data = json.loads(r.out)["tether.metrics-show/v1"]["workspace"]
    assert data["m/a.json"] == {"acc": 0.75, "nested.f1": 0.65, "note": "ok"}
    assert data["m/b.yaml"] == {"loss": 0.5}
    assert data["m/c.toml"] == {"eval.auc": 0.8}
    assert data["m/d.csv"] == {"epoch": 2, "acc": 0.75}  # the last row
    assert data["m/e.tsv"] == {"step": 10, "loss": 0.5}


def test_metrics_diff_markdown_exact(history, tether):
    r = tether("metrics", "diff", "v1", "v3", "--md")
    assert r.code == 0
    assert r.out == (
        "| Path | Key | v1 | v3 | Change |\n"
        "|---|---|---|---|---|\n"
        "| m/a.json | acc | 0.5 | 0.75 | +0.25 |\n"
        "| m/a.json | nested.f1 | 0.4 | 0.65 | +0.25 |\n"
        "| m/b.yaml | loss | 0.9 | 0.5 | -0.4 |\n"
        "| m/c.toml | eval.auc | 0.55 | 0.8 | +0.25 |\n"
        "| m/d.csv | acc | 0.5 | 0.75 | +0.25 |\n"
        "| m/e.tsv | loss | 0.9 | 0.5 | -0.4 |\n"
    )


def test_metrics_diff_json_exact_and_revision_kinds(history, tether):
    sha = git(history, "rev-parse", "HEAD~2").strip()
    for old in (sha, "HEAD~2", "v1", "main~2"):
        r = tether("metrics", "diff", old, "main", "--json", "-f", "m/b.yaml")
        assert r.code == 0, r.err
        assert json.loads(r.out) == {
            "tether.metrics-diff/v1": {
                "old": old,
                "new": "main",
                "files": {"m/b.yaml": {"loss": {"old": 0.9, "new": 0.5, "change": -0.4}}},
            }
        }


def test_workspace_is_the_default_new_side_and_unchanged_rows(history, tether):
    _metrics(history, 0.8, 0.5, note="better")
    r = tether("metrics", "diff", "HEAD", "--md", "-f", "m/a.json")
    assert "| m/a.json | note | ok | better | - |" in r.out  # shown, not diffed
    assert "| m/a.json | acc | 0.75 | 0.8 | +0.05 |" in r.out
    r = tether("metrics", "diff", "HEAD", "--md", "-f", "m/b.yaml")
    assert "no metrics changed" in r.out
    r = tether("metrics", "diff", "HEAD", "--md", "-f", "m/b.yaml", "--all")
    assert "| m/b.yaml | loss | 0.5 | 0.5 | 0 |" in r.out


def test_metric_missing_on_one_side_is_shown_as_missing(history, tether):
    write(history / "m" / "b.yaml", "loss: 0.5\nnew_metric: 3\n")
    r = tether("metrics", "diff", "HEAD", "--md", "-f", "m/b.yaml")
    assert r.code == 0
    assert "| m/b.yaml | new_metric | - | 3 | - |" in r.out


def test_precision(history, tether):
    r = tether("metrics", "diff", "v1", "v2", "--md", "--precision", "1", "-f", "m/a.json")
    assert "| m/a.json | acc | 0.5 | 0.6 | +0.1 |" in r.out


def test_params_diff_only_used_files_all_keys(history, tether):
    r = tether("params", "diff", "v1", "v3", "--md")
    assert r.code == 0
    assert "| params.yaml | train.lr | 0.1 | 0.2 | +0.1 |" in r.out
    write(history / "other.toml", "seed = 7\n")
    r = tether("params", "diff", "--json")
    files = json.loads(r.out)["tether.params-diff/v1"]["files"]
    assert files == {"other.toml": {"seed": {"old": 1, "new": 7, "change": 6}}}


def test_metrics_show_all_branches(history, tether):
    git(history, "branch", "old", "v1")
    r = tether("metrics", "show", "-A", "--json", "-f", "m/b.yaml")
    data = json.loads(r.out)["tether.metrics-show/v1"]
    assert data["old"]["m/b.yaml"] == {"loss": 0.9}
    assert data["v2"]["m/b.yaml"] == {"loss": 0.7}
    assert data["workspace"]["m/b.yaml"] == {"loss": 0.5}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("v2", "--rule", "acc >= -0.01"), 0),  # improved by 0.15
        (("v2", "--rule", "loss <= 0.05"), 0),  # loss went down
        (("v2", "--rule", "acc >= 0.2"), 1),  # wanted a bigger jump
        (("--rule", "acc >= 0.7"), 0),  # absolute
        (("--rule", "m/b.yaml:loss < 0.4"), 1),
        (("--rule", "no_such_metric > 0"), 1),
        (("--rule", "acc is great"), 2),
    ],
)
def test_metrics_check_exit_codes(history, tether, args, code):
    r = tether("metrics", "check", *args)
    assert r.code == code, r.out + r.err


def test_metrics_check_rules_from_tether_yaml(history, tether):
    write(history / "tether.yaml", PIPELINE + "checks: ['acc >= 0.9']\n")
    r = tether("metrics", "check")
    assert r.code == 1
    assert "FAIL acc >= 0.9" in r.out


def test_bad_revision_and_broken_metrics_file(history, tether):
    r = tether("metrics", "diff", "no-such-rev")
    assert r.code == 1
    assert "unknown revision 'no-such-rev'" in r.err
    write(history / "m" / "a.json", "{broken")
    git(history, "commit", "-qam", "broken")
    r = tether("metrics", "diff", "HEAD~1", "HEAD")
    assert r.code == 1
    assert "m/a.json: not valid JSON" in r.err
    assert "(at HEAD)" in r.err


def test_data_diff_between_commits(repo, tether):
    for i in range(3):
        write(repo / "data" / f"{i}.txt", f"{i}\n")
    write(repo / "w.bin", "one")
    assert tether("add", "data", "w.bin").code == 0
    git(repo, "commit", "-qm", "v1")
    write(repo / "data" / "0.txt", "changed\n")
    (repo / "data" / "1.txt").unlink()
    write(repo / "data" / "new.txt", "new\n")
    write(repo / "x.bin", "x")
    assert tether("add", "data", "x.bin").code == 0
    git(repo, "commit", "-qm", "v2")
    r = tether("diff", "HEAD~1", "HEAD", "--json")
    changes = json.loads(r.out)["tether.diff/v1"]["changes"]
    assert [(c["change"], c["path"]) for c in changes] == [
        ("modified", "data/0.txt"),
        ("deleted", "data/1.txt"),
        ("added", "data/new.txt"),
        ("added", "x.bin"),
    ]
    r = tether("diff", "HEAD~1", "HEAD", "--md")
    assert "| modified | data/0.txt | 2 B | 8 B |" in r.out
    assert tether("diff", "HEAD").out.startswith("no tracked data changed")


def test_data_diff_fetches_trees_from_the_remote(repo, tether, tmp_path):
    import shutil

    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    write(repo / "data" / "a.txt", "a")
    assert tether("add", "data").code == 0
    git(repo, "commit", "-qm", "v1")
    write(repo / "data" / "b.txt", "b")
    assert tether("add", "data").code == 0
    git(repo, "commit", "-qm", "v2")
    assert tether("push", "--all-commits").code == 0
    shutil.rmtree(repo / ".tether" / "cache")
    r = tether("diff", "HEAD~1", "HEAD", "--json")
    changes = json.loads(r.out)["tether.diff/v1"]["changes"]
    assert changes == [
        {"change": "added", "path": "data/b.txt", "old_size": None, "new_size": 1, "stage": None}
    ]
    assert tether("remote", "remove", "store").code == 0
    shutil.rmtree(repo / ".tether" / "cache")
    r = tether("diff", "HEAD~1", "HEAD")
    assert "tree" in r.err  # reported per directory, not a crash
    assert "modified" in r.out


def test_cached_metrics_file_read_through_the_lock_and_the_remote(repo, tether, tmp_path):
    """A metrics file with cache: true is gitignored: at a revision it is read
    through that revision's tether.lock digest, from the cache or the remote."""
    import shutil
    import sys

    write(
        repo / "score.py",
        "import sys, json; json.dump({'acc': float(sys.argv[1])}, open('m.json', 'w'))\n",
    )
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    for acc in ("0.5", "0.8"):
        write(
            repo / "tether.yaml",
            f"stages:\n  s:\n    cmd: {sys.executable} score.py {acc}\n"
            "    metrics: [{m.json: {cache: true}}]\n",
        )
        assert tether("repro").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"acc {acc}")
    assert "m.json" in (repo / ".gitignore").read_text()
    r = tether("metrics", "diff", "HEAD~1", "HEAD", "--md")
    assert "| m.json | acc | 0.5 | 0.8 | +0.3 |" in r.out, r.out + r.err
    assert tether("push", "--all-commits").code == 0
    shutil.rmtree(repo / ".tether" / "cache")
    r = tether("metrics", "diff", "HEAD~1", "HEAD", "--md")
    assert "| m.json | acc | 0.5 | 0.8 | +0.3 |" in r.out, r.out + r.err


def _two_trainings(repo, tether, sizes=(3, 5)):
    """Commits where a stage's cached outputs (a file and a folder) change."""
    import sys

    write(
        repo / "train.py",
        "import sys, pathlib\n"
        "n = int(sys.argv[1])\n"
        "pathlib.Path('model.bin').write_bytes(b'w' * n)\n"
        "d = pathlib.Path('feats'); d.mkdir(exist_ok=True)\n"
        "(d / 'a.txt').write_text(str(n))\n"
        "(d / 'keep.txt').write_text('same')\n",
    )
    for n in sizes:
        write(
            repo / "tether.yaml",
            f"stages:\n  train:\n    cmd: {sys.executable} train.py {n}\n"
            "    outs: [model.bin, feats]\n",
        )
        assert tether("repro").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"n={n}")


def test_data_diff_includes_stage_outputs(repo, tether):
    _two_trainings(repo, tether)
    r = tether("diff", "HEAD~1", "HEAD", "--json")
    changes = json.loads(r.out)["tether.diff/v1"]["changes"]
    assert [(c["change"], c["path"], c["stage"]) for c in changes] == [
        ("modified", "feats/a.txt", "train"),
        ("modified", "model.bin", "train"),
    ]
    assert changes[1]["old_size"] == 3 and changes[1]["new_size"] == 5
    r = tether("diff", "HEAD~1", "HEAD", "--md")
    assert "| modified | model.bin (stage train) | 3 B | 5 B |" in r.out, r.out
    # the workspace side reads the workspace's tether.lock
    assert tether("diff", "HEAD").out.startswith("no tracked data changed")
    write(repo / "tether.yaml", (repo / "tether.yaml").read_text().replace(" 5\n", " 7\n"))
    assert tether("repro").code == 0
    r = tether("diff", "HEAD", "--json")
    changes = json.loads(r.out)["tether.diff/v1"]["changes"]
    assert [(c["path"], c["new_size"]) for c in changes] == [("feats/a.txt", 1), ("model.bin", 7)]
    # the first commit with a pipeline: outputs appear as added
    r = tether("diff", "HEAD~2", "HEAD", "--json")
    changes = json.loads(r.out)["tether.diff/v1"]["changes"]
    assert ("added", "model.bin", "train") in [
        (c["change"], c["path"], c["stage"]) for c in changes
    ]


def test_metrics_show_in_a_clone_reads_cached_metrics_like_diff(
    repo, tether, tmp_path, monkeypatch
):
    """Without a pull, show reads a cached metrics file through tether.lock from
    the default remote, as diff does; the workspace file wins when present."""
    import sys

    write(repo / "score.py", "import json; json.dump({'acc': 0.8}, open('m.json', 'w'))\n")
    write(
        repo / "tether.yaml",
        f"stages:\n  s:\n    cmd: {sys.executable} score.py\n"
        "    metrics: [{m.json: {cache: true}}]\n",
    )
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "scored")
    assert tether("push").code == 0
    git(tmp_path, "clone", "-q", str(repo), "clone")
    monkeypatch.chdir(tmp_path / "clone")
    assert not (tmp_path / "clone" / "m.json").exists()
    r = tether("metrics", "show", "--json")
    assert json.loads(r.out)["tether.metrics-show/v1"]["workspace"] == {"m.json": {"acc": 0.8}}
    r = tether("metrics", "show")
    assert "no metrics found" not in r.out and "0.8" in r.out
    write(tmp_path / "clone" / "m.json", '{"acc": 0.9}')
    r = tether("metrics", "show", "--json")
    assert json.loads(r.out)["tether.metrics-show/v1"]["workspace"] == {"m.json": {"acc": 0.9}}


def test_metrics_check_shows_both_values_and_the_change(history, tether):
    r = tether("metrics", "check", "v2", "--rule", "m/b.yaml:loss <= 0.05")
    assert r.code == 0, r.out + r.err
    assert r.out.strip() == "ok   m/b.yaml:loss <= 0.05   (m/b.yaml:loss 0.7 → 0.5, change -0.2)"
    r = tether("metrics", "check", "v2", "--rule", "m/b.yaml:loss < -0.3")
    assert r.code == 1
    assert "FAIL m/b.yaml:loss < -0.3   (m/b.yaml:loss 0.7 → 0.5, change -0.2)" in r.out
    r = tether("metrics", "check", "--rule", "m/b.yaml:loss < 0.6")  # no baseline: the value
    assert r.out.strip() == "ok   m/b.yaml:loss < 0.6   (m/b.yaml:loss = 0.5)"
    r = tether("metrics", "check", "v2", "--rule", "m/b.yaml:loss <= 0.05", "--json")
    (verdict,) = json.loads(r.out)["tether.metrics-check/v1"]["rules"]
    assert (verdict["old"], verdict["new"], verdict["value"]) == (0.7, 0.5, pytest.approx(-0.2))


def test_a_named_file_found_nowhere_is_an_error(history, tether):
    r = tether("metrics", "diff", "HEAD", "-f", "nosuch.json")
    assert r.code == 1
    assert "nosuch.json" in r.err and "not found" in r.err
    assert "no metrics changed" not in r.out
    r = tether("metrics", "show", "-f", "nosuch.json")
    assert r.code == 1 and "nosuch.json" in r.err
    r = tether("params", "diff", "v1", "v3", "-f", "nosuch.yaml")
    assert r.code == 1 and "nosuch.yaml" in r.err
    # a file on one side only is a difference, not an error
    write(history / "m" / "new.json", '{"x": 1}')
    r = tether("metrics", "diff", "HEAD", "-f", "m/new.json", "--md")
    assert r.code == 0 and "| m/new.json | x | - | 1 | - |" in r.out


def test_metrics_diff_without_commits_says_so(tmp_path, monkeypatch, tether):
    git(tmp_path, "init", "-q", "-b", "main")
    monkeypatch.chdir(tmp_path)
    assert tether("init").code == 0
    write(tmp_path / "m.json", '{"acc": 1}')
    for args in (("metrics", "diff", "-f", "m.json"), ("diff",), ("params", "diff")):
        r = tether(*args)
        assert r.code == 1, args
        assert "no commits yet" in r.err, (args, r.err)
    r = tether("metrics", "diff", "nosuch-branch")
    assert "no commits yet" in r.err


def test_cached_metrics_that_cannot_be_fetched_are_named(repo, tether, tmp_path, monkeypatch):
    """A cached metrics file neither checked out, cached nor on a remote is
    reported with the reason, not shown as if there were no metrics."""
    import sys

    write(repo / "score.py", "import json; json.dump({'acc': 0.8}, open('m.json', 'w'))\n")
    write(
        repo / "tether.yaml",
        f"stages:\n  s:\n    cmd: {sys.executable} score.py\n"
        "    metrics: [{m.json: {cache: true}}]\n",
    )
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "scored")
    r = tether("metrics", "diff", "HEAD", "HEAD", "-f", "m.json", "--json")  # named: via the lock
    assert r.code == 0, r.err
    git(tmp_path, "clone", "-q", str(repo), "clone")  # no remote: nothing to fetch from
    monkeypatch.chdir(tmp_path / "clone")
    r = tether("metrics", "show")
    assert r.code == 0
    assert "warning: m.json at workspace: a cached output" in r.err, r.err
    r = tether("metrics", "diff", "HEAD", "-f", "m.json")
    assert r.code == 1
    assert "m.json: not found at HEAD or workspace" in r.err and "cached output" in r.err
    assert "tether pull" in r.err


def test_data_diff_names_a_corrupt_tree_as_corrupt_not_as_missing(repo, tether):
    write(repo / "data" / "a.txt", "a")
    assert tether("add", "data").code == 0
    git(repo, "commit", "-qm", "v1")
    digest = yaml.safe_load((repo / "data.tether").read_text())["digest"]
    write(repo / "data" / "b.txt", "b")
    assert tether("add", "data").code == 0
    git(repo, "commit", "-qm", "v2")
    obj = repo / ".tether" / "cache" / "objects" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_text("[]")
    r = tether("diff", "HEAD~1", "HEAD")
    assert r.code == 0, r.err
    assert "corrupt" in r.err
    assert "not in the cache or on the remote" not in r.err
