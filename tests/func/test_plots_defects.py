"""tether plots against what a cloned repository or a careless file can hold:
links and tracked files where the page or images go, revisions whose names
clash as file names, cached plots that cannot be read, bad tether.yaml at one
revision, and data files with gaps, repeated columns or numbers in odd forms."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write
from tests.func.test_plots import vega_cache  # noqa: F401  (a fixture: the page's bundle)

pytest.importorskip("vl_convert", reason="needs the plots extra (vl-convert-python)")

PY = sys.executable
LOSS = "step,loss\n0,3\n1,2\n2,1\n"


@pytest.fixture
def plots(repo: Path, vega_cache: Path, monkeypatch) -> Path:  # noqa: F811
    """One committed plot, loss.csv, declared at the top level."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(vega_cache))
    write(repo / "loss.csv", LOSS)
    write(repo / "tether.yaml", "schema: 1\nplots:\n  - loss.csv\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "plots")
    return repo


def _json(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out)["tether.plots/v1"]
    return doc


def _values(doc: dict[str, Any], plot: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = {p["id"]: p for p in doc["plots"]}[plot]["spec"]["data"]["values"]
    return found


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "unexpected" not in err
    return lines[0]


# -- where plots write ------------------------------------------------------------


def test_a_committed_symlink_for_the_page_folder_is_refused(plots: Path, tether) -> None:
    victim = plots.parent / "victim"
    write(victim / "index.html", "mine\n")
    os.symlink("../victim", plots / "tether_plots")
    git(plots, "add", "-A")
    git(plots, "commit", "-qm", "a link")
    for args in ([], ["-o", "tether_plots"], ["--png", "tether_plots"], ["--svg", "tether_plots"]):
        r = tether("plots", "show", *args)
        assert r.code == 1, (args, r.out, r.err)
        assert "outside the workspace" in _one_error(r.err)
        assert r.out == ""
    assert (victim / "index.html").read_text() == "mine\n"
    assert sorted(p.name for p in victim.iterdir()) == ["index.html"]


def test_a_link_inside_the_workspace_is_not_written_through(plots: Path, tether) -> None:
    write(plots / "real" / "index.html", "mine\n")
    os.symlink("real", plots / "site")
    r = tether("plots", "show", "-o", "site")
    assert r.code == 1 and "goes through the symlink site" in _one_error(r.err)
    os.symlink("../real/index.html", plots / "page")  # a link where the page goes
    (plots / "out").mkdir()
    os.symlink("../real/index.html", plots / "out" / "index.html")
    r = tether("plots", "show", "-o", "out")
    assert r.code == 1 and "out/index.html: is a symlink" in _one_error(r.err)
    assert (plots / "real" / "index.html").read_text() == "mine\n"


@pytest.mark.parametrize(
    ("args", "tracked"),
    [
        ([], "tether_plots/index.html"),
        (["-o", "site"], "site/index.html"),
        (["--png", "pngs"], "pngs/loss.csv.png"),
    ],
)
def test_a_file_git_tracks_is_never_overwritten(plots: Path, tether, args, tracked) -> None:
    write(plots / tracked, "committed\n")
    git(plots, "add", "-A")
    git(plots, "commit", "-qm", "tracked output")
    r = tether("plots", "show", *args)
    assert r.code == 1
    line = _one_error(r.err)
    assert f"{tracked} is tracked by git, which tether plots never overwrites" in line
    assert f"git rm --cached {tracked}" in line
    assert (plots / tracked).read_text() == "committed\n"
    assert git(plots, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("option", "path"), [("-o", "tether.yaml"), ("--png", "loss.csv"), ("--svg", "loss.csv")]
)
def test_an_output_folder_that_is_a_file_is_a_usage_error(
    plots: Path, tether, option, path
) -> None:
    before = (plots / path).read_text()
    r = tether("plots", "show", option, path)
    assert r.code == 2
    shown = "--out" if option == "-o" else option
    assert _one_error(r.err).startswith(f"error: {shown} {path}: is a file, not a folder")
    assert (plots / path).read_text() == before


def test_an_output_folder_below_a_file_is_a_usage_error(plots: Path, tether) -> None:
    for option in ("-o", "--png"):
        r = tether("plots", "show", option, "loss.csv/figs")
        assert r.code == 2
        assert "loss.csv/figs: goes through a file, not a folder" in _one_error(r.err)
    assert (plots / "loss.csv").read_text() == LOSS


def test_a_folder_made_for_images_ignores_itself(plots: Path, tether) -> None:
    r = tether("plots", "show", "--svg", "figs")
    assert r.code == 0, r.err
    assert r.out.split() == ["figs/loss.csv.svg"]
    assert (plots / "figs" / ".gitignore").is_file()
    assert git(plots, "status", "--porcelain") == ""


# -- revisions -------------------------------------------------------------------


def test_image_files_of_revisions_with_clashing_names_are_distinct(plots: Path, tether) -> None:
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - img.png\n")
    git(plots, "commit", "-qam", "an image plot")
    for branch, body in (("feat/x", b"one"), ("feat_x", b"two"), ("main", b"three")):
        if branch != "main":
            git(plots, "checkout", "-qb", branch, "main")
        write(plots / "img.png", b"\x89PNG\r\n\x1a\n" + body)
        git(plots, "add", "-A")
        git(plots, "commit", "-qm", branch)
        git(plots, "checkout", "-q", "main")
    write(plots / "loss.csv", "step,loss\n0,1\n")
    git(plots, "commit", "-qam", "later")  # HEAD~1 and HEAD^: the commit of "three"
    out = plots.parent / "imgs"
    r = tether("plots", "diff", "feat/x", "feat_x", "HEAD~1", "HEAD^", "--png", str(out))
    assert r.code == 0, r.err
    written = [Path(p) for p in r.out.split()]
    assert len(written) == len(set(written)) == 4
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".gitignore", *(p.name for p in written)]
    )
    contents = {p.name: p.read_bytes()[8:] for p in written}
    assert sorted(contents.values()) == [b"one", b"three", b"three", b"two"]
    feat = git(plots, "rev-parse", "feat/x").strip()[:7]
    under = git(plots, "rev-parse", "feat_x").strip()[:7]
    assert contents[f"img.png@feat_x-{feat}.png"] == b"one"  # both: neither looks like the other
    assert contents[f"img.png@feat_x-{under}.png"] == b"two"
    head = git(plots, "rev-parse", "HEAD~1").strip()[:7]
    assert {f"img.png@HEAD_1-{head}.png", f"img.png@HEAD-{head}.png"} < set(contents)


def test_workspace_is_a_revision_name(plots: Path, tether) -> None:
    write(plots / "loss.csv", "step,loss\n0,9\n")
    r = tether("plots", "diff", "HEAD", "workspace", "--json")
    assert r.code == 0, r.err
    doc = _json(r.out)
    assert doc["revisions"] == ["HEAD", "workspace"]
    assert {s["rev"]: s["y"] for s in _values(doc, "loss.csv")} == {
        "HEAD": [3, 2, 1],
        "workspace": [9],
    }


def test_a_bad_tether_yaml_at_one_revision_spares_the_others(plots: Path, tether) -> None:
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv: {colour: red}\n")
    git(plots, "commit", "-qam", "bad")
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv\n")
    git(plots, "commit", "-qam", "good again")
    r = tether("plots", "diff", "HEAD~2", "HEAD~1", "HEAD", "--json")
    assert r.code == 1
    assert r.err.strip().splitlines() == [
        "warning: plots at HEAD~1: tether.yaml:3: plots.0: unknown plot option(s) colour"
    ]
    doc = _json(r.out)
    assert {s["rev"] for s in _values(doc, "loss.csv")} == {"HEAD~2", "HEAD"}


def test_a_bad_workspace_tether_yaml_says_how_to_fix_it(plots: Path, tether) -> None:
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv: {colour: red}\n")
    r = tether("plots", "show")
    line = _one_error(r.err)
    assert r.code == 1
    assert "tether.yaml:3: plots.0: unknown plot option(s) colour — fix tether.yaml" in line


def test_a_symlink_committed_at_a_revision_is_not_read_through(plots: Path, tether) -> None:
    write(plots / "other.csv", "step,loss\n0,7\n")
    (plots / "loss.csv").unlink()
    os.symlink("other.csv", plots / "loss.csv")
    git(plots, "add", "-A")
    git(plots, "commit", "-qm", "a link")
    (plots / "loss.csv").unlink()
    write(plots / "loss.csv", LOSS)
    r = tether("plots", "diff", "HEAD~1", "HEAD", "--json")
    assert r.code == 1
    assert r.err == ("warning: plot loss.csv at HEAD: a symlink, which tether does not follow\n")
    assert {s["rev"] for s in _values(_json(r.out), "loss.csv")} == {"HEAD~1"}


def test_a_folder_declared_as_a_plot_is_named_a_folder(plots: Path, tether) -> None:
    write(plots / "runs" / "a.csv", LOSS)
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv\n  - runs\n")
    git(plots, "add", "-A")
    git(plots, "commit", "-qm", "a folder")
    r = tether("plots", "diff", "HEAD", "--json")
    assert r.code == 1
    assert "warning: plot runs at HEAD: a folder, not a file" in r.err
    assert "warning: plot runs at workspace: a folder, not a file" in r.err


# -- cached plots ------------------------------------------------------------------


@pytest.fixture
def cached(plots: Path, tether) -> Path:
    """A stage writing curve.csv (a plot kept in the cache), committed; the
    workspace copy removed. Returns the cache object of curve.csv."""
    gen = "import pathlib; pathlib.Path('curve.csv').write_text('step,v\\n0,1\\n1,2\\n')"
    write(plots / "gen.py", gen)
    write(
        plots / "tether.yaml",
        f"schema: 1\nstages:\n  g:\n    cmd: {PY} gen.py\n    deps: [gen.py]\n"
        "    plots:\n      - curve.csv: {cache: true}\n",
    )
    assert tether("repro").code == 0
    git(plots, "add", "-A")
    git(plots, "commit", "-qm", "curve")
    (plots / "curve.csv").unlink()
    import yaml

    [out] = yaml.safe_load((plots / "tether.lock").read_text())["stages"]["g"]["outs"]
    digest: str = out["digest"]
    obj = plots / ".tether" / "cache" / "objects" / digest[:2] / digest[2:]
    assert obj.is_file()
    return obj


def test_a_cached_plot_missing_everywhere_is_a_failure(cached, tether) -> None:
    obj = cached
    obj.chmod(0o644)
    obj.unlink()
    r = tether("plots", "diff", "HEAD", "--json")
    assert r.code == 1
    [line] = [w for w in r.err.splitlines() if "at HEAD" in w]
    assert "plot curve.csv at HEAD: a cached output the lock records, in neither" in line


def test_a_corrupt_cached_plot_is_a_failure(cached, tether) -> None:
    obj = cached
    obj.chmod(0o644)
    obj.write_text("step,v\n0,666\n")
    r = tether("plots", "diff", "HEAD", "--json")
    assert r.code == 1
    [line] = [w for w in r.err.splitlines() if "at HEAD" in w]
    assert (
        "plot curve.csv at HEAD: a cached output the lock records, that could not be read" in line
    )
    assert "not in the cache or on the remote" not in line


# -- declarations ------------------------------------------------------------------


def test_a_plot_declared_twice_is_refused(plots: Path, tether) -> None:
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv\n  - loss.csv: {title: L}\n")
    for cmd in (["plots", "show"], ["status"]):
        r = tether(*cmd)
        assert r.code == 1
        assert "tether.yaml:4: plots.1: plot loss.csv is declared twice (also plots.0)" in r.err


def test_an_output_declared_twice_in_a_stage_is_refused_as_status_does(plots: Path, tether) -> None:
    write(
        plots / "tether.yaml",
        "schema: 1\nstages:\n  s:\n    cmd: echo\n    plots: [loss.csv, loss.csv]\n",
    )
    status = tether("status")
    shown = tether("plots", "show")
    assert status.code == shown.code == 1
    assert "stage s: output loss.csv is declared twice" in _one_error(shown.err)
    assert "stage s: output loss.csv is declared twice" in status.err


def test_unknown_stage_plot_options_are_named_plainly(plots: Path, tether) -> None:
    write(
        plots / "tether.yaml",
        "schema: 1\nstages:\n  s:\n    cmd: echo\n    plots:\n      - p.csv: {templat: x}\n",
    )
    r = tether("plots", "show")
    line = _one_error(r.err)
    assert "tether.yaml:5: stages.s.plots: unknown output option(s) templat —" in line
    assert "{" not in line


# -- data ----------------------------------------------------------------------------


def test_empty_cells_are_no_value(plots: Path, tether) -> None:
    write(plots / "cm.csv", "actual,predicted\n0,0\n1,1\n2,\n,1\n")
    write(plots / "xy.csv", "epoch,loss\n1,3\n,2\n3,\n4,1\n")
    write(
        plots / "tether.yaml",
        "schema: 1\nplots:\n  - cm.csv: {template: confusion}\n  - xy.csv: {x: epoch}\n",
    )
    r = tether("plots", "show", "--json")
    assert r.code == 0, r.err
    doc = _json(r.out)
    [cm] = _values(doc, "cm.csv")
    assert (cm["x"], cm["y"]) == (["0", "1"], ["0", "1"])
    [xy] = _values(doc, "xy.csv")
    assert (xy["x"], xy["y"]) == ([1, 4], [3, 1])


def test_a_column_named_twice_is_refused(plots: Path, tether) -> None:
    write(plots / "loss.csv", "step,loss,loss\n0,1,2\n")
    r = tether("plots", "show", "--json")
    assert r.code == 1
    assert r.err == "warning: plot loss.csv at workspace: the header names 'loss' twice\n"


def test_numbers_are_parsed_strictly(plots: Path, tether) -> None:
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv: {y: loss}\n")
    write(plots / "loss.csv", "step,loss\n0,1_000\n")
    r = tether("plots", "show", "--json")
    assert r.code == 1
    assert r.err == (
        "warning: plot loss.csv at workspace: column 'loss' is not numeric (line 2: '1_000')\n"
    )
    write(plots / "loss.csv", "step,loss\n0,1e3\n1,-.5\n2,+2\n3,nan\n4,-inf\n")
    r = tether("plots", "show", "--json")
    assert r.code == 0, r.err
    [s] = _values(_json(r.out), "loss.csv")
    assert (s["x"], s["y"]) == ([0, 1, 2], [1000.0, -0.5, 2])  # nan and inf are left out


# -- specs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "frame"), [(10, 1), (45, 4), (500, 10), (5, 0)])
def test_smooth_follows_a_short_series(plots: Path, tether, rows: int, frame: int) -> None:
    write(plots / "loss.csv", "step,loss\n" + "".join(f"{i},{i * i}\n" for i in range(rows)))
    write(plots / "tether.yaml", "schema: 1\nplots:\n  - loss.csv: {template: smooth}\n")
    r = tether("plots", "show", "--json")
    assert r.code == 0, r.err
    [plot] = _json(r.out)["plots"]
    [window] = plot["spec"]["layer"][1]["transform"]
    assert window["frame"] == [-frame, frame]


def test_a_legend_of_many_series_wraps_instead_of_being_cut(plots: Path, tether) -> None:
    cols = [f"validation_metric_{n}" for n in range(6)]
    write(plots / "loss.csv", "step," + ",".join(cols) + "\n0,1,2,3,4,5,6\n1,2,3,4,5,6,7\n")
    r = tether("plots", "show", "--json")
    assert r.code == 0, r.err
    [plot] = _json(r.out)["plots"]
    legend = plot["spec"]["encoding"]["color"]["legend"]
    assert legend["orient"] == "bottom" and legend["columns"] == 3
    assert legend["labelLimit"] * 3 <= 640
