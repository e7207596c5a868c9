"""The push side of the push/gc handshake, against the in-memory remote."""

from __future__ import annotations

import time

import pytest

from tether.errors import MetadataError, RemoteError
from tether.storage import manifests
from tether.storage.remotes import MemoryRemote
from tether.storage.remotes.temporaries import is_stale_temporary, is_temporary

CLONE = "0" * 32
TREE = "a" * 64
FILES = {"b" * 64, "c" * 64}


class GcStartsMeanwhile(MemoryRemote):
    """A gc runs from start to end right after the push's first pending manifest is written."""

    def write_key(self, key: str, data: bytes) -> None:
        super().write_key(key, data)
        pending = [k for k, _ in self.requests if k == "write_key"]
        if "/pending-" in key and len(pending) == 1:
            stem = f"gc/{int(time.time())}-0123456789abcdef"
            self.keys[f"{stem}.running"] = b"{}"
            self.keys[f"{stem}.done"] = b"{}"


def _claim(remote: MemoryRemote) -> str:
    return manifests.claim(remote, CLONE, set(), {TREE}, lambda _t: set(FILES), 1)


def test_a_push_records_the_files_of_trees_the_remote_lacks():
    remote = MemoryRemote()
    key = _claim(remote)
    found = manifests.read_all(remote)
    assert [p.key for p in found.pending] == [key]
    assert found.pending[0].files == FILES and found.pending[0].trees == {TREE}
    manifests.release(remote, key)
    assert manifests.read_all(remote).pending == []


def test_a_push_goes_round_again_when_a_gc_started_meanwhile():
    remote = GcStartsMeanwhile()
    _claim(remote)
    writes = [k for m, k in remote.requests if m == "write_key" and "/pending-" in k]
    assert len(writes) == 2  # the gc may have deleted what it checked: check again


def test_a_push_waits_for_a_running_gc_then_gives_up(monkeypatch):
    remote = MemoryRemote()
    remote.keys[f"gc/{int(time.time())}-0123456789abcdef.running"] = b"{}"
    monkeypatch.setenv("TETHER_GC_WAIT", "0")
    with pytest.raises(RemoteError, match="a gc has been running since"):
        _claim(remote)
    assert not any("/pending-" in k for k in remote.keys)


def test_a_gc_marker_over_an_hour_old_is_stale():
    remote = MemoryRemote()
    remote.keys[f"gc/{int(time.time()) - 7200}-0123456789abcdef.running"] = b"{}"
    _claim(remote)  # does not wait


def test_two_gcs_never_run_at_once():
    remote = MemoryRemote()
    stem = manifests.begin_gc(remote)
    with pytest.raises(RemoteError, match="another gc is running"):
        manifests.begin_gc(remote)
    manifests.end_gc(remote, stem)
    assert [m.running for m in manifests.markers(remote)] == [False]


def test_a_malformed_manifest_is_an_error():
    remote = MemoryRemote()
    remote.keys[f"manifests/{CLONE}/x.json"] = b'{"schema": 1, "commits": [{"files": ["../x"]}]}'
    with pytest.raises(MetadataError, match="is malformed; gc cannot tell what it keeps"):
        manifests.read_all(remote)


def test_ref_manifests_round_trip():
    commit = manifests.Commit("f" * 40, 1700000000, tuple(sorted(FILES)), (TREE,))
    m = manifests.RefManifest(CLONE, "e" * 40, "refs/heads/main", (commit,))
    remote = MemoryRemote()
    written = manifests.publish(remote, CLONE, [m], {})
    assert manifests.read_all(remote).refs == [m]
    remote.requests.clear()
    assert manifests.publish(remote, CLONE, [m], written) == written
    assert not [k for method, k in remote.requests if method == "write_key"]  # unchanged
    manifests.publish(remote, CLONE, [], written)  # the branch is gone
    assert manifests.read_all(remote).refs == []


@pytest.mark.parametrize(
    "key",
    [
        "objects/ab/.tmp-123-9f3a-1",
        "tmp/123-9f3a-2",
        "packs/.0123456789ab.tether-tmp",
        "manifests/x/.0123456789ab.tether-tmp",
        "tmp/0123abcd.4567",
    ],
)
def test_temporaries_by_name(key):
    assert is_temporary(key)
    assert is_stale_temporary(key, 2 * 86400)
    assert not is_stale_temporary(key, 3600)


@pytest.mark.parametrize(
    "key", ["objects/ab/" + "c" * 30, "packs/" + "d" * 32 + ".pack", "tmp/mine", "runs/ab/x"]
)
def test_not_temporaries(key):
    assert not is_temporary(key)
