"""Every command has help, is in docs/cli.md, and `tether --help` starts fast."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import run_cli

COMMANDS = [
    *("init", "add", "status", "checkout", "remove", "gc", "fsck", "cache", "config"),
    *("remote", "push", "fetch", "pull", "install-hooks", "stage", "repro", "dag"),
    *("metrics", "params", "diff", "exp", "queue"),
]


def test_every_command_has_help_and_docs(tether):
    top = tether("--help")
    assert top.code == 0
    commands = top.out.split("Commands:", 1)[1]
    listed = set(re.findall(r"^\s{2}(\w[\w-]*)\s", commands, re.M))
    assert set(COMMANDS) <= listed
    doc = (Path(__file__).parent.parent / "docs/cli.md").read_text()
    for cmd in sorted(listed):  # every command the CLI has, not only those named here
        r = tether(cmd, "--help")
        assert r.code == 0 and len(r.out) > 80, cmd
        assert f"tether {cmd}" in doc, f"{cmd} missing from docs/cli.md"


def test_version_and_help_start_fast(tmp_path):
    r = run_cli(tmp_path, "--version")
    assert r.returncode == 0 and r.stdout.startswith("tether ")
    best = min(_timed(tmp_path) for _ in range(3))
    assert best < 1.0  # generous for CI; the benchmark records the real figure


def _timed(cwd):
    t = time.perf_counter()
    run_cli(cwd, "--help")
    return time.perf_counter() - t


def test_help_does_not_import_heavy_modules(tmp_path):
    code = (
        "import sys; from tether.cli.app import invoke; invoke(['--help']);"
        "heavy = [m for m in ('git', 'rich.progress', 'fsspec', 'sqlite3', 'yaml', 'ray') if m in sys.modules];"
        "print('HEAVY', heavy)"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    assert "HEAVY []" in out


def _all_commands(tether, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand, found by reading the help itself."""
    found = [prefix]
    text = tether(*prefix, "--help").out
    if "Commands:" in text:
        for name in re.findall(r"^\s{2}(\w[\w-]*)\s", text.split("Commands:", 1)[1], re.M):
            found += _all_commands(tether, (*prefix, name))
    return found


def test_help_shows_brackets_unescaped(tether):
    commands = _all_commands(tether)
    assert ("remote", "add") in commands and ("metrics", "check") in commands
    for cmd in commands:
        r = tether(*cmd, "--help")
        assert r.code == 0, cmd
        assert "\\[" not in r.out, f"tether {' '.join(cmd)} --help:\n{r.out}"
    assert "PATHS...  [required]" in tether("add", "--help").out
    assert "[default: HEAD]" in tether("diff", "--help").out
    assert "[x>=1]" in tether("add", "--help").out


def _options(help_text: str) -> set[str]:
    """The long options a command's --help lists (its own, not --help)."""
    return set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", help_text, re.M)) - {"--help"}


def test_docs_list_every_option_of_every_command(tether):
    """docs/cli.md matches --help: each command's row names each of its options."""
    doc = (Path(__file__).parent.parent / "docs/cli.md").read_text()
    missing = []
    for cmd in _all_commands(tether)[1:]:
        text = tether(*cmd, "--help").out
        if "Commands:" in text:
            continue  # a group: its subcommands have the rows
        name = "tether " + " ".join(cmd)
        rows = [ln for ln in doc.splitlines() if f"`{name} " in ln or f"`{name}`" in ln]
        if not rows:
            missing.append(f"{name}: no row in docs/cli.md")
            continue
        for opt in sorted(_options(text)):
            short = re.search(rf"^\s+(-\w), {opt}\b", text, re.M)
            names = [opt] + ([short.group(1)] if short else [])
            if not any(re.search(rf"{re.escape(n)}\b", " ".join(rows)) for n in names):
                missing.append(f"{name}: {opt}")
    assert not missing, "\n".join(missing)
