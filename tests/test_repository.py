"""The repository stands alone: everything a reader, the tests or the
benchmarks need is inside it, and its files speak of the project only."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each pattern is something found in this repository before: a path to a
# folder beside the clone, or a note about how the work was organised
# (work periods, who was lent which machine, tracker numbers).
OUTSIDE = [
    re.compile(r"\.\./shared\b"),
    re.compile(r"(?<![\w.~-])/work/"),
    re.compile(r"\bshared/(DESIGN|STYLE|bench)\b"),
    re.compile(r"(?<!docs/)\b(DESIGN|STYLE)\.md\b"),  # case matters: docs/design.md is ours
    re.compile(
        r"\b(this|that|same|first|second|third|next|earlier|previous|last|each|one|a|"
        r"another|later)\s+session\b",
        re.IGNORECASE,
    ),
    re.compile(r"\(\w+ session\)", re.IGNORECASE),
    re.compile(r"\b(the|a|another) (lead|helper)\b(?! to)", re.IGNORECASE),
    re.compile(r"\bwas (not )?lent\b|\bdrawn for a device\b|`device` tool", re.IGNORECASE),
    re.compile(r"\bissue \(?#?\d+|\(#\d+\)|\bitem \d+ of\b", re.IGNORECASE),
    re.compile(r"\bwork period", re.IGNORECASE),
]


def _files() -> list[Path]:
    r = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    names = [n for n in r.stdout.decode().split("\0") if n]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def test_no_file_refers_outside_the_repository_or_to_how_the_work_was_organised():
    me = Path(__file__).resolve()
    found = []
    for path in _files():
        if path.resolve() == me:
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary
        for n, line in enumerate(text.splitlines(), 1):
            found += [
                f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for p in OUTSIDE if p.search(line)
            ]
    assert found == []


def test_the_patterns_catch_what_they_are_for():
    # written in pieces so that this file itself holds none of the phrases
    session, shared = "ses" + "sion", "../" + "shared"
    caught = [
        f"This complements `{shared}/DESIGN.md` (names, layers)",
        f"## 2026-11-23 (second {session}), core (#2): add in workers",
        f"after this {session}'s changes",
        "Not run: this " + "task was not lent a " + "GPU machine",
        "MKDATA = HERE.parent.parent / 'shared' / 'bench'; see /work/shared/bench/mkdata.py",
    ]
    innocent = [
        'monkeypatch.setattr(x, "session_token", 1)',
        "start_new_session=group,",
        '@pytest.fixture(scope="session")',
        "formats in docs/design.md and DESIGN decisions",
        "this could lead to a loss",
    ]
    assert all(any(p.search(s) for p in OUTSIDE) for s in caught)
    assert not any(p.search(s) for p in OUTSIDE for s in innocent)


def test_benchmark_data_is_generated_inside_the_repository_and_deterministic(tmp_path):
    mkdata = ROOT / "benchmarks" / "mkdata.py"
    subprocess.run([sys.executable, mkdata, "small", tmp_path / "small", "120"], check=True)
    subprocess.run([sys.executable, mkdata, "big", tmp_path / "big", "2", "1"], check=True)
    digest = hashlib.sha256()
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file():
            digest.update(p.relative_to(tmp_path).as_posix().encode() + b"\0" + p.read_bytes())
    # the bytes every earlier benchmark run used: results stay comparable
    assert digest.hexdigest() == "f6061481043975675ac27cf0a0940a941d18e648bff2ce6d449c4828881b7c76"
    for script in ("core.py", "remotes.py"):
        assert "MKDATA = HERE / " in (ROOT / "benchmarks" / script).read_text()
