"""tether plots: declarations, sources (workspace, revisions, experiments,
cached outputs), the HTML page, PNG/SVG files, --json, and bad input; with a
real git repository and a pipeline of Python scripts."""

from __future__ import annotations

import json
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write

pytest.importorskip("vl_convert", reason="needs the plots extra (vl-convert-python)")

PY = sys.executable

# train: a loss curve from params.yaml's lr, a confusion matrix (a cached
# output, read through the lock at other revisions), a PR curve and an image.
TRAIN = """
import json, pathlib, yaml
lr = yaml.safe_load(open("params.yaml"))["lr"]
pathlib.Path("train").mkdir(exist_ok=True)
pathlib.Path("eval").mkdir(exist_ok=True)
rows = ["step\\tloss\\tacc"] + [f"{i}\\t{lr * 100 / (i + 1)}\\t{min(1.0, i * lr)}" for i in range(50)]
pathlib.Path("train/steps.tsv").write_text("\\n".join(rows) + "\\n")
pairs = [(a, a if (i * 7 + int(lr * 10)) % 5 else 1 - a) for i, a in enumerate([0, 1] * 20)]
pathlib.Path("eval/confusion.csv").write_text("actual,predicted\\n" + "".join(f"{a},{p}\\n" for a, p in pairs))
pr = [{"recall": r / 10, "precision": 1 - r * lr / 10} for r in range(11)]
json.dump(pr, open("eval/pr.json", "w"))
pathlib.Path("eval/roc.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
pathlib.Path("model.txt").write_text(str(lr))
"""

TETHER_YAML = f"""schema: 1
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [lr]
    outs: [model.txt]
    plots:
      - train/steps.tsv: {{y: [loss, acc], title: Training}}
      - eval/confusion.csv: {{cache: true, template: confusion, x: actual, y: predicted}}
      - eval/roc.svg
plots:
  - precision-recall:
      x: recall
      y: {{eval/pr.json: precision}}
      template: scatter
      x_label: Recall
      y_label: Precision
"""


@pytest.fixture(scope="session")
def vega_cache(tmp_path_factory) -> Path:
    """One cache folder for the page's JavaScript bundle (built once: 1-2 s)."""
    from tether.plots import output

    folder: Path = tmp_path_factory.mktemp("xdg-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(folder))
    output.bundle()
    mp.undo()
    return folder


@pytest.fixture
def proj(repo: Path, tether, vega_cache: Path, monkeypatch) -> Path:
    """Two commits (lr 0.1, then 0.2) and an experiment ``bright`` (lr 0.3)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(vega_cache))
    write(repo / "train.py", TRAIN)
    write(repo / "params.yaml", "lr: 0.1\n")
    write(repo / "tether.yaml", TETHER_YAML)
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lr 0.1")
    write(repo / "params.yaml", "lr: 0.2\n")
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lr 0.2")
    r = tether("exp", "run", "--json", "-S", "lr=0.3", "--name", "bright")
    assert r.code == 0, r.err
    return repo


def _specs(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="tether-specs">(.*?)</script>', page, re.S)
    assert m, "no specs in the page"
    specs: dict[str, Any] = json.loads(m.group(1))
    return specs


def _by_title(page: str) -> dict[str, dict[str, Any]]:
    return {s["title"]: s for s in _specs(page).values()}


def _revs(spec: dict[str, Any]) -> dict[str, int]:
    """Points per revision of a spec's inline data (one record per series, its
    points in the lists x and y, which the spec's first transform flattens)."""
    assert spec["transform"][0] == {"flatten": ["x", "y"]}
    counts: dict[str, int] = {}
    for series in spec["data"]["values"]:
        assert len(series["x"]) == len(series["y"])
        counts[series["rev"]] = counts.get(series["rev"], 0) + len(series["y"])
    return counts


def _page(out: str) -> str:
    path = Path(out.strip().splitlines()[-1])
    assert path.name == "index.html", out
    return path.read_text()


def test_show_draws_every_declared_plot_in_one_offline_page(proj: Path, tether) -> None:
    r = tether("plots", "show")
    assert r.code == 0, r.err
    assert r.out.strip() == str(proj / "tether_plots" / "index.html")
    page = _page(r.out)
    specs = _by_title(page)
    assert set(specs) == {"Training", "eval/confusion.csv", "precision-recall"}
    training = specs["Training"]
    assert [s["series"] for s in training["data"]["values"]] == ["loss", "acc"]
    assert _revs(training) == {"workspace": 100}  # 50 steps x 2 columns
    assert training["mark"]["type"] == "line"
    pr = specs["precision-recall"]
    assert pr["mark"]["type"] == "point"
    assert pr["encoding"]["x"]["title"] == "Recall" and pr["encoding"]["y"]["title"] == "Precision"
    # the image, inline; nothing fetched when the page is viewed
    assert 'data-plot="eval/roc.svg"' in page and 'src="data:image/svg+xml;base64,' in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", page)
    assert "window.vegaEmbed" in page
    assert "tether_plots" in git(
        proj, "status", "--porcelain", "--ignored"
    )  # ignored, not untracked
    assert "?? tether_plots" not in git(proj, "status", "--porcelain")


def test_a_folder_of_the_users_gets_no_gitignore(proj: Path, tether) -> None:
    write(proj / "reports" / "notes.md", "mine\n")
    r = tether("plots", "show", "-o", "reports")
    assert r.code == 0 and r.out.strip() == "reports/index.html"
    assert not (proj / "reports" / ".gitignore").exists()
    assert "?? reports/" in git(proj, "status", "--porcelain")


def test_diff_has_one_series_per_revision_and_experiment(proj: Path, tether) -> None:
    r = tether("plots", "diff", "HEAD~1", "HEAD", "bright")
    assert r.code == 0, r.err
    assert r.err == ""
    specs = _by_title(_page(r.out))
    training = specs["Training"]
    assert _revs(training) == {"HEAD~1": 100, "HEAD": 100, "bright": 100}
    first = {s["rev"]: s["y"][0] for s in training["data"]["values"] if s["field"] == "loss"}
    assert first == pytest.approx({"HEAD~1": 10.0, "HEAD": 20.0, "bright": 30.0})
    domain = training["encoding"]["color"]["scale"]["domain"]  # in the order given
    assert domain == [
        f"{rev} {col}" for rev in ("HEAD~1", "HEAD", "bright") for col in ("loss", "acc")
    ]
    # the cached confusion matrix, gitignored, read through each revision's lock digest
    assert git(proj, "check-ignore", "eval/confusion.csv")
    confusion = specs["eval/confusion.csv"]
    assert _revs(confusion) == {"HEAD~1": 40, "HEAD": 40, "bright": 40}
    assert confusion["facet"]["column"]["field"] == "series"
    assert _revs(specs["precision-recall"]) == {"HEAD~1": 11, "HEAD": 11, "bright": 11}


def test_diff_defaults_to_head_against_the_workspace(proj: Path, tether) -> None:
    write(proj / "params.yaml", "lr: 0.5\n")
    assert tether("repro").code == 0
    specs = _by_title(_page(tether("plots", "diff").out))
    assert set(_revs(specs["Training"])) == {"HEAD", "workspace"}


def test_cached_plot_comes_from_the_remote_when_the_cache_lacks_it(
    proj: Path, tether, tmp_path
) -> None:
    assert tether("remote", "add", "store", str(tmp_path / "store"), "--default").code == 0
    assert tether("push", "--all-commits").code == 0
    shutil.rmtree(proj / ".tether" / "cache")
    (proj / "eval" / "confusion.csv").unlink()
    r = tether("plots", "diff", "HEAD~1", "HEAD")
    assert r.code == 0, r.err
    specs = _by_title(_page(r.out))
    assert _revs(specs["eval/confusion.csv"]) == {"HEAD~1": 40, "HEAD": 40}


def _png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    pixels = zlib.decompress(idat)
    return width, height, len(set(pixels))


def test_png_one_image_per_plot_not_blank(proj: Path, tether, tmp_path) -> None:
    out = tmp_path / "png"
    r = tether("plots", "diff", "HEAD~1", "HEAD", "--png", str(out))
    assert r.code == 0, r.err
    names = sorted(p.name for p in out.iterdir() if p.name != ".gitignore")
    parent = git(proj, "rev-parse", "HEAD~1").strip()[:7]
    assert names == [
        "eval_confusion.csv.png",
        "eval_roc.svg@HEAD.svg",
        f"eval_roc.svg@HEAD_1-{parent}.svg",  # "HEAD~1" had to change: its commit tells it apart
        "precision-recall.png",
        "train_steps.tsv.png",
    ]
    assert (out / ".gitignore").read_text() == "# written by `tether plots`\n*\n"  # a new folder
    assert set(r.out.split()) == {str(out / n) for n in names}
    width, height, colours = _png_size_and_colours((out / "train_steps.tsv.png").read_bytes())
    assert (width, height) == (640, 320)  # the spec's size: axes and legend fit inside
    assert colours > 20  # lines, text and axes, not a blank canvas
    _, _, colours = _png_size_and_colours((out / "eval_confusion.csv.png").read_bytes())
    assert colours > 20


def test_svg_and_json(proj: Path, tether, tmp_path) -> None:
    import xml.etree.ElementTree as ET

    out = tmp_path / "svg"
    assert tether("plots", "show", "--svg", str(out)).code == 0
    root = ET.parse(out / "train_steps.tsv.svg").getroot()
    assert root.tag.endswith("svg") and root.get("width") == "640"
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) > 5
    r = tether("plots", "diff", "HEAD~1", "bright", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)["tether.plots/v1"]
    assert doc["revisions"] == ["HEAD~1", "bright"] and doc["failed"] is False
    plots = {p["id"]: p for p in doc["plots"]}
    assert _revs(plots["train/steps.tsv"]["spec"]) == {"HEAD~1": 100, "bright": 100}
    assert [i["revision"] for i in plots["eval/roc.svg"]["images"]] == ["HEAD~1", "bright"]
    assert not (proj / "tether_plots").exists()  # --json writes nothing


def test_templates_are_listed_and_printed(tether) -> None:
    r = tether("plots", "templates")
    names = r.out.split()
    assert {"linear", "scatter", "smooth", "confusion", "confusion_normalized",
            "bar_horizontal"} <= set(names)  # fmt: skip
    for name in names:
        spec = json.loads(tether("plots", "templates", name).out)
        assert "mark" in spec or "layer" in spec
    bad = tether("plots", "templates", "pie")
    assert bad.code == 2 and "no template 'pie'" in bad.err


def test_every_template_renders(proj: Path, tether, tmp_path) -> None:
    write(proj / "bars.csv", "model,score\nsmall,0.5\nbase,0.7\n")
    write(
        proj / "tether.yaml",
        TETHER_YAML
        + "".join(
            f"  - {n}: {{y: {{train/steps.tsv: loss}}, template: {n}}}\n"
            for n in ("linear", "smooth")
        )
        + "  - bars.csv: {x: model, y: score, template: bar_horizontal}\n"
        + "  - norm: {y: {eval/confusion.csv: predicted}, x: actual, "
        "template: confusion_normalized}\n",
    )
    out = tmp_path / "png"
    r = tether("plots", "show", "--png", str(out))
    assert r.code == 0, r.err
    for name in ("linear", "smooth", "bars.csv", "norm"):
        assert _png_size_and_colours((out / f"{name}.png").read_bytes())[2] > 10, name
    page = _page(tether("plots", "show").out)
    norm = _by_title(page)["norm"]
    assert any(t.get("calculate") == "datum.count / datum.total" for t in norm["transform"])


# -- bad input ----------------------------------------------------------------


def _declare(root: Path, plots: str) -> None:
    write(root / "tether.yaml", TETHER_YAML + plots)


def test_bad_files_are_one_warning_each_and_the_rest_is_drawn(proj: Path, tether) -> None:
    write(proj / "empty.csv", "")
    write(proj / "words.csv", "step,loss\n0,1.5\n1,high\n")
    write(proj / "blank.json", "  \n")
    _declare(
        proj,
        "  - nocol: {y: {train/steps.tsv: los}}\n"
        "  - words.csv: {y: loss}\n"
        "  - empty.csv\n"
        "  - blank.json\n",
    )
    r = tether("plots", "show")
    assert r.code == 1
    warnings = r.err.splitlines()
    assert warnings == [
        "warning: plot nocol: train/steps.tsv at workspace: no column 'los' (it has step, loss, acc)",
        "warning: plot words.csv at workspace: column 'loss' is not numeric (line 3: 'high')",
        "warning: plot empty.csv at workspace: empty, no header row",
        "warning: plot blank.json at workspace: empty",
    ]
    specs = _by_title(_page(r.out))  # the page is still written, with the good plots
    assert {"Training", "eval/confusion.csv", "precision-recall"} <= set(specs)
    assert "no column &#x27;los&#x27;" in _page(r.out)


def test_a_file_absent_at_one_revision_is_a_warning(proj: Path, tether) -> None:
    write(proj / "extra.csv", "step,loss\n0,1\n1,2\n")
    _declare(proj, "  - extra.csv\n")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "extra plot")
    r = tether("plots", "diff", "HEAD~1", "HEAD")
    assert r.code == 0
    assert r.err == "warning: plot extra.csv at HEAD~1: not found\n"
    assert _revs(_by_title(_page(r.out))["extra.csv"]) == {"HEAD": 2}
    # absent everywhere: nothing to draw, exit code 1
    r = tether("plots", "diff", "HEAD~2", "HEAD~1", "-t", "extra.csv")
    assert r.code == 1
    assert "plot extra.csv at HEAD~2: not found" in r.err
    assert "plot extra.csv at HEAD~1: not found" in r.err


def test_targets_pick_plots_or_name_undeclared_files(proj: Path, tether) -> None:
    write(proj / "side.csv", "epoch,val\n1,3\n2,4\n")
    page = _page(tether("plots", "show", "-t", "train/steps.tsv", "-t", "side.csv").out)
    assert set(_by_title(page)) == {"Training", "side.csv"}


def test_a_target_outside_the_workspace_is_refused(proj: Path, tether) -> None:
    for rev in ([], ["HEAD~1", "HEAD"]):
        r = tether("plots", "diff", *rev, "-t", "../outside.csv")
        assert r.code == 1 and "--target: path '../outside.csv' escapes the workspace" in r.err


def test_unknown_revision_is_an_error(proj: Path, tether) -> None:
    r = tether("plots", "diff", "nope", "HEAD")
    assert r.code == 1 and "nope" in r.err and "Traceback" not in r.err


def test_no_plots_declared(repo: Path, tether) -> None:
    write(repo / "tether.yaml", "schema: 1\nstages: {}\n")
    r = tether("plots", "show")
    assert r.code == 2 and "no plots declared in tether.yaml" in r.err


@pytest.mark.parametrize(
    ("plots", "line", "message"),
    [
        ("  - a.csv: {colour: red}\n", 13, "plots.0: unknown plot option(s) colour"),
        ("  - a.csv\n  - b.csv: {template: pie}\n", 14, "plots.1: unknown template 'pie'"),
        ("  - a.csv: {y: {b.csv: [1]}}\n", 13, "plots.0: y must be a column"),
        ("  - a.csv: {title: [x]}\n", 13, "plots.0: title must be text"),
        ("  - ../a.csv\n", 13, "plots.0:"),
    ],
)
def test_bad_declarations_name_the_line(repo: Path, tether, plots, line, message) -> None:
    text = TETHER_YAML.split("plots:\n  - precision", maxsplit=1)[0] + "plots:\n" + plots
    write(repo / "tether.yaml", text)
    r = tether("plots", "show")
    assert r.code == 1
    assert f"tether.yaml:{line}: {message}" in r.err, r.err


def test_bad_stage_plot_option_names_the_line(repo: Path, tether) -> None:
    write(
        repo / "tether.yaml",
        "schema: 1\nstages:\n  s:\n    cmd: echo\n    plots:\n      - p.csv: {smoothing: 3}\n",
    )
    r = tether("status")
    assert r.code == 1 and "tether.yaml:5: stages.s.plots: unknown output option(s)" in r.err


def test_json_format_is_stable(repo: Path, tether, tmp_path) -> None:
    from tests.func.test_json_output import check

    write(repo / "loss.csv", "step,loss\n0,2.5\n1,1.5\n")
    write(repo / "pic.png", b"\x89PNG\r\n\x1a\n")
    write(repo / "tether.yaml", "schema: 1\nplots:\n  - loss.csv: {title: Loss}\n  - pic.png\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "plots")
    write(repo / "loss.csv", "step,loss\n0,2.0\n")
    r = tether("plots", "diff", "--json")
    assert r.code == 0, r.err
    check(r.out, "plots", tmp_path)


def test_a_file_inside_a_cached_output_folder_is_read_through_its_tree(
    repo: Path, tether, vega_cache: Path, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(vega_cache))
    gen = "import pathlib, sys; pathlib.Path('res').mkdir(); "
    gen += "pathlib.Path('res/curve.csv').write_text('step,v\\n0,' + sys.argv[1] + '\\n1,5\\n')"
    for n in ("1", "2"):
        write(repo / "gen.py", gen)
        write(
            repo / "tether.yaml",
            f"schema: 1\nstages:\n  g:\n    cmd: {PY} gen.py {n}\n    deps: [gen.py]\n"
            "    outs: [res]\nplots:\n  - res/curve.csv\n",
        )
        assert tether("repro").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"run {n}")
    assert git(repo, "check-ignore", "res")  # the folder is in the cache, not in git
    shutil.rmtree(repo / "res")
    r = tether("plots", "diff", "HEAD~1", "HEAD", "--json")
    assert r.code == 0, r.err
    [plot] = json.loads(r.out)["tether.plots/v1"]["plots"]
    assert {s["rev"]: s["y"] for s in plot["spec"]["data"]["values"]} == {
        "HEAD~1": [1, 5],
        "HEAD": [2, 5],
    }
