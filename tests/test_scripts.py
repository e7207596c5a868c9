"""scripts/pythons.sh: which supported Python versions scripts/test.sh can
test here; a version without an interpreter is reported, never dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _pythons(path: str, pyenv_root: Path) -> dict[str, str]:
    r = subprocess.run(
        ["bash", str(ROOT / "scripts/pythons.sh")],
        env={"PATH": path, "HOME": str(pyenv_root), "PYENV_ROOT": str(pyenv_root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def test_every_supported_version_is_listed_found_or_not(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / f"python{MINE}").symlink_to(sys.executable)
    # pyenv's layout, with an interpreter that is not the version its name says
    fake = tmp_path / "pyenv/versions/3.12.99/bin/python3.12"
    fake.parent.mkdir(parents=True)
    fake.symlink_to(sys.executable)
    found = _pythons(f"{bin_}{os.pathsep}/usr/bin{os.pathsep}/bin", tmp_path / "pyenv")
    assert set(found) == {"3.11", "3.12", "3.13"}
    assert found[MINE] == str(bin_ / f"python{MINE}")
    if MINE != "3.12":
        assert found["3.12"] in ("-", "/usr/bin/python3.12")  # never the impostor


def test_pyenv_versions_are_found_without_being_on_path(tmp_path):
    real = tmp_path / f"pyenv/versions/{MINE}.0/bin/python{MINE}"
    real.parent.mkdir(parents=True)
    real.symlink_to(sys.executable)
    found = _pythons(f"/nonexistent{os.pathsep}/bin", tmp_path / "pyenv")
    assert found[MINE] in (str(real), f"/bin/python{MINE}")


def test_test_script_reports_a_missing_version_and_runs_the_fast_suite_on_the_others():
    text = (ROOT / "scripts/test.sh").read_text()
    assert "scripts/pythons.sh" in text
    assert "SKIPPED" in text
    assert '-m "not slow"' in text
    assert text.count(".venv/bin/pytest") == 1  # the whole suite, once, on the main Python


def test_supported_versions_agree_everywhere():
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    claimed = {
        c.rsplit(" ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    m = re.search(r'SUPPORTED="([^"]*)"', (ROOT / "scripts/pythons.sh").read_text())
    assert m is not None
    tested = set(m[1].split())
    assert claimed == tested
    assert project["requires-python"] == f">={min(tested, key=lambda v: int(v.split('.')[1]))}"
    readme = (ROOT / "README.md").read_text()
    versions = sorted(tested, key=lambda v: int(v.split(".")[1]))
    assert f"Supported: Python {', '.join(versions[:-1])} and {versions[-1]}" in readme


def test_quick_start_says_how_to_get_tether_on_path():
    readme = (ROOT / "README.md").read_text()
    quick = readme[readme.index("## Quick start") : readme.index("## Using it")]
    assert "source .venv/bin/activate" in quick
    demo = (ROOT / "scripts/demo.sh").read_text()
    closing = demo[demo.rindex("cat <<EOT") :]
    assert "/.venv/bin/activate" in closing  # the demo's last words say it too


def test_demo_headings_are_plain_text_in_a_log():
    demo = (ROOT / "scripts/demo.sh").read_text()
    start = demo.index("if [ -t 1 ]")
    heading = demo[start : demo.index("\nfi\n", start) + 4]
    r = subprocess.run(
        ["bash", "-c", f"{heading}\nstep 'tether repro'"], capture_output=True, text=True
    )
    assert r.stdout == "\n== tether repro\n"  # stdout is a pipe here: no escape codes
