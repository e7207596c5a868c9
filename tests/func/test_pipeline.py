"""Pipelines in real git repositories with real commands (small Python scripts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, write

PY = sys.executable

# A stage script: writes OUT from the given inputs and one params key, and
# appends its name to runs.log (outside every output) so tests can count runs.
STEP = """
import json, pathlib, sys, yaml
name, out, key, *inputs = sys.argv[1:]
params = yaml.safe_load(open("params.yaml")) if pathlib.Path("params.yaml").exists() else {}
value = params
for part in key.split("."):
    value = value.get(part) if isinstance(value, dict) else None
text = "".join(pathlib.Path(i).read_text() for i in inputs) + f"{name}:{value}\\n"
target = pathlib.Path(out)
target.parent.mkdir(parents=True, exist_ok=True)
if out.endswith("/"):
    target.mkdir(exist_ok=True)
    (target / "part.txt").write_text(text)
else:
    target.write_text(text)
with open("runs.log", "a") as log:
    log.write(name + "\\n")
"""


def runs(root: Path) -> list[str]:
    log = root / "runs.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def pipe(repo: Path) -> Path:
    write(repo / "step.py", STEP)
    write(repo / "raw.txt", "raw\n")
    write(repo / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.1, epochs: 2}\nunused: 0\n")
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  prepare:
    cmd: {PY} step.py prepare data/prepared/ prepare.n raw.txt
    deps: [step.py, raw.txt]
    params: [prepare.n]
    outs: [data/prepared]
  train:
    cmd: {PY} step.py train model.bin train.lr data/prepared/part.txt
    deps: [step.py, data/prepared]
    params: [train.lr]
    outs: [model.bin]
  evaluate:
    cmd: {PY} step.py evaluate metrics.json train.epochs model.bin
    deps: [model.bin]
    metrics: [metrics.json]
""",
    )
    (repo / ".gitignore").write_text("runs.log\n")
    return repo


def test_repro_runs_in_order_then_nothing(pipe, tether):
    r = tether("repro")
    assert r.code == 0, r.err
    assert runs(pipe) == ["prepare", "train", "evaluate"]
    assert (pipe / "metrics.json").read_text().endswith("evaluate:2\n")
    assert "model.bin" in (pipe / ".gitignore").read_text()
    staged = git(pipe, "diff", "--cached", "--name-only")
    assert "tether.lock" in staged
    r = tether("repro")
    assert r.code == 0
    assert "up to date" in r.out
    assert runs(pipe) == ["prepare", "train", "evaluate"]
    assert tether("status", "--exit-code").code == 0


@pytest.mark.parametrize(
    ("change", "expected_runs", "reason"),
    [
        (lambda r: write(r / "raw.txt", "raw v2\n"), ["prepare"], "dependency changed: raw.txt"),
        (
            lambda r: write(r / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.2, epochs: 2}\n"),
            ["train"],
            "params changed (train.lr 0.1 -> 0.2)",
        ),
        (lambda r: (r / "model.bin").unlink(), ["train"], "output missing: model.bin"),
        (lambda r: write(r / "model.bin", "edited"), ["train"], "output changed: model.bin"),
        (
            lambda r: write(
                r / "tether.yaml",
                (r / "tether.yaml")
                .read_text()
                .replace("model.bin train.lr", "model.bin  train.lr"),
            ),
            ["train"],
            "command changed",
        ),
    ],
)
def test_each_trigger_alone(pipe, tether, change, expected_runs, reason):
    assert tether("repro", "--no-run-cache").code == 0
    (pipe / "runs.log").unlink()
    change(pipe)
    r = tether("status")
    assert reason in r.out
    r = tether("repro", "--no-run-cache")
    assert r.code == 0, r.err
    first = expected_runs[0]
    assert runs(pipe)[0] == first
    downstream = {"prepare": ["prepare", "train", "evaluate"], "train": ["train", "evaluate"]}
    # a stage reruns its dependents only when its output really changed
    assert set(runs(pipe)) <= set(downstream[first])


def test_unused_param_key_changes_nothing(pipe, tether):
    assert tether("repro").code == 0
    write(pipe / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.1, epochs: 2}\nunused: 99\n")
    r = tether("status", "--exit-code")
    assert r.code == 0, r.out
    assert tether("repro").code == 0
    assert runs(pipe) == ["prepare", "train", "evaluate"]


def test_status_names_params_and_downstream(pipe, tether):
    assert tether("repro").code == 0
    write(pipe / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.5, epochs: 2}\n")
    out = tether("status").out
    assert "train: params changed (train.lr 0.1 -> 0.5)" in out
    assert "evaluate: depends on train" in out
    r = tether("repro", "--dry")
    assert "would run train" in r.out
    assert "would run evaluate" in r.out
    assert runs(pipe) == ["prepare", "train", "evaluate"]  # --dry ran nothing


def test_run_cache_restores_a_configuration_already_run(pipe, tether):
    assert tether("repro").code == 0
    first_model = (pipe / "model.bin").read_bytes()
    git(pipe, "add", "-A")
    git(pipe, "commit", "-qm", "lr 0.1")
    write(pipe / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.7, epochs: 2}\n")
    assert tether("repro").code == 0
    assert runs(pipe)[-2:] == ["train", "evaluate"]
    git(pipe, "checkout", "HEAD", "--", "params.yaml")
    before = len(runs(pipe))
    r = tether("repro")
    assert r.code == 0
    assert "restored train from the run-cache" in r.out
    assert len(runs(pipe)) == before  # nothing ran
    assert (pipe / "model.bin").read_bytes() == first_model
    r = tether("repro", "--no-run-cache", "--force", "train", "-s")
    assert runs(pipe)[-1] == "train"


def test_failure_in_the_middle_keeps_completed_stages(pipe, tether):
    text = (pipe / "tether.yaml").read_text()
    write(pipe / "fail.py", "import sys; sys.exit(3)\n")
    write(
        pipe / "tether.yaml",
        text.replace(f"cmd: {PY} step.py train", f"cmd: {PY} fail.py && {PY} step.py train"),
    )
    r = tether("repro")
    assert r.code == 3
    assert "stage train failed (exit code 3)" in r.err
    lock = (pipe / "tether.lock").read_text()
    assert "prepare:" in lock
    assert "train:" not in lock
    assert not (pipe / "model.bin").exists()
    write(pipe / "tether.yaml", text)
    assert tether("repro").code == 0
    assert runs(pipe) == ["prepare", "train", "evaluate"]  # prepare did not run twice


def test_keep_going_runs_independent_stages(repo, tether):
    write(repo / "step.py", STEP)
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  bad: {{cmd: "{PY} -c 'import sys; sys.exit(2)'", outs: [b.txt]}}
  after_bad: {{cmd: {PY} step.py a c.txt x b.txt, deps: [b.txt], outs: [c.txt]}}
  good: {{cmd: {PY} step.py good g.txt x, outs: [g.txt]}}
""",
    )
    r = tether("repro", "--keep-going")
    assert r.code == 1
    assert "1 stage(s) failed, first: bad" in r.err
    assert runs(repo) == ["good"]
    assert "good:" in (repo / "tether.lock").read_text()
    said = r.out + r.err
    assert "ran good in" in said  # reported though the run failed
    assert "did not run after_bad: bad failed" in said
    (repo / "g.txt").unlink()
    r = tether("repro", "--keep-going")
    assert r.code == 1
    assert "restored good from the run-cache" in r.out + r.err


def test_outputs_removed_before_run_unless_persist(repo, tether):
    write(repo / "append.py", "open('out.txt', 'a').write('x')\nopen('keep.txt', 'a').write('x')\n")
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  s:
    cmd: {PY} append.py
    deps: [append.py]
    outs: [out.txt, {{keep.txt: {{persist: true}}}}]
""",
    )
    assert tether("repro").code == 0
    assert tether("repro", "--force", "--no-run-cache").code == 0
    assert (repo / "out.txt").read_text() == "x"
    assert (repo / "keep.txt").read_text() == "xx"


def test_wdir_and_list_commands(repo, tether):
    write(repo / "sub" / "in.txt", "hello\n")
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  s:
    wdir: sub
    cmd:
    - {PY} -c "open('a.txt','w').write(open('in.txt').read())"
    - {PY} -c "open('b.txt','w').write(open('a.txt').read() * 2)"
    deps: [in.txt]
    outs: [a.txt, b.txt]
""",
    )
    assert tether("repro").code == 0
    assert (repo / "sub" / "b.txt").read_text() == "hello\nhello\n"
    assert "path: sub/in.txt" in (repo / "tether.lock").read_text()


def test_foreach_and_matrix_expand(repo, tether):
    write(repo / "step.py", STEP)
    write(repo / "params.yaml", "models: [small, big]\n")
    write(
        repo / "tether.yaml",
        f"""schema: 1
vars:
- {{seeds: [1, 2]}}
stages:
  train:
    foreach: ${{models}}
    do:
      cmd: {PY} step.py train-${{item}} out/${{item}}.txt models
      outs: ["out/${{item}}.txt"]
  grid:
    matrix: {{lr: [0.1, 0.2], seed: "${{seeds}}"}}
    cmd: {PY} step.py grid-${{item.lr}}-${{item.seed}} grid/${{item.lr}}-${{item.seed}}.txt x
    outs: ["grid/${{item.lr}}-${{item.seed}}.txt"]
""",
    )
    r = tether("stage", "list")
    assert r.code == 0, r.err
    names = [line.split("\t")[0] for line in r.out.splitlines()]
    assert names == [
        "grid@0.1-1",
        "grid@0.1-2",
        "grid@0.2-1",
        "grid@0.2-2",
        "train@big",
        "train@small",
    ]
    assert tether("repro", "train").code == 0
    assert sorted(runs(repo)) == ["train-big", "train-small"]
    assert (repo / "out" / "small.txt").exists()


def test_single_item_and_downstream(pipe, tether):
    assert tether("repro").code == 0
    write(pipe / "raw.txt", "raw v2\n")
    (pipe / "runs.log").unlink()
    assert tether("repro", "-s", "train").code == 0
    assert runs(pipe) == []  # train's inputs did not change; prepare was not selected
    assert tether("repro", "--downstream", "prepare").code == 0
    assert runs(pipe) == ["prepare", "train", "evaluate"]


def test_lock_is_deterministic(pipe, tether):
    assert tether("repro").code == 0
    first = (pipe / "tether.lock").read_bytes()
    (pipe / "tether.lock").unlink()
    assert tether("repro", "--force", "--no-run-cache").code == 0
    assert (pipe / "tether.lock").read_bytes() == first


def test_dag_text_mermaid_dot(pipe, tether):
    r = tether("dag")
    assert r.out.splitlines() == ["prepare", "train  <- prepare", "evaluate  <- train"]
    mermaid = tether("dag", "--mermaid").out
    assert mermaid.startswith("flowchart TD")
    assert "s0 --> s1" in mermaid
    assert '"prepare" -> "train";' in tether("dag", "--dot").out


def test_stage_add_writes_a_valid_stage(repo, tether):
    r = tether(
        "stage", "add", "train", "-d", "src/train.py", "-p", "train.lr,train.epochs",
        "-o", "models/model.safetensors", "-M", "metrics/train.json", "python src/train.py",
    )  # fmt: skip
    assert r.code == 0, r.err
    text = (repo / "tether.yaml").read_text()
    assert "cmd: python src/train.py" in text
    assert "- train.lr" in text
    assert "metrics/train.json" in text
    assert tether("stage", "add", "train", "x").code == 1  # exists
    r = tether("stage", "add", "loop", "-d", "models/model.safetensors", "-o", "src/train.py", "x")
    assert r.code == 1
    assert "cycle" in r.err


# -- errors -------------------------------------------------------------------

BAD = [
    ("stages:\n  a:\n    cmd: [unclosed\n", "tether.yaml: not valid YAML (line 4"),
    (
        "stages:\n  a:\n    cmd: echo\n    outz: [x]\n",
        "tether.yaml:2: stages.a: unknown key(s) outz",
    ),
    ("stages:\n  a:\n    deps: [x]\n", "cmd must be a command"),
    (
        "stages:\n  a: {cmd: echo, deps: [b.txt], outs: [a.txt]}\n"
        "  b: {cmd: echo, deps: [a.txt], outs: [b.txt]}\n",
        "cycle: ",
    ),
    (
        "stages:\n  a: {cmd: echo, outs: [o.txt]}\n  b: {cmd: echo, outs: [o.txt]}\n",
        "output o.txt is declared by both a and b",
    ),
    (
        "stages:\n  a: {cmd: echo, deps: [o.txt], outs: [o.txt]}\n",
        "both a dependency and an output",
    ),
    ("stages:\n  a: {cmd: echo, deps: [../outside]}\n", "escapes the workspace"),
    ("stages:\n  a: {cmd: echo, outs: [/etc/passwd]}\n", "is absolute"),
    ("stages:\n  a: {cmd: 'echo ${nope}'}\n", "unknown variable ${nope}"),
    ("schema: 2\nstages: {}\n", "unsupported schema"),
    ("stages:\n  a: {cmd: echo, params: [nokey]}\n", "params key 'nokey' is not in params.yaml"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_pipelines_fail_with_one_clear_line(repo, tether, text, message):
    write(repo / "params.yaml", "train: {lr: 1}\n")
    write(repo / "tether.yaml", text)
    r = tether("repro")
    assert r.code != 0
    assert message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert "Traceback" not in r.err


def test_missing_dependency_names_the_stage_and_producer(repo, tether):
    write(
        repo / "tether.yaml",
        "stages:\n  a: {cmd: 'true', deps: [nothing.txt], outs: [a.txt]}\n",
    )
    r = tether("repro")
    assert r.code == 1
    assert "stage a needs nothing.txt, which does not exist" in r.err


def test_command_not_found(repo, tether):
    write(repo / "tether.yaml", "stages:\n  a: {cmd: no-such-command-xyz, outs: [a.txt]}\n")
    r = tether("repro")
    assert r.code == 127
    assert "command not found: no-such-command-xyz" in r.err


def test_stage_that_forgets_an_output(repo, tether):
    write(repo / "tether.yaml", "stages:\n  a: {cmd: 'true', outs: [a.txt]}\n")
    r = tether("repro")
    assert r.code == 1
    assert "stage a did not produce a.txt" in r.err


# -- run-cache through a remote (the CI story) --------------------------------


def test_ci_clone_reuses_a_run_through_the_remote(pipe, tether, tmp_path, monkeypatch):
    remote = tmp_path / "remote"
    assert tether("remote", "add", "store", str(remote), "--default").code == 0
    assert tether("repro").code == 0
    git(pipe, "add", "-A")
    git(pipe, "commit", "-qm", "run")
    r = tether("push", "--run-cache")
    assert r.code == 0, r.err
    assert "run-cache: 3 entries uploaded" in r.out
    clone = tmp_path / "ci"
    subprocess.run(["git", "clone", "-q", str(pipe), str(clone)], check=True)
    monkeypatch.chdir(clone)
    r = tether("repro", "--pull")
    assert r.code == 0, r.err
    assert runs(clone) == []  # nothing ran: everything came from the remote
    assert (clone / "model.bin").read_bytes() == (pipe / "model.bin").read_bytes()
    # a configuration run elsewhere: only its run-cache entry is on the remote
    monkeypatch.chdir(pipe)
    write(pipe / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.9, epochs: 2}\n")
    assert tether("repro").code == 0
    assert tether("push", "--run-cache").code == 0
    monkeypatch.chdir(clone)
    write(clone / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.9, epochs: 2}\n")
    assert tether("pull", "--run-cache").code == 0
    r = tether("repro")
    assert r.code == 0, r.err
    assert "restored train from the run-cache" in r.out
    assert runs(clone) == []


def test_stage_outputs_are_pushed_pulled_checked_out_and_kept_by_gc(
    pipe, tether, tmp_path, monkeypatch
):
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    assert tether("repro").code == 0
    git(pipe, "add", "-A")
    git(pipe, "commit", "-qm", "run")
    r = tether("gc", "-f")
    assert r.code == 0
    assert tether("status", "--exit-code").code == 0  # gc kept every output
    r = tether("push")
    assert r.code == 0, r.err
    assert "0 uploaded" not in r.out
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pipe), str(clone)], check=True)
    monkeypatch.chdir(clone)
    r = tether("pull")
    assert r.code == 0, r.err
    assert (clone / "model.bin").read_bytes() == (pipe / "model.bin").read_bytes()
    assert (clone / "data" / "prepared" / "part.txt").exists()
    r = tether("repro")
    assert "up to date" in r.out
    assert runs(clone) == []
    (clone / "model.bin").unlink()
    assert tether("checkout").code == 0  # outputs come back like tracked data
    assert (clone / "model.bin").exists()


def test_changed_command_runs_even_with_the_run_cache(pipe, tether):
    assert tether("repro").code == 0
    text = (pipe / "tether.yaml").read_text()
    write(pipe / "tether.yaml", text.replace("model.bin train.lr", "model.bin train.epochs"))
    r = tether("repro")
    assert r.code == 0, r.err
    assert "restored" not in r.out
    assert runs(pipe)[-2:] == ["train", "evaluate"]
    assert (pipe / "model.bin").read_text().endswith("train:2\n")  # the new command's output


def test_deleted_output_is_restored_not_rerun(pipe, tether):
    assert tether("repro").code == 0
    before = (pipe / "model.bin").read_bytes()
    (pipe / "model.bin").unlink()
    r = tether("repro")
    assert "restored train from the run-cache (output missing: model.bin)" in r.out
    assert runs(pipe) == ["prepare", "train", "evaluate"]
    assert (pipe / "model.bin").read_bytes() == before


def test_outputs_link_like_add_with_hardlinks(pipe, tether):
    assert tether("config", "cache.link", "hardlink,copy").code == 0
    assert tether("repro").code == 0
    model = pipe / "model.bin"
    assert model.stat().st_nlink == 2  # the workspace file is the cache's object
    assert "up to date" in tether("repro").out
    write(pipe / "params.yaml", "prepare: {n: 1}\ntrain: {lr: 0.3, epochs: 2}\n")
    assert tether("repro").code == 0  # a read-only linked output is replaced, not written into
    assert model.read_text().endswith("train:0.3\n")


def test_persisted_output_is_writable_again_under_hardlinks(repo, tether):
    assert tether("config", "cache.link", "hardlink,copy").code == 0
    write(repo / "append.py", "open('keep.txt', 'a').write('x')\n")
    write(
        repo / "tether.yaml",
        f"stages:\n  s:\n    cmd: {PY} append.py\n    outs: [{{keep.txt: {{persist: true}}}}]\n",
    )
    assert tether("repro").code == 0
    assert (repo / "keep.txt").stat().st_nlink == 2
    cached = (repo / "keep.txt").read_text()
    r = tether("repro", "--force", "--no-run-cache")
    assert r.code == 0, r.err
    assert (repo / "keep.txt").read_text() == "xx"
    assert tether("fsck").code == 0  # the cache's copy was never written into
    assert cached == "x"


def test_damaged_run_cache_entry_is_a_miss_not_a_wrong_restore(pipe, tether):
    assert tether("repro").code == 0
    runs_dir = pipe / ".tether" / "cache" / "runs"
    entries = [p for p in runs_dir.rglob("*") if p.is_file()]
    assert len(entries) == 3
    for entry in entries:
        entry.chmod(0o644)
        entry.write_text('{"schema": 1, "outs": [{"path": "../escape", "kind": "file"}]}')
    (pipe / "model.bin").unlink()
    (pipe / "tether.lock").unlink()
    r = tether("repro")
    assert r.code == 0, r.err
    assert "restored" not in r.out
    assert runs(pipe)[-3:] == ["prepare", "train", "evaluate"]
    assert not (pipe.parent / "escape").exists()


@pytest.mark.parametrize(
    "text",
    [
        "schema: 1\nstages:\n  train: {cmd: x, outs: [{path: ../../etc/x, kind: file}]}\n",
        "schema: 1\nstages: [1, 2]\n",
        "stages: {train: {cmd: x}}\n",  # no schema
        "schema: 1\nstages:\n  train:\n    cmd: x\n    outs: [{path: m.bin, kind: file, digest: zz, size: 1}]\n",
    ],
)
def test_malformed_or_hostile_lock_is_refused(pipe, tether, text):
    write(pipe / "tether.lock", text)
    r = tether("repro")
    assert r.code == 1
    assert "tether.lock" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert runs(pipe) == []  # nothing ran on a lock it could not read
