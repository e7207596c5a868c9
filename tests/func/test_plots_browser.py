"""The plots page in a real browser: headless Chromium opens the file (no
network), and every plot must have drawn its SVG marks. Skipped where no
Chromium is installed (Debian: `apt-get install chromium`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import git, write

pytest.importorskip("vl_convert", reason="needs the plots extra (vl-convert-python)")

BROWSER = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER is None, reason="no Chromium found (chromium, google-chrome)"),
]
FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
    "--virtual-time-budget=15000",  # until the plots' scripts have run
]
PY = sys.executable
GEN = """
import json, pathlib, yaml
k = yaml.safe_load(open("params.yaml"))["k"]
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/loss.csv").write_text("step,loss\\n" + "".join(f"{i},{k / (i + 1)}\\n" for i in range(200)))
json.dump([{"actual": i % 3, "predicted": (i * k) % 3} for i in range(60)], open("out/cm.json", "w"))
json.dump({"name": ["a", "b", "c"], "score": [k, k + 1, k + 2]}, open("out/bars.json", "w"))
"""


_EMPTY = ("path", "rect", "line", "circle", "img", "meta", "br", "input", "link")  # no end tag


class _Marks(HTMLParser):
    """For each ``div.vega``: how many SVG marks (paths, rects, …) it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.marks: dict[str, int] = {}
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        current = next((s for s in reversed(self.stack) if s), None)
        vega = a.get("id") if "vega" in (a.get("class") or "").split() else None
        if tag == "div" and vega:
            current = vega
            self.marks[vega] = 0
        if "plot-error" in (a.get("class") or "").split():
            self.errors.append(a.get("id") or "?")
        if current and tag in ("path", "rect", "line", "text"):
            self.marks[current] += 1
        if tag not in _EMPTY:
            self.stack.append(current if tag == "div" else None)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _EMPTY and self.stack:
            self.stack.pop()


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    return subprocess.run(
        [BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.timeout(180)
def test_every_plot_renders_in_headless_chromium(repo: Path, tether, tmp_path) -> None:
    write(repo / "gen.py", GEN)
    write(repo / "params.yaml", "k: 1\n")
    write(
        repo / "tether.yaml",
        f"schema: 1\nstages:\n  gen:\n    cmd: {PY} gen.py\n    deps: [gen.py]\n"
        "    params: [k]\n    outs: [out]\n"
        "plots:\n"
        "  - out/loss.csv: {template: smooth}\n"
        "  - out/cm.json: {template: confusion_normalized}\n"
        "  - out/bars.json: {template: bar_horizontal, x: name, y: score}\n"
        "  - scatter: {template: scatter, y: {out/loss.csv: loss}}\n",
    )
    for k in (1, 2):
        write(repo / "params.yaml", f"k: {k}\n")
        assert tether("repro").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"k {k}")
    r = tether("plots", "diff", "HEAD~1", "HEAD")
    assert r.code == 0, r.err
    page = Path(r.out.strip())
    profile = tmp_path / "chromium-profile"
    dom = _chromium("--dump-dom", page.as_uri(), profile=profile)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Marks()
    parsed.feed(dom.stdout)
    assert sorted(parsed.marks) == ["vis-0", "vis-1", "vis-2", "vis-3"], dom.stdout[-3000:]
    assert all(n > 10 for n in parsed.marks.values()), parsed.marks  # drawn, not blank
    assert parsed.errors == []
    shot = tmp_path / "plots.png"  # kept for a look: pytest's tmp folder of this test
    done = _chromium("--screenshot=" + str(shot), "--window-size=1000,2400", page.as_uri(),
                     profile=profile)  # fmt: skip
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
