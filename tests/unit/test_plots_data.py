"""Plot data files as columns: every format and layout tether.yaml may name,
and the errors for what cannot be plotted."""

from __future__ import annotations

import pytest

from tether.errors import MetadataError
from tether.plots import data


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.csv", b"step,loss\n0,1.5\n1,0.5\n"),
        ("a.tsv", b"step\tloss\n0\t1.5\n1\t0.5\n"),
        ("a.json", b'[{"step": 0, "loss": 1.5}, {"step": 1, "loss": 0.5}]'),
        ("a.json", b'{"step": [0, 1], "loss": [1.5, 0.5]}'),
        ("a.json", b'{"train": [{"step": 0, "loss": 1.5}, {"step": 1, "loss": 0.5}]}'),
        ("a.yaml", b"- {step: 0, loss: 1.5}\n- {step: 1, loss: 0.5}\n"),
        ("a.yml", b"step: [0, 1]\nloss: [1.5, 0.5]\n"),
    ],
)
def test_every_layout_gives_the_same_columns(name: str, content: bytes) -> None:
    assert data.table(name, content) == {"step": [0, 1], "loss": [1.5, 0.5]}


def test_cells_are_numbers_where_they_can_be() -> None:
    found = data.table("a.csv", b"step,loss,note\n0,1,\n1,nan,ok\n2,,x\n")
    assert found["step"] == [0, 1, 2]
    assert found["loss"][0] == 1 and found["loss"][2] is None
    assert found["note"] == [None, "ok", "x"]


def test_records_with_missing_keys_leave_gaps() -> None:
    found = data.table("a.json", b'[{"x": 1, "y": 2}, {"x": 2}]')
    assert found == {"x": [1, 2], "y": [2, None]}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", b"", "a.csv: empty, no header row"),
        ("a.csv", b"step,loss\n", "a.csv: empty, no data rows"),
        ("a.csv", b"step,loss\n0,1,2\n", "a.csv: line 2 has 3 fields, the header 2"),
        ("a.json", b"  ", "a.json: empty"),
        ("a.json", b"[]", "a.json: empty, no data rows"),
        ("a.json", b'{"x": [1, 2], "y": [1]}', "a.json: its lists have different lengths [1, 2]"),
        ("a.json", b"42", "a.json: expected a list of records"),
        ("a.json", b"{", "a.json"),
        ("a.csv", b"\xff\xfe", "a.csv: not UTF-8 text"),
    ],
)
def test_what_cannot_be_read_says_why(name: str, content: bytes, message: str) -> None:
    with pytest.raises(MetadataError) as exc:
        data.table(name, content)
    assert exc.value.message.startswith(message)


def test_images_are_known_by_extension() -> None:
    assert data.is_image("a/roc.PNG") and data.is_image("x.svg") and data.is_image("p.jpeg")
    assert not data.is_image("a.png/steps.csv") and not data.is_image("README")


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("3", 3),
        ("-3", -3),
        ("+2", 2),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-3", 0.001),
        ("2E+2", 200.0),
        ("1_000", "1_000"),
        ("0x10", "0x10"),
        (" 5", " 5"),
        ("1e", "1e"),
        ("١٢", "١٢"),  # digits of another script: text
    ],
)
def test_numbers_are_read_strictly(cell: str, value: object) -> None:
    found = data.table("a.csv", f"v\n{cell}\n".encode())["v"]
    assert found == [value] and type(found[0]) is type(value)


def test_nan_and_inf_are_numbers_and_rows_are_file_lines() -> None:
    found = data.table("a.csv", b"v\n\nnan\n-Inf\n\nx\n")
    assert [str(v) for v in found["v"]] == ["nan", "-inf", "x"]
    assert [found.where(i) for i in range(3)] == ["line 3", "line 4", "line 6"]
    assert data.table("a.json", b'[{"v": 1}, {"v": 2}]').where(1) == "record 2"


def test_a_column_named_twice_is_refused() -> None:
    with pytest.raises(MetadataError) as exc:
        data.table("a.csv", b"step,loss,loss\n0,1,2\n")
    assert exc.value.message == "a.csv: the header names 'loss' twice"
