"""Round trips and rejections for the tree manifest and the pointer parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether import pointer
from tether.artifact import Kind
from tether.errors import MetadataError, PathError
from tether.paths import from_metadata, is_git_name
from tether.storage import tree
from tether.storage.hashing import ALGORITHM

HEAD = b'{"schema":1,"hash":"' + ALGORITHM.encode() + b'","entries":'
DIGEST = "9f4c1d0e6b2a83f7c5e1d9a0b4f6e2c89f4c1d0e6b2a83f7c5e1d9a0b4f6e2c8"  # a digest as a pointer holds one

name = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and not is_git_name(s))
relpath = st.lists(name, min_size=1, max_size=4).map("/".join)
digest = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


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
        HEAD + b'[["../x","' + b"a" * 64 + b'",1,false]]}',
        HEAD + b'[["/abs","' + b"a" * 64 + b'",1,false]]}',
        HEAD + b'[["a/./b","' + b"a" * 64 + b'",1,false]]}',
        HEAD + b'[["b","' + b"a" * 64 + b'",1,false],["a","' + b"a" * 64 + b'",1,false]]}',
        HEAD
        + b'[["a","'
        + b"a" * 64
        + b'",1,false],["a.x","'
        + b"a" * 64
        + b'",1,false],["a/b","'
        + b"a" * 64
        + b'",1,false]]}',
        HEAD + b'[["a","zz",1,false]]}',
        HEAD + b'[["a","' + b"a" * 64 + b'",-1,false]]}',
        HEAD + b'[["a","' + b"a" * 64 + b'",1,"yes"]]}',
    ],
)
def test_tree_rejects_malformed(bad):
    with pytest.raises(MetadataError):
        tree.parse(bad, "t")


@given(name, digest, st.integers(0, 2**50), st.one_of(st.none(), st.integers(0, 10**7)))
def test_pointer_round_trip(tmp_path_factory, base, dg, size, files):
    root = tmp_path_factory.getbasetemp()
    p = pointer.Pointer(
        f"data/{base}",
        Kind.FILE if files is None else Kind.DIR,
        dg,
        size,
        files,
        source=f"data/{base}.tether",
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


_TRICKY = st.sampled_from(
    [
        "yes",
        "No",
        "ON",
        "off",
        "null",
        "y",
        "0x1f",
        "0b101",
        "0o17",
        "017",
        "1.5",
        "1.5e-3",
        "1e5",
        "-0",
        "+1",
        "1_000",
        ".inf",
        "2024-01-01",
        "a b",
        "a: b",
        "#c",
        "'q'",
        "~",
        "<<",
        "=",
        "0",
        "-12",
        "ab12",
        "data/raw",
        "x.tether",
        "é",
        "1.",
        "a\tb",
        "",
    ]
)
_VALUE = st.one_of(
    _TRICKY,
    st.text(alphabet="abexyon01289._-/+: #'\"~", min_size=0, max_size=8),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)


@given(
    st.lists(
        st.tuples(st.one_of(_TRICKY, st.from_regex(r"[a-z_]{1,6}", fullmatch=True)), _VALUE),
        max_size=6,
    ),
    st.sampled_from(["\n", "\r\n", ""]),
)
def test_flat_yaml_fast_path_reads_exactly_what_pyyaml_reads(pairs, end):
    """The fast path either declines or agrees with PyYAML, for any text."""
    import yaml

    from tether.yamlio import _flat

    text = "".join(f"{k}: {v}{end}" for k, v in pairs)
    fast = _flat(text)
    if fast is None:
        return
    assert fast == yaml.safe_load(text)
    assert all(type(v) is type(yaml.safe_load(text)[k]) for k, v in fast.items())


def test_flat_yaml_fast_path_takes_pointer_files():
    from tether.yamlio import _flat

    text = f"schema: 1\npath: data/raw\nkind: dir\nhash: {ALGORITHM}\ndigest: {DIGEST}\nsize: 45790382\nfiles: 20000\n"
    assert _flat(text) == {
        "schema": 1,
        "path": "data/raw",
        "kind": "dir",
        "hash": ALGORITHM,
        "digest": DIGEST,
        "size": 45790382,
        "files": 20000,
    }
    assert _flat("digest: 12345678901234567890123456789012\n") == {
        "digest": 12345678901234567890123456789012  # an all-digit digest is an int to YAML too
    }
    assert _flat("on: x\n") is None and _flat("a: yes\n") is None and _flat("a: 1\na: 2\n") is None
