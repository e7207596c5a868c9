"""valuefiles.py: every file format, dotted keys, flattening."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tether import valuefiles
from tether.errors import MetadataError, PipelineError


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("p.yaml", b"train:\n  lr: 0.1\n", {"train": {"lr": 0.1}}),
        ("p.json", b'{"train": {"lr": 0.1}}', {"train": {"lr": 0.1}}),
        ("p.toml", b"[train]\nlr = 0.1\n", {"train": {"lr": 0.1}}),
        ("m.csv", b"epoch,acc,name\n1,0.5,a\n2,0.75,b\n", {"epoch": 2, "acc": 0.75, "name": "b"}),
        ("m.tsv", b"step\tloss\n10\t0.5\n\n", {"step": 10, "loss": 0.5}),
        ("empty.yaml", b"", {}),
    ],
)
def test_formats_by_extension(name: str, data: bytes, expected: dict[str, object]) -> None:
    assert valuefiles.parse_mapping(name, data) == expected


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("p.yaml", b"- a\n- b\n", "expected a mapping"),
        ("p.json", b"{", "p.json"),
        ("p.yaml", b"\xff\xfe", "not UTF-8"),
        ("m.csv", b"only,header\n", "header row and at least one data row"),
        ("m.csv", b"a,b\n1\n", "last row has 1 fields, header has 2"),
    ],
)
def test_bad_files_name_the_file(name: str, data: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        valuefiles.parse_mapping(name, data)


def test_get_key() -> None:
    doc = {"train": {"lr": 0.1, "layers": [{"size": 8}]}, "a.b": 1}
    assert valuefiles.get_key(doc, "train.lr") == 0.1
    assert valuefiles.get_key(doc, "train") == {"lr": 0.1, "layers": [{"size": 8}]}  # a section
    assert valuefiles.get_key(doc, "train.layers.0.size") == 8
    assert valuefiles.get_key(doc, "a.b") == 1  # a key that itself has dots
    for missing in ("train.nope", "train.layers.1", "train.lr.x"):
        with pytest.raises(KeyError):
            valuefiles.get_key(doc, missing)


def test_flatten() -> None:
    doc = {"train": {"lr": 0.1, "sizes": [1, 2], "layers": [{"n": 8}, {"n": 16}]}, "seed": 1}
    assert valuefiles.flatten(doc) == {
        "train.lr": 0.1,
        "train.sizes": [1, 2],  # a list of scalars is one value
        "train.layers.0.n": 8,
        "train.layers.1.n": 16,
        "seed": 1,
    }
    assert valuefiles.flatten({"a": 1}, "top") == {"top.a": 1}
    assert valuefiles.flatten(3) == {}


def test_read_params_file(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("a: 1\n")
    assert valuefiles.read_params_file(tmp_path, "params.yaml") == {"a": 1}
    with pytest.raises(PipelineError, match=re.escape("other.yaml: params file not found")):
        valuefiles.read_params_file(tmp_path, "other.yaml")
