"""pipeline/spec.py: tether.yaml parsed, interpolated, expanded and refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import PipelineError
from tether.pipeline import spec
from tether.pipeline.spec import OutKind, ParamRef


def parse(root: Path, text: str) -> spec.Pipeline:
    return spec.parse(root, "schema: 1\n" + text)


def test_a_stage_with_every_key(tmp_path: Path) -> None:
    p = parse(
        tmp_path,
        """stages:
  train:
    cmd: [python prep.py, python train.py]
    deps: [prep.py, data]
    params: [train.lr, {other.yaml: [seed]}, {all.yaml: }]
    outs: [model, {log.txt: {cache: false, persist: true}}]
    metrics: [m.json]
    plots: [model/curve.csv]
    always_changed: true
""",
    )
    s = p.stages["train"]
    assert s.cmd == ("python prep.py", "python train.py")
    assert s.cmd_text == "python prep.py && python train.py"
    assert s.wdir == "." and s.deps == ("prep.py", "data") and s.always_changed
    assert s.params == (
        ParamRef("params.yaml", "train.lr"),
        ParamRef("other.yaml", "seed"),
        ParamRef("all.yaml", None),
    )
    outs = {o.path: o for o in s.outs}
    assert outs["model"].kind is OutKind.OUTS and outs["model"].cache
    assert not outs["log.txt"].cache and outs["log.txt"].persist
    assert outs["m.json"].kind is OutKind.METRICS and not outs["m.json"].cache
    assert outs["model/curve.csv"].kind is OutKind.PLOTS
    assert outs["model/curve.csv"].inside == "model"  # stored with the folder


def test_kinds_are_the_keys_of_tether_yaml() -> None:
    assert [str(k) for k in OutKind] == ["outs", "metrics", "plots"]


def test_wdir_makes_paths_workspace_relative(tmp_path: Path) -> None:
    p = parse(tmp_path, "stages:\n  s:\n    cmd: make\n    wdir: sub\n    deps: [../a, b]\n")
    assert p.stages["s"].wdir == "sub"
    assert p.stages["s"].deps == ("a", "sub/b")


def test_vars_and_foreach_expand(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("size: 3\n")
    p = parse(
        tmp_path,
        """vars: [params.yaml, {models: [small, base]}]
stages:
  train:
    foreach: ${models}
    do:
      cmd: train ${item} --size ${size}
      outs:
        - model-${item}
""",
    )
    assert sorted(p.stages) == ["train@base", "train@small"]
    assert p.stages["train@small"].cmd == ("train small --size 3",)
    assert p.stages["train@base"].outs[0].path == "model-base"


def test_checks_are_kept_for_metrics_check(tmp_path: Path) -> None:
    p = parse(tmp_path, "stages: {}\nchecks: ['acc >= 0.5']\n")
    assert p.checks == ("acc >= 0.5",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages:\n  s:\n    cmd: x\n    colour: red\n", "colour"),
        ("stages:\n  s:\n    deps: [a]\n", "cmd"),
        ("stages:\n  s:\n    cmd: x\n    outs: [../outside]\n", "outside"),
        ("stages:\n  s:\n    cmd: x\n    outs: [{o: {cache: maybe, colour: 1}}]\n", "colour"),
        ("stages:\n  s:\n    cmd: echo ${nope}\n", "nope"),
    ],
)
def test_refusals_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as exc:
        parse(tmp_path, text)
    assert "tether.yaml" in exc.value.message


def test_load_without_a_file_is_none(tmp_path: Path) -> None:
    assert spec.load(tmp_path) is None


@pytest.mark.parametrize(
    ("memory", "size"),
    [("8GB", 8 * 2**30), ("512MiB", 512 * 2**20), ("1.5G", 3 * 2**29), (1024, 1024)],
)
def test_resources_and_mutex(tmp_path: Path, memory: object, size: int) -> None:
    p = parse(
        tmp_path,
        f"""stages:
  train:
    cmd: python train.py
    resources: {{cpus: 2, gpus: 1, memory: {memory}}}
    mutex: [gpu0, disk, gpu0]
  plain:
    cmd: python other.py
""",
    )
    train, plain = p.stages["train"], p.stages["plain"]
    assert train.resources == spec.Resources(cpus=2, gpus=1, memory=size)
    assert train.mutex == ("disk", "gpu0")
    assert plain.resources == spec.Resources(cpus=0, gpus=0, memory=None) and plain.mutex == ()


def test_an_unknown_resource_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as exc:
        parse(tmp_path, "stages:\n  a:\n    cmd: x\n    resources: {cpu: 2}\n")
    assert exc.value.message == (
        "tether.yaml:5: stages.a.resources: unknown key(s) cpu (known: cpus, gpus, memory)"
    )
