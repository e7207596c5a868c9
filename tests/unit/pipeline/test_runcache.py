"""pipeline/runcache.py: the key names one configuration of a stage, nothing else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tether.artifact import Artifact, Kind
from tether.errors import MetadataError
from tether.pipeline import runcache, spec
from tether.storage.hashing import hash_bytes, is_digest

D1, D2 = hash_bytes(b"one"), hash_bytes(b"two")


@pytest.fixture
def stage(tmp_path: Path) -> spec.Stage:
    text = "schema: 1\nstages:\n  s:\n    cmd: python t.py\n    deps: [a, b]\n    outs: [o, p]\n"
    return spec.parse(tmp_path, text).stages["s"]


def deps(first: str = D1) -> list[Artifact]:
    return [Artifact("a", Kind.FILE, first, 1), Artifact("b", Kind.FILE, D2, 1)]


def test_key_is_a_digest_and_ignores_order(stage: spec.Stage) -> None:
    k = runcache.key(stage, deps(), {"params.yaml": {"lr": 0.1}})
    assert is_digest(k)
    assert runcache.key(stage, list(reversed(deps())), {"params.yaml": {"lr": 0.1}}) == k


def test_key_changes_with_every_input(stage: spec.Stage) -> None:
    base = runcache.key(stage, deps(), {"params.yaml": {"lr": 0.1}})
    others = [
        runcache.key(stage, deps(D2), {"params.yaml": {"lr": 0.1}}),  # a dependency's content
        runcache.key(stage, deps(), {"params.yaml": {"lr": 0.2}}),  # a param
        runcache.key(dataclasses.replace(stage, cmd=("python u.py",)), deps(), {}),
        runcache.key(dataclasses.replace(stage, wdir="sub"), deps(), {"params.yaml": {"lr": 0.1}}),
        runcache.key(dataclasses.replace(stage, outs=stage.outs[:1]), deps(), {}),
    ]
    assert base not in others and len(set(others)) == len(others)


def test_entry_round_trip_and_refusals() -> None:
    outs = [Artifact("p", Kind.DIR, D2, 4, 2), Artifact("o", Kind.FILE, D1, 3)]
    data = runcache._encode(outs)
    assert runcache._decode(data, "entry") == sorted(outs, key=lambda a: a.path)
    with pytest.raises(MetadataError, match="not valid JSON"):
        runcache._decode(b"{", "entry")
    with pytest.raises(MetadataError, match="schema 1 outs"):
        runcache._decode(b'{"schema": 2, "outs": []}', "entry")
