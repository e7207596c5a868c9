"""Pipelines where data could go missing or a rule read wrongly: tracked data
changed before a run, outputs that overlap tracked paths, whole params files,
remote failures during a restore, and what a stage's environment holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import git, write
from tests.func.test_pipeline import PY, STEP, runs
from tether.storage.hashing import ALGORITHM

# -- tether.lock is validated like any clone input ------------------------------

LOCK_OUT = "{path: %s, kind: file, hash: " + ALGORITHM + ", digest: %s, size: 2}"
DIGEST = "a" * 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: 1\nstages: {}\nextra: 1\n", "tether.lock: unknown key(s) extra"),
        (
            "schema: 1\nstages:\n  a: {cmd: x, deps: [], outs: [], when: now}\n",
            "tether.lock: stages.a: unknown key(s) when",
        ),
        (
            "schema: 1\nstages:\n  a:\n    cmd: x\n    outs: ["
            + (LOCK_OUT % ("a.txt", DIGEST))[:-1]
            + ", owner: b}]\n",
            "tether.lock: stages.a.outs: unknown key(s) owner",
        ),
        (
            "schema: 1\nstages:\n"
            f"  a: {{cmd: x, outs: [{LOCK_OUT % ('o.txt', DIGEST)}]}}\n"
            f"  b: {{cmd: y, outs: [{LOCK_OUT % ('o.txt', 'b' * 64)}]}}\n",
            "tether.lock: output o.txt is recorded by both a and b",
        ),
        (
            "schema: 1\nstages:\n"
            f"  a: {{cmd: x, outs: [{LOCK_OUT % ('d', DIGEST)}]}}\n"
            f"  b: {{cmd: y, outs: [{LOCK_OUT % ('d/o.txt', 'b' * 64)}]}}\n",
            "tether.lock: output d/o.txt (overlapping d) is recorded by both a and b",
        ),
    ],
    ids=["top", "stage", "artifact", "same-output", "nested-output"],
)
def test_lock_with_unknown_keys_or_shared_outputs_is_refused(repo, tether, text, message):
    write(repo / "tether.yaml", "stages:\n  a: {cmd: 'true'}\n")
    write(repo / "tether.lock", text)
    for command in (["checkout"], ["repro", "--dry"], ["status"]):
        r = tether(*command)
        assert r.code == 1, (command, r.out)
        assert message in r.err, (command, r.err)
        assert len(r.err.strip().splitlines()) == 1
        assert "tether repro" in r.err and "tether add" not in r.err  # how a lock is rebuilt


# -- overlapping outputs: the message says what the rule is ------------------------


def test_two_stages_declaring_one_output_says_by_both(repo, tether):
    write(
        repo / "tether.yaml",
        "stages:\n  prepare: {cmd: 'true', outs: [data/prepared]}\n"
        "  dup: {cmd: 'true', outs: [data/prepared]}\n",
    )
    r = tether("repro")
    assert r.code == 1
    assert "output data/prepared is declared by both prepare and dup" in r.err


EVAL = """
import json, pathlib, sys
out = pathlib.Path("eval")
(out / "plots").mkdir(parents=True, exist_ok=True)
(out / "metrics.json").write_text(json.dumps({"accuracy": float(sys.argv[1])}))
(out / "plots" / "roc.csv").write_text("fpr,tpr\\n0,0\\n1,1\\n")
"""


def test_metrics_inside_a_cached_output_folder_of_the_same_stage(repo, tether):
    write(repo / "evaluate.py", EVAL)
    write(repo / "params.yaml", "acc: 0.5\n")
    write(
        repo / "tether.yaml",
        f"""stages:
  evaluate:
    cmd: {PY} evaluate.py ${{acc}}
    outs: [eval]
    metrics: [eval/metrics.json]
    plots: [eval/plots/roc.csv]
""",
    )
    r = tether("repro")
    assert r.code == 0, r.err
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert "/eval" in ignored  # the folder, not the metrics and plots inside it
    assert not [line for line in ignored if line.startswith("/eval/")]
    assert not (repo / "eval" / ".gitignore").exists()  # the folder holds only what ran wrote
    lock = (repo / "tether.lock").read_text()
    assert "path: eval/metrics.json" in lock
    assert tether("status", "--exit-code").code == 0
    assert "accuracy" in tether("metrics", "show").out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "acc 0.5")
    write(repo / "params.yaml", "acc: 0.75\n")
    assert tether("repro").code == 0
    r = tether("metrics", "diff", "HEAD")
    assert r.code == 0, r.err
    assert "0.5" in r.out
    assert "0.75" in r.out  # the old value came from the cache through the lock
    (repo / "eval" / "metrics.json").unlink()
    r = tether("checkout")
    assert r.code == 0, r.err
    assert (repo / "eval" / "metrics.json").exists()
    assert tether("status", "--exit-code").code == 0


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (
            "{cmd: 'true', outs: [eval], metrics: [{eval/m.json: {cache: false}}]}",
            "eval/m.json lies in the output folder eval, which is stored in the cache",
        ),
        (
            "{cmd: 'true', outs: [eval, eval/model.bin]}",
            "stage s: output eval/model.bin lies in its output folder eval",
        ),
        ("{cmd: 'true', outs: [a.txt], metrics: [a.txt]}", "output a.txt is declared twice"),
    ],
    ids=["cache-option", "nested-outs", "twice"],
)
def test_overlaps_inside_one_stage_explain_the_rule(repo, tether, stage, message):
    write(repo / "tether.yaml", f"stages:\n  s: {stage}\n")
    r = tether("repro")
    assert r.code == 1
    assert message in r.err, r.err
    assert "one stage only" not in r.err


# -- a path is tracked by `tether add` or produced by a stage, not both ----------


def test_stage_output_tracked_by_a_pointer_is_refused(repo, tether):
    write(repo / "a.txt", "hi\n")
    assert tether("add", "a.txt").code == 0
    r = tether("stage", "add", "ovl", "-o", "a.txt", "echo changed > a.txt")
    assert r.code == 1
    assert "a.txt is an output of stage ovl and tracked by a.txt.tether" in r.err
    assert not (repo / "tether.yaml").exists()
    # the same pipeline written by hand is refused when it is loaded
    write(repo / "tether.yaml", "stages:\n  ovl: {cmd: 'echo changed > a.txt', outs: [a.txt]}\n")
    for command in (["repro"], ["status"], ["checkout"]):
        r = tether(*command)
        assert r.code == 1, command
        assert "a.txt is an output of stage ovl and tracked by a.txt.tether" in r.err
        assert len(r.err.strip().splitlines()) == 1
    assert (repo / "a.txt").read_text() == "hi\n"  # nothing ran


def test_adding_a_stage_output_is_refused_and_remove_keeps_its_ignore_line(repo, tether):
    write(repo / "step.py", STEP)
    write(
        repo / "tether.yaml",
        f"stages:\n  prepare: {{cmd: {PY} step.py prepare data/prepared/ x, "
        "outs: [data/prepared]}\n",
    )
    assert tether("repro").code == 0
    for target in ("data/prepared", "data/prepared/part.txt"):
        r = tether("add", target)
        assert r.code == 1, target
        assert "the output data/prepared of stage prepare" in r.err
    assert not (repo / "data" / "prepared.tether").exists()
    # a pointer written before the stage was declared (or by an older version)
    write(
        repo / "tether.yaml",
        f"stages:\n  prepare: {{cmd: {PY} step.py prepare data/prepared/ x}}\n",
    )
    assert tether("add", "data/prepared").code == 0
    write(
        repo / "tether.yaml",
        f"stages:\n  prepare: {{cmd: {PY} step.py prepare data/prepared/ x, "
        "outs: [data/prepared]}\n",
    )
    r = tether("remove", "data/prepared")
    assert r.code == 0, r.err
    assert "/prepared" in (repo / "data" / ".gitignore").read_text().splitlines()
    assert tether("repro").code == 0


# -- data a run reads is stored before the lock names it --------------------------


@pytest.fixture
def sourced(repo: Path, tether) -> Path:
    """prepare reads data/data.xml, tracked by data/data.xml.tether; train reads prepare's output."""
    write(repo / "step.py", STEP)
    write(repo / "data" / "data.xml", "<v1/>\n")
    assert tether("add", "data/data.xml").code == 0
    write(
        repo / "tether.yaml",
        f"""stages:
  prepare:
    cmd: {PY} step.py prepare data/prepared/ x data/data.xml
    deps: [step.py, data/data.xml]
    outs: [data/prepared]
  train:
    cmd: {PY} step.py train model.bin x data/prepared/part.txt
    deps: [data/prepared]
    outs: [model.bin]
""",
    )
    (repo / ".gitignore").write_text("runs.log\n")
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    return repo


def test_changed_tracked_dependency_is_stored_before_the_run(
    sourced, tether, tmp_path, monkeypatch
):
    write(sourced / "data" / "data.xml", "<v2/>\n")
    r = tether("repro", "--dry")
    assert "data/data.xml changed: would store it and update data/data.xml.tether" in r.out
    assert "<v1/>" not in (sourced / "data" / "data.xml").read_text()
    assert tether("status", "--exit-code").code == 1  # --dry stored nothing
    r = tether("repro")
    assert r.code == 0, r.err
    assert "data/data.xml changed: stored and pointer updated (data/data.xml.tether)" in r.out
    assert r.out.index("stored and pointer updated") < r.out.index("running prepare")
    assert runs(sourced)[-2:] == ["prepare", "train"]
    assert tether("status", "--exit-code").code == 0
    staged = git(sourced, "diff", "--cached", "--name-only").split()
    assert "data/data.xml.tether" in staged
    # the lock names only data that is stored: a clone gets the new data back
    remote = tmp_path / "remote"
    assert tether("remote", "add", "store", str(remote), "--default").code == 0
    git(sourced, "add", "-A")
    git(sourced, "commit", "-qm", "v2")
    assert tether("push").code == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(sourced), str(clone))
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 0, r.err
    assert (clone / "data" / "data.xml").read_text() == "<v2/>\n"
    assert "up to date" in tether("repro").out


def test_repro_says_which_stages_it_skipped(sourced, tether):
    r = tether("repro")
    assert r.code == 0
    assert "stage prepare unchanged, skipped" in r.out
    assert "stage train unchanged, skipped" in r.out
    r = tether("repro", "--json")  # stdout stays one JSON document
    actions = [o["action"] for o in json.loads(r.out)["tether.repro/v1"]]
    assert actions == ["skipped", "skipped"]


def test_stage_is_not_run_on_an_output_edited_by_hand(sourced, tether):
    write(sourced / "data" / "prepared" / "part.txt", "edited by hand\n")
    before = runs(sourced)
    r = tether("repro", "-s", "train")
    assert r.code == 1
    assert (
        "stage train reads data/prepared, an output of prepare that differs from what "
        "tether.lock records" in r.err
    )
    assert "tether checkout -f data/prepared" in r.err
    assert runs(sourced) == before
    assert "edited by hand" in (sourced / "data" / "prepared" / "part.txt").read_text()
    r = tether("repro")  # prepare is stale (output changed) and brings it back
    assert r.code == 0, r.err
    assert "restored prepare from the run-cache (output changed: data/prepared)" in r.out
    assert runs(sourced) == before
    assert "edited by hand" not in (sourced / "data" / "prepared" / "part.txt").read_text()


# -- whole params files and partial imports --------------------------------------

DUMP = "import shutil, sys; shutil.copy(sys.argv[1], 'used.txt')"


@pytest.mark.parametrize(
    "declared",
    ["params:\n    - params.yaml:", "params: [{other.yaml: }]", "params: [{other.yaml: []}]"],
)
def test_whole_params_file_is_tracked_key_by_key(repo, tether, declared):
    name = "params.yaml" if "params.yaml" in declared else "other.yaml"
    write(repo / name, "lr: 0.1\nmodel: {depth: 2}\n")
    write(repo / "dump.py", DUMP)
    write(
        repo / "tether.yaml",
        f"stages:\n  train:\n    cmd: {PY} dump.py {name}\n    {declared}\n    outs: [used.txt]\n",
    )
    assert tether("repro").code == 0
    lock = (repo / "tether.lock").read_text()
    assert f"{name}:" in lock
    assert "lr: 0.1" in lock
    assert tether("status", "--exit-code").code == 0
    r = tether("params", "show")
    assert "model.depth" in r.out, r.out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "p1")
    write(repo / name, "lr: 0.1\nmodel: {depth: 3}\n")
    r = tether("status")
    assert "params changed (model.depth 2 -> 3)" in r.out, r.out
    assert "model.depth" in tether("params", "diff").out
    assert tether("repro").code == 0
    assert "depth: 3" in (repo / "used.txt").read_text()
    write(repo / name, "model: {depth: 3}\nseed: 1\n")
    out = tether("status").out
    assert "lr deleted" in out
    assert "seed new" in out


def test_stage_add_takes_a_whole_params_file(repo, tether):
    write(repo / "params.yaml", "lr: 0.1\n")
    r = tether("stage", "add", "train", "-p", "params.yaml:", "-o", "out.txt", "echo x > out.txt")
    assert r.code == 0, r.err
    assert tether("repro").code == 0
    assert "lr: 0.1" in (repo / "tether.lock").read_text()


def test_vars_imports_the_named_keys_of_a_params_file(repo, tether):
    write(repo / "params.yaml", "n: 1\n")
    write(repo / "conf.yaml", "train: {epochs: 3, lr: 0.5}\nprepare: {split: 0.2}\nother: 9\n")
    write(
        repo / "tether.yaml",
        """vars:
- conf.yaml:train,prepare.split
stages:
  s:
    cmd: echo ${train.epochs} ${prepare.split} ${n} > out.txt
    outs: [out.txt]
""",
    )
    r = tether("repro")
    assert r.code == 0, r.err
    assert (repo / "out.txt").read_text().split() == ["3", "0.2", "1"]
    write(repo / "tether.yaml", "vars: ['conf.yaml:other,nokey']\nstages:\n  s: {cmd: 'true'}\n")
    r = tether("repro")
    assert r.code == 1
    assert "tether.yaml:1: vars: key 'nokey' is not in conf.yaml" in r.err
    write(repo / "tether.yaml", "vars: [conf.yaml:other]\nstages:\n  s: {cmd: 'echo ${train}'}\n")
    assert "unknown variable ${train}" in tether("repro").err  # only the named keys came in


# -- a restore that fails because of the remote says so ----------------------------

MAKE = "stages:\n  make: {cmd: 'echo made > out.txt', outs: [out.txt]}\n"


def _run_then_empty_cache(repo: Path, tether) -> None:
    """A run whose outputs are only on the remote (as in a fresh CI clone)."""
    write(repo / "tether.yaml", MAKE)
    assert tether("repro").code == 0
    assert tether("push").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "run")
    _empty_cache(repo)


def _empty_cache(repo: Path) -> None:
    (repo / "out.txt").unlink()
    shutil.rmtree(repo / ".tether" / "cache" / "objects")


def test_restore_from_a_working_remote_or_a_plain_miss_is_quiet(repo, tether, tmp_path):
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    _run_then_empty_cache(repo, tether)
    r = tether("repro")
    assert r.code == 0, r.err
    assert "restored make from the run-cache" in r.out
    assert r.err == ""
    _empty_cache(repo)
    (tmp_path / "empty").mkdir()  # a working remote without it (a missing folder is an error)
    assert tether("remote", "modify", "store", "url", str(tmp_path / "empty")).code == 0
    r = tether("repro")  # neither the cache nor the remote has it: it runs, nothing to warn about
    assert r.code == 0, r.err
    assert "running make (output missing: out.txt)" in r.out
    assert r.err == ""


def test_restore_failing_on_a_broken_local_remote_warns(repo, tether, tmp_path):
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    _run_then_empty_cache(repo, tether)
    write(tmp_path / "afile", "not a folder\n")
    assert tether("remote", "modify", "store", "url", str(tmp_path / "afile")).code == 0
    r = tether("repro")
    assert r.code == 0, r.err
    assert "running make (output missing: out.txt)" in r.out
    assert "warning: could not restore make from the run-cache, running it: " in r.err
    assert "remote 'store'" in r.err
    assert "afile is not a folder" in r.err


@pytest.mark.s3
def test_restore_failing_on_a_missing_bucket_warns(repo, tether, tmp_path, s3_remote):
    url, endpoint, key, secret = s3_remote
    assert tether("remote", "add", "s3", url, "--default").code == 0
    assert tether("remote", "modify", "s3", "endpoint_url", endpoint).code == 0
    assert tether("remote", "modify", "--local", "s3", "access_key_id", key).code == 0
    assert tether("remote", "modify", "--local", "s3", "secret_access_key", secret).code == 0
    _run_then_empty_cache(repo, tether)
    assert tether("remote", "modify", "s3", "url", "s3://no-such-bucket-tether/x").code == 0
    r = tether("repro")
    assert r.code == 0, r.err
    assert "running make" in r.out
    assert "warning: could not restore make from the run-cache, running it: " in r.err
    assert "remote 's3' (s3://no-such-bucket-tether/x): no such bucket" in r.err
    _empty_cache(repo)
    r = tether("repro", "--pull")  # the remote was asked for: its failure is the error
    assert r.code == 1
    assert "no such bucket" in r.err
    assert not (repo / "out.txt").exists()


def test_repro_pull_fails_on_a_broken_remote_and_warns_about_missing_objects(
    repo, tether, tmp_path
):
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    _run_then_empty_cache(repo, tether)
    (tmp_path / "empty").mkdir()  # a working remote without them (a missing folder is an error)
    assert tether("remote", "modify", "store", "url", str(tmp_path / "empty")).code == 0
    r = tether("repro", "--pull")
    assert r.code == 0, r.err
    assert "warning: fetch store: 1 path(s) not fetched, first out.txt: object" in r.err
    assert "is missing on the remote; the stages that need them run again" in r.err
    assert "running make" in r.out
    _empty_cache(repo)
    write(tmp_path / "afile", "not a folder\n")
    assert tether("remote", "modify", "store", "url", str(tmp_path / "afile")).code == 0
    r = tether("repro", "--pull")
    assert r.code == 1
    assert "remote 'store'" in r.err


# -- what a stage's commands see -------------------------------------------------


def test_stage_tells_dvclive_a_pipeline_runs_it(repo, tether):
    write(
        repo / "tether.yaml",
        "stages:\n  s: {cmd: 'echo \"$DVC_ROOT|$TETHER_STAGE\" > env.txt', outs: [env.txt]}\n",
    )
    assert tether("repro").code == 0
    assert (repo / "env.txt").read_text().strip() == f"{repo}|s"


def test_stage_runs_with_the_python_of_a_project_venv_not_activated(repo, tmp_path):
    """`.venv/bin/tether repro` without `source .venv/bin/activate`."""
    venv.create(repo / ".venv", with_pip=False)
    write(repo / ".gitignore", "/.venv\n")
    write(
        repo / "tether.yaml",
        "stages:\n  s: {cmd: 'python -c \"import sys; print(sys.prefix)\" > where.txt', "
        "outs: [where.txt]}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and Path(p).is_dir())
    r = subprocess.run(
        [str(repo / ".venv" / "bin" / "python"), "-m", "tether", "repro"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert Path((repo / "where.txt").read_text().strip()) == repo / ".venv"


def test_a_damaged_run_cache_entry_is_a_miss_the_user_hears_about(repo, tether):
    write(repo / "tether.yaml", MAKE)
    assert tether("repro").code == 0
    (entry,) = (repo / ".tether" / "cache" / "runs").glob("*/*")
    entry.chmod(0o644)
    entry.write_text("{not json")
    (repo / "out.txt").unlink()
    (repo / "tether.lock").unlink()  # only the run-cache could restore it
    r = tether("repro")
    assert r.code == 0, r.err
    assert "running make" in r.out
    assert "warning: ignoring a damaged run-cache entry for make, running it: " in r.err
    assert "not valid JSON" in r.err
    assert (repo / "out.txt").read_text() == "made\n"


def test_repro_json_leaves_stdout_to_the_json(repo):
    """Progress lines and the stages' own output go to stderr: a script can parse stdout."""
    from tests.conftest import run_cli

    write(repo / "tether.yaml", f"stages:\n  s:\n    cmd: {PY} -c \"print('from the stage')\"\n")
    r = run_cli(repo, "repro", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)  # nothing but the JSON
    assert "running s" in r.stderr and "from the stage" in r.stderr
    assert "from the stage" not in r.stdout
    assert data
