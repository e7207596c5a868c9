"""config.py: the project and local files merged, typed and confined."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tether import config
from tether.errors import ConfigError


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    """A project's .tether/ in a git repository (remote commands stage config.yaml)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    d = tmp_path / ".tether"
    d.mkdir()
    (d / config.PROJECT).write_text("schema: 1\n")
    return d


def test_defaults_without_settings(tdir: Path) -> None:
    cfg = config.load(tdir)
    assert cfg == config.Config()
    assert cfg.link == ["reflink", "copy"]
    assert config.get_value(tdir, "core.autostage") is True


def test_values_are_parsed_and_the_local_file_wins(tdir: Path) -> None:
    config.set_value(tdir, "core.autostage", "off", local=False)
    config.set_value(tdir, "cache.link", "hardlink, copy", local=False)
    config.remote_add(tdir, "store", "/srv/store", default=True, local=False, force=False)
    config.remote_add(tdir, "other", "/srv/other", default=False, local=False, force=False)
    config.remote_default(tdir, "other", local=True)
    cfg = config.load(tdir)
    assert cfg.autostage is False
    assert cfg.link == ["hardlink", "copy"]
    assert cfg.remote == "other"  # the local file overrides the committed one
    assert config.flatten(tdir)["remotes.store.url"] == "/srv/store"


def test_remote_options_are_typed(tdir: Path) -> None:
    config.remote_add(tdir, "s", "/srv/s", default=False, local=False, force=False)
    config.remote_modify(tdir, "s", "jobs", "4", local=False)
    config.remote_modify(tdir, "s", "pack", "yes", local=False)
    assert config.load(tdir).remotes["s"] == {"url": "/srv/s", "jobs": 4, "pack": True}
    with pytest.raises(ConfigError, match="jobs must be at least 1"):
        config.remote_modify(tdir, "s", "jobs", "0", local=False)
    with pytest.raises(ConfigError, match="not a boolean"):
        config.remote_modify(tdir, "s", "pack", "maybe", local=False)


def test_secrets_are_refused_in_the_committed_file(tdir: Path) -> None:
    config.remote_add(tdir, "s", "s3://b/p", default=False, local=False, force=False)
    with pytest.raises(ConfigError, match="looks like a secret") as exc:
        config.remote_modify(tdir, "s", "secret_access_key", "x", local=False)
    assert "--local" in (exc.value.hint or "")
    config.remote_modify(tdir, "s", "secret_access_key", "x", local=True)
    assert "secret" not in (tdir / config.PROJECT).read_text()
    assert config.is_secret("password") and config.is_secret("aws_access_key_id")
    assert not config.is_secret("endpoint_url")


def test_url_with_a_password_is_refused(tdir: Path) -> None:
    with pytest.raises(ConfigError, match="holds a password"):
        config.remote_add(tdir, "s", "sftp://u:pw@host/x", default=False, local=True, force=False)


@pytest.mark.parametrize("value", ["/tmp/c", "~/c", "../c", "$HOME/c", "a\\b", "."])
def test_committed_cache_dir_stays_inside_tether(tdir: Path, value: str) -> None:
    (tdir / config.PROJECT).write_text(f"schema: 1\ncache:\n  dir: {value!r}\n")
    with pytest.raises(ConfigError, match=re.escape("outside .tether/")):
        config.load(tdir)


def test_local_cache_dir_may_be_anywhere(tdir: Path) -> None:
    (tdir / config.LOCAL).write_text("schema: 1\ncache:\n  dir: /data/cache\n")
    assert config.load(tdir).cache_dir == "/data/cache"
    assert config.committed_cache_dir("sub/./cache") == "sub/cache"


def test_unknown_keys_and_bad_names(tdir: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("unknown config key 'core.nope'")):
        config.set_value(tdir, "core.nope", "1", local=False)
    with pytest.raises(ConfigError, match="not a valid remote name"):
        config.remote_add(tdir, "-x", "/r", default=False, local=False, force=False)
    with pytest.raises(ConfigError, match="is not set"):
        config.get_value(tdir, "core.remote")


def test_a_remote_without_url_is_refused(tdir: Path) -> None:
    (tdir / config.PROJECT).write_text("schema: 1\nremotes:\n  r: {jobs: 2}\n")
    with pytest.raises(ConfigError, match="remote 'r' needs a url"):
        config.load(tdir)
