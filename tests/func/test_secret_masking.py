"""Secrets are shown one way everywhere (``***``), and never reach a crash log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tether.cli import app


def test_config_list_and_remote_list_mask_secrets_alike(repo, tether):
    assert tether("remote", "add", "s3", "s3://bucket/p").code == 0
    assert tether("remote", "modify", "--local", "s3", "secret_access_key", "hunter2").code == 0
    listed = tether("config", "--list")
    assert listed.code == 0
    assert "remotes.s3.secret_access_key=***" in listed.out.splitlines()
    assert "hunter2" not in listed.out
    r = tether("remote", "list")
    assert "secret_access_key=***" in r.out
    assert "hunter2" not in r.out


@pytest.mark.parametrize(
    "argv",
    [
        ["tether", "remote", "modify", "--local", "s3", "secret_access_key", "hunter2"],
        ["tether", "config", "remotes.s3.secret_access_key", "hunter2", "--local"],
        ["tether", "config", "--local", "remotes.s3.session_token", "hunter2"],
    ],
)
def test_crash_log_does_not_hold_a_secret_from_the_command_line(argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", argv)
    path = Path(app._bug_report(RuntimeError("boom")))
    try:
        text = path.read_text()
    finally:
        path.unlink()
    assert "hunter2" not in text
    assert "***" in text
    assert "RuntimeError: boom" in text
    assert argv[1] in text  # the command itself is still there to help the report
