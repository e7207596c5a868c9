"""The bounded reader and parsers for files a clone controls, and the .git name check."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether import untrusted, yamlio
from tether.errors import MetadataError, PathError
from tether.paths import CLEAN_ENTRY, is_git_name, tree_entry


def test_regular_file_is_read(tmp_path):
    (tmp_path / "f").write_bytes(b"x: 1\n")
    assert untrusted.read_bytes(tmp_path / "f", "f") == b"x: 1\n"


def test_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "f")
    with pytest.raises(MetadataError, match="not a regular file"):
        untrusted.read_bytes(tmp_path / "f", "f")


def test_missing_file_and_folder_raise_as_open_does(tmp_path):
    with pytest.raises(FileNotFoundError):
        untrusted.read_bytes(tmp_path / "nope", "nope")
    with pytest.raises(IsADirectoryError):
        untrusted.read_bytes(tmp_path, "dir")


def test_oversized_file_is_refused(tmp_path):
    with open(tmp_path / "f", "wb") as f:
        f.truncate(untrusted.MAX_BYTES + 1)
    with pytest.raises(MetadataError, match="MiB tether reads"):
        untrusted.read_bytes(tmp_path / "f", "f")


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 101 + "1" + "}" * 101])
def test_deep_json_is_refused(text):
    with pytest.raises(MetadataError, match="nested more than"):
        untrusted.json_loads(text, "m.json")


def test_json_at_the_depth_bound_is_read():
    text = '{"a":' * (untrusted.MAX_DEPTH - 1) + "1" + "}" * (untrusted.MAX_DEPTH - 1)
    assert isinstance(untrusted.json_loads(text, "m.json"), dict)


def _fan(levels: int, width: int) -> str:
    lines = ["a0: &a0 x"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_bounded_not_forbidden():
    assert yamlio.loads(_fan(4, 10), "f")["a4"][0][0][0][0] == "x"  # 10**4 values: fine
    with pytest.raises(MetadataError, match="YAML aliases expand it"):
        yamlio.loads(_fan(6, 10), "f")  # 10**6 values


def test_aliases_refused_where_tether_writes_none():
    assert yamlio.loads("a: &x 1\nb: 2\n", "f", aliases=False) == {"a": 1, "b": 2}
    with pytest.raises(MetadataError, match="not allowed"):
        yamlio.loads("a: &x 1\nb: *x\n", "f", aliases=False)


def test_self_referring_alias_is_refused():
    with pytest.raises(MetadataError, match="contains it"):
        yamlio.loads("a: &x {b: *x}\n", "f")


def test_dumps_never_writes_an_anchor():
    shared = {"k": [1, 2]}
    text = yamlio.dumps({"a": shared, "b": shared})
    assert "&" not in text and "*" not in text
    assert yamlio.loads(text, "f", aliases=False) == {"a": shared, "b": shared}


@pytest.mark.parametrize(
    "name",
    [".git", ".GIT", ".git.", ".git ", ".git::$DATA", "git~1", "Git~1", ".g\u200dit", "\ufeff.git"],
)
def test_git_aliases(name):
    assert is_git_name(name)
    with pytest.raises(PathError, match=r"stands for \.git"):
        tree_entry(f"a/{name}/b", "t")


@pytest.mark.parametrize("name", [".gitignore", ".github", "git", ".git~", "x.git", "git~2"])
def test_git_lookalikes_that_are_fine(name):
    assert not is_git_name(name)
    assert tree_entry(f"a/{name}", "t") == f"a/{name}"


@given(st.text(min_size=1, max_size=12))
def test_fast_path_accepts_only_what_the_full_check_accepts(name):
    """tree.parse trusts CLEAN_ENTRY for speed; it must never let through more."""
    if CLEAN_ENTRY.fullmatch(name):
        assert tree_entry(name, "t") == name
