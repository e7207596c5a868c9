"""Round trips and rejections for the tree manifest and the pointer parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether import pointer
from tether.errors import MetadataError, PathError
from tether.paths import from_metadata
from tether.storage import tree

name = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
relpath = st.lists(name, min_size=1, max_size=4).map("/".join)
digest = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


def _no_clash(paths):
    ps = set(paths)
    return not any("/".join(p.split("/")[:i]) in ps for p in ps for i in range(1, p.count("/") + 1))


@given(
    st.dictionaries(
        relpath, st.tuples(digest, st.integers(0, 2**40), st.booleans()), max_size=30
    ).filter(_no_clash)
)
def test_tree_round_trip(files):
    t = tree.build([tree.Entry(p, d, s, x) for p, (d, s, x) in files.items()])
    data = t.to_bytes()
    again = tree.parse(data, "t")
    assert again == t
    assert again.to_bytes() == data  # canonical: one byte form per tree
    shuffled = tree.build(list(reversed(t.entries)))
    assert shuffled.digest() == t.digest()


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b'{"schema":2,"entries":[]}',
        b'{"schema":1,"entries":[["../x","' + b"a" * 32 + b'",1,false]]}',
        b'{"schema":1,"entries":[["/abs","' + b"a" * 32 + b'",1,false]]}',
        b'{"schema":1,"entries":[["a/./b","' + b"a" * 32 + b'",1,false]]}',
        b'{"schema":1,"entries":[["b","'
        + b"a" * 32
        + b'",1,false],["a","'
        + b"a" * 32
        + b'",1,false]]}',
        b'{"schema":1,"entries":[["a","'
        + b"a" * 32
        + b'",1,false],["a.x","'
        + b"a" * 32
        + b'",1,false],["a/b","'
        + b"a" * 32
        + b'",1,false]]}',
        b'{"schema":1,"entries":[["a","zz",1,false]]}',
        b'{"schema":1,"entries":[["a","' + b"a" * 32 + b'",-1,false]]}',
        b'{"schema":1,"entries":[["a","' + b"a" * 32 + b'",1,"yes"]]}',
    ],
)
def test_tree_rejects_malformed(bad):
    with pytest.raises(MetadataError):
        tree.parse(bad, "t")


@given(name, digest, st.integers(0, 2**50), st.one_of(st.none(), st.integers(0, 10**7)))
def test_pointer_round_trip(tmp_path_factory, base, dg, size, files):
    root = tmp_path_factory.getbasetemp()
    p = pointer.Pointer(
        f"data/{base}", "file" if files is None else "dir", dg, size, files, f"data/{base}.tether"
    )
    assert pointer.parse(root, p.source, p.to_yaml()) == p


@pytest.mark.parametrize(
    "value",
    ["../x", "a/../../x", "/etc", "C:/x", "a\\b", "", None, 3, ".git/config", ".tether/cache"],
)
def test_metadata_paths_confined(tmp_path, value):
    with pytest.raises(PathError):
        from_metadata(tmp_path, "", value, "f")


def test_metadata_path_inside_ok(tmp_path):
    assert from_metadata(tmp_path, "data", "raw", "f") == "data/raw"
    assert from_metadata(tmp_path, "data", "../models/m.bin", "f") == "models/m.bin"
