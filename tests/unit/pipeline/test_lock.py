"""pipeline/lock.py: tether.lock parsed, written deterministically, refused when malformed."""

from __future__ import annotations

import pytest

from tether.artifact import Artifact, Kind
from tether.errors import MetadataError
from tether.pipeline import lock
from tether.pipeline.lock import Entry
from tether.storage.hashing import hash_bytes

D1, D2, D3 = (hash_bytes(b) for b in (b"one", b"two", b"three"))


def entries() -> dict[str, Entry]:
    return {
        "train": Entry(
            "python train.py",
            (Artifact("data", Kind.DIR, D1, 30, 3), Artifact("src/train.py", Kind.FILE, D2, 10)),
            {"params.yaml": {"train.lr": 0.1, "a": [1, 2]}},
            (Artifact("model.bin", Kind.FILE, D3, 5),),
        ),
        "prepare": Entry("python prep.py", (), {}, ()),
    }


def test_round_trip_is_exact_and_sorted() -> None:
    text = lock.dumps(entries())
    again = lock.parse(text)
    assert again == entries()
    assert lock.dumps(again) == text  # one text per content: clean git diffs
    assert text.index("prepare:") < text.index("train:")


def test_dump_sorts_stages_and_artifacts() -> None:
    e = entries()
    shuffled = {
        "train": Entry(e["train"].cmd, e["train"].deps[::-1], e["train"].params, e["train"].outs),
        "prepare": e["prepare"],
    }
    assert lock.dumps(shuffled) == lock.dumps(e)


def test_empty_file_is_no_stages() -> None:
    assert lock.parse("") == {}


def _stage(body: str) -> str:
    return f"schema: 1\nstages:\n  s:\n    cmd: x\n{body}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: 2\nstages: {}\n", "schema: 1"),
        ("schema: 1\nstages: {}\nextra: 1\n", "unknown key"),
        ("schema: 1\nstages:\n  s: {deps: []}\n", "needs cmd"),
        (_stage("    colour: red\n"), "unknown key"),
        (_stage(f"    outs: [{{path: m, kind: link, digest: {D1}, size: 1}}]\n"), "malformed"),
        (_stage("    outs: [{path: m, kind: file, digest: nothex, size: 1}]\n"), "malformed"),
        (_stage(f"    outs: [{{path: m, kind: file, digest: {D1}, size: -1}}]\n"), "malformed"),
        (_stage(f"    outs: [{{path: ../m, kind: file, digest: {D1}, size: 1}}]\n"), ".."),
        (_stage("    params: {p.yaml: 3}\n"), "params"),
    ],
)
def test_malformed_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        lock.parse(text)


def test_one_output_recorded_by_two_stages_is_refused() -> None:
    out = f"    outs: [{{path: o, kind: file, digest: {D1}, size: 1}}]\n"
    text = f"schema: 1\nstages:\n  a:\n    cmd: x\n{out}  b:\n    cmd: y\n{out}"
    with pytest.raises(MetadataError, match="recorded by both a and b"):
        lock.parse(text)
