"""What the command line says when it is pointed at the wrong place or given
something it cannot act on: one line naming the thing, no traceback."""

from __future__ import annotations

from tests.conftest import write


def test_dash_c_names_a_missing_folder(tmp_path, tether):
    r = tether("-C", str(tmp_path / "nonexistent"), "status")
    assert r.code == 2
    assert f"{tmp_path / 'nonexistent'}: the folder does not exist" in r.err
    assert "git repository" not in r.err
    write(tmp_path / "file", "x")
    r = tether("-C", str(tmp_path / "file"), "status")
    assert r.code == 2
    assert "is not a folder" in r.err
