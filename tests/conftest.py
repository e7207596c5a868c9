"""Fixtures: a real temporary git repository with tether initialised, an
isolated HOME and git identity, and a CLI runner that runs the command line
in-process exactly as a user types it and re-raises unexpected exceptions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tether.cli.app import invoke


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TETHER_LOCK_WAIT", "1")
    monkeypatch.delenv("TETHER_CACHE_DIR", raising=False)


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in every test however the suite was
    started: a shell starts a background job with SIGINT ignored, and Python
    then keeps it ignored (the fast suites of scripts/test.sh run so); a child
    process gets the default again at exec."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def tether(capsys):
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = invoke(list(args), catch_bugs=False)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch, tether):
    root = tmp_path / "ws"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    assert tether("init").code == 0
    git(root, "commit", "-qm", "init")
    return root


@pytest.fixture
def remote(repo, tether, tmp_path):
    """A local folder remote ``origin``, the default, committed in the repo's config."""
    folder = tmp_path / "remote"
    folder.mkdir()
    assert tether("remote", "add", "origin", str(folder), "--default").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    return folder


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def snapshot(top: Path) -> dict[str, bytes]:
    """Every file below ``top`` with its bytes."""
    return {
        p.relative_to(top).as_posix(): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()
    }


def run_cli(cwd: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a child process (for signals, locks, timing)."""
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **kw.pop("env", {})},
        **kw,
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One real SeaweedFS S3 server for the whole test session."""
    from tests.s3server import SeaweedFS

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_remote(s3_server, request):
    """Settings for a fresh prefix of the test bucket: (url, endpoint, key, secret)."""
    from tests.s3server import ACCESS_KEY, BUCKET, SECRET_KEY

    prefix = request.node.name.replace("[", "-").replace("]", "")[:60]
    return f"s3://{BUCKET}/{prefix}-{os.getpid()}", s3_server.endpoint, ACCESS_KEY, SECRET_KEY


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


_NEAR_TIMEOUT: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Note every test that used more than half of its time limit: on a busy
    machine it is the next one to time out."""
    yield
    if call.when != "call":
        return
    marker = item.get_closest_marker("timeout")
    limit = (
        float(marker.args[0]) if marker and marker.args else float(item.config.getini("timeout"))
    )
    if limit and call.duration > limit / 2:
        _NEAR_TIMEOUT.append(f"{item.nodeid}: {call.duration:.1f} s of its {limit:.0f} s limit")


def pytest_terminal_summary(terminalreporter):
    if _NEAR_TIMEOUT:
        terminalreporter.section("tests close to their time limit (more than half used)")
        for line in _NEAR_TIMEOUT:
            terminalreporter.write_line(line)
