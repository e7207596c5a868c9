"""artifact.py: the one value type for tracked data, and how it is stored."""

from __future__ import annotations

import json

from tether import pointer
from tether.artifact import UNKNOWN_SIZE, Artifact, Kind, object_named
from tether.pipeline import lock
from tether.pointer import Pointer
from tether.storage.hashing import hash_bytes

D = hash_bytes(b"x")


def test_kind_renders_as_the_word_files_on_disk_hold() -> None:
    assert [str(k) for k in Kind] == ["file", "dir"]
    assert json.dumps({"kind": Kind.DIR}) == '{"kind": "dir"}'
    assert f"{Kind.FILE}" == "file"


def test_a_pointer_and_a_lock_entry_store_the_same_artifact(tmp_path) -> None:
    a = Artifact("data", Kind.DIR, D, 30, 3)
    p = Pointer.of(a, "data.tether")
    assert (p.path, p.kind, p.digest, p.size, p.files, p.source) == (
        "data", Kind.DIR, D, 30, 3, "data.tether"
    )  # fmt: skip
    assert "kind: dir\n" in p.to_yaml()
    assert pointer.parse(tmp_path, p.source, p.to_yaml()) == p
    stored = lock.artifact_dict(a)
    assert stored["kind"] == "dir" and type(stored["kind"]) is str
    assert lock.parse_artifact(stored, "tether.lock") == a


def test_an_object_named_by_its_digest_alone_has_no_known_size() -> None:
    a = object_named("data", D)
    assert (a.kind, a.size, a.files) == (Kind.FILE, UNKNOWN_SIZE, None)
