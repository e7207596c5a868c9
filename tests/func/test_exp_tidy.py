"""Comparing and tidying experiments: ``exp diff``, ``exp remove --older-than /
--state``, ``exp clean`` and the filters of ``exp show``, on a real git
repository with a pipeline of Python scripts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git
from tests.func.conftest import exp_run


def _ref(repo: Path, name: str) -> str:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/tether/exps/").split()
    [ref] = [r for r in refs if r.rsplit("/", 1)[1] == name]
    return ref


def _one_error_line(r, code: int, text: str) -> None:
    lines = r.err.strip().splitlines()
    assert r.code == code, r.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], r.err


def test_exp_diff_of_two_experiments_as_json_and_markdown(proj: Path, tether) -> None:
    exp_run(tether, "-S", "train.lr=0.3", "--name", "small")
    exp_run(tether, "-S", "train.lr=0.9", "--name", "big")

    r = tether("exp", "diff", "small", "big", "--json")

    assert r.code == 0, r.err
    doc = json.loads(r.out)["tether.exp-diff/v1"]
    assert doc["old"] == {
        "name": "small",
        "commit": git(proj, "rev-parse", _ref(proj, "small"))[:-1],
    }
    assert doc["new"]["name"] == "big"
    assert doc["params"] == {"params.yaml": {"train.lr": {"old": 0.3, "new": 0.9, "change": 0.6}}}
    assert doc["metrics"] == {"metrics.json": {"acc": {"old": 3.0, "new": 9.0, "change": 6.0}}}
    every = json.loads(tether("exp", "diff", "small", "big", "--json", "--all").out)
    assert every["tether.exp-diff/v1"]["metrics"]["metrics.json"]["lr_type"]["change"] is None

    # one name: the experiment against the commit it started from
    head = git(proj, "rev-parse", "--short=7", "HEAD").strip()
    md = tether("exp", "diff", "big", "--md")
    assert md.code == 0, md.err
    assert md.out.splitlines() == [
        f"| Path | Param | {head} | big | Change |",
        "|---|---|---|---|---|",
        "| params.yaml | train.lr | 0.1 | 0.9 | +0.8 |",
        "",
        f"| Path | Metric | {head} | big | Change |",
        "|---|---|---|---|---|",
        "| metrics.json | acc | 1 | 9 | +8 |",
    ]
    # any revision is a side too; the same experiment on both: nothing differs
    assert "+0.2" in tether("exp", "diff", "HEAD", "small").out
    same = tether("exp", "diff", "big", "big")
    assert same.code == 0 and same.out == "no params or metrics differ between big and big\n"


def test_exp_diff_of_an_unknown_name_is_one_line(proj: Path, tether) -> None:
    exp_run(tether, "-S", "train.lr=0.3", "--name", "small")
    _one_error_line(tether("exp", "diff", "nope"), 2, "no experiment or revision named 'nope'")
    _one_error_line(tether("exp", "diff", "small", "HEAD~9"), 2, "'HEAD~9'")
    first = git(proj, "rev-list", "--max-parents=0", "HEAD").strip()
    _one_error_line(tether("exp", "diff", first), 2, "has no parent commit")
