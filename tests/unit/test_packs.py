"""Pack format: build/parse round trip, hostile indexes refused, ranges, grouping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.errors import CorruptObjectError
from tether.storage import packs
from tether.storage.hashing import hash_bytes


@given(st.lists(st.binary(max_size=300), max_size=40))
def test_build_then_parse_finds_every_object(blobs):
    objects = {hash_bytes(b): b for b in blobs}
    name, pack, index = packs.build(objects.items())
    entries = packs.parse_index(index, name)
    assert set(entries) == set(objects)
    for digest, loc in entries.items():
        assert loc.pack == name
        assert pack[loc.offset : loc.offset + loc.size] == objects[digest]


def _index(lines: list[str]) -> tuple[str, bytes]:
    data = (packs._HEADER.decode() + "".join(line + "\n" for line in lines)).encode()
    return hash_bytes(data), data


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["0" * 64 + " 0 5", "1" * 64 + " 9 1"], "wrong offset"),  # a gap: not back to back
        (["0" * 64 + " 0"], "line 2 is malformed"),
        (["../../etc/passwd 0 5"], "malformed"),
        (["0" * 64 + " 0 -5"], "malformed"),
        (["0" * 64 + " 0 99999999999999999999"], "malformed"),
    ],
)
def test_malformed_index_is_refused(lines, message):
    name, data = _index(lines)
    with pytest.raises(CorruptObjectError, match=message):
        packs.parse_index(data, name)


def test_index_cut_short_is_refused():
    _, data = _index(["0" * 64 + " 0 5"])
    cut = data[:-1]  # the final newline lost, as in a truncated upload
    with pytest.raises(CorruptObjectError, match="cut short"):
        packs.parse_index(cut, hash_bytes(cut))


def test_index_must_match_its_name_and_header():
    name, data = _index(["0" * 64 + " 0 5"])
    with pytest.raises(CorruptObjectError, match="digest mismatch"):
        packs.parse_index(data + b"x", name)
    other = b"git-pack 1\n"
    with pytest.raises(CorruptObjectError, match="not a tether pack index"):
        packs.parse_index(other, hash_bytes(other))


def test_ranges_merge_close_neighbours_only():
    locs = [packs.Location("p", o, s) for o, s in [(100, 10), (0, 10), (10, 5), (1 << 20, 4)]]
    assert packs.ranges(locs, gap=85) == [(0, 110), (1 << 20, (1 << 20) + 4)]
    assert packs.ranges(locs, gap=0) == [(0, 15), (100, 110), (1 << 20, (1 << 20) + 4)]


def test_groups_close_a_pack_at_the_target_size():
    items = [(str(i), packs.TARGET // 3) for i in range(7)]
    sizes = [len(g) for g in packs.groups(items)]
    assert sizes == [3, 3, 1]
    assert list(packs.groups([])) == []


def test_index_cache_ignores_a_damaged_copy(tmp_path):
    name, data = _index(["0" * 64 + " 0 5"])
    cache = packs.IndexCache(tmp_path)
    cache.put(name, data)
    assert cache.get(name) == packs.parse_index(data, name)
    (tmp_path / f"{name}.idx").write_bytes(data[:-3])
    assert cache.get(name) is None
    assert packs.names_in(["packs/" + name + ".idx", "packs/x.idx", f"packs/{name}.pack"]) == {name}


def test_index_of_the_older_hash_is_refused():
    """An index written before BLAKE3 (header `tether-pack 1`, XXH3 digests) is
    refused as a whole, so its objects count as missing and are pushed again."""
    old = b"tether-pack 1\n" + b"0" * 32 + b" 0 5\n"
    with pytest.raises(CorruptObjectError, match="not a tether pack index of"):
        packs.parse_index(old, hash_bytes(old))
