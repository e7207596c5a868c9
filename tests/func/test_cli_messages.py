"""What the command line says when it is pointed at the wrong place or given
something it cannot act on: one line naming the thing, no traceback."""

from __future__ import annotations

import yaml

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


def test_remote_default_local(repo, tether, tmp_path):
    for name in ("shared", "mine"):
        assert tether("remote", "add", name, str(tmp_path / name)).code == 0
    assert tether("remote", "default", "shared").code == 0
    assert tether("remote", "default", "--local", "mine").code == 0
    assert tether("remote", "default").out.strip() == "mine"
    project = yaml.safe_load((repo / ".tether" / "config.yaml").read_text())
    assert project["core"]["remote"] == "shared"
    local = yaml.safe_load((repo / ".tether" / "config.local.yaml").read_text())
    assert local["core"]["remote"] == "mine"
    assert tether("remote", "default", "--unset", "--local").code == 0
    assert tether("remote", "default").out.strip() == "shared"
    assert tether("remote", "default", "--unset").code == 0
    assert tether("remote", "default").code == 1
