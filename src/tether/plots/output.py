"""Render collected plots: one self-contained HTML page (the Vega, Vega-Lite
and Vega-Embed JavaScript inlined, nothing fetched when it is viewed), PNG or
SVG files drawn without a browser, or a JSON document of specs and data.

`vl-convert-python` compiles and renders the specs (Vega in a bundled Deno
runtime, no browser) and gives the JavaScript bundle for the page, which is
kept in the user's cache folder: building it takes a second or two.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import re
from pathlib import Path
from typing import Any

from tether import atomicfile
from tether.errors import UsageError
from tether.plots import data, templates
from tether.plots.collect import IMAGE, Image, Plot, Result
from tether.plots.dest import Folder

_SNIPPET = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
PAGE = "index.html"


def _vlc() -> Any:
    try:
        import vl_convert
    except ImportError:
        raise UsageError(
            "tether plots needs the vl-convert-python package",
            "install it: pip install 'tether[plots]'",
        ) from None
    return vl_convert


def spec_of(plot: Plot) -> dict[str, Any]:
    x_title = plot.x_label or plot.x
    y_title = plot.y_label
    if y_title is None:
        fields = sorted({s.field for s in plot.series})
        y_title = fields[0] if len(fields) == 1 else None
    return templates.spec(plot.template, plot.series, plot.title, x_title, y_title)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tether"


def bundle() -> str:
    """The Vega-Embed + Vega-Lite + Vega JavaScript, from the cache folder when
    this version of vl-convert built it before."""
    vlc = _vlc()
    path = _cache_dir() / f"vega-bundle-{vlc.__version__}.js"
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text: str = vlc.javascript_bundle(_SNIPPET)
    text = text.replace("</script", "<\\/script")  # it goes inside a <script> element
    with contextlib.suppress(OSError):  # a read-only home: the next run builds it again
        atomicfile.write(path, text)
    return text


def _json_script(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def _data_uri(mime: str, content: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.problems{background:#fff4e5;border-left:4px solid #f0a030;padding:.5rem 1rem}
figure{display:inline-block;margin:0 1rem 1rem 0}figure img{max-width:480px}
.plot-error{color:#b00020}
"""

_START = """
const specs = JSON.parse(document.getElementById("tether-specs").textContent);
for (const [id, spec] of Object.entries(specs)) {
  vegaEmbed("#" + id, spec, {renderer: "svg", actions: false}).catch((err) => {
    const el = document.getElementById(id);
    el.className = "plot-error";
    el.textContent = "could not draw this plot: " + err;
  });
}
"""


def page(result: Result) -> str:
    """The HTML page: every plot, one series per revision."""
    e = html.escape
    specs: dict[str, Any] = {}
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>tether plots: {e(', '.join(result.revisions))}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{bundle()}</script>",
        "</head><body>",
        f"<h1>Plots: {e(', '.join(result.revisions))}</h1>",
    ]
    if result.problems:
        items = "".join(f"<li>{e(str(p))}</li>" for p in result.problems)
        parts.append(f'<ul class="problems">{items}</ul>')
    for n, plot in enumerate(result.plots):
        parts.append(f'<section class="plot" data-plot="{e(plot.id)}">')
        if plot.template == IMAGE or not plot.series:  # a drawn plot shows its title itself
            parts.append(f"<h2>{e(plot.title)}</h2>")
        if plot.template == IMAGE:
            for img in plot.images:
                parts.append(
                    f'<figure><img alt="{e(img.path)} at {e(img.rev)}" '
                    f'src="{_data_uri(img.mime, img.content)}">'
                    f"<figcaption>{e(img.rev)}: {e(img.path)}</figcaption></figure>"
                )
        elif plot.series:
            specs[f"vis-{n}"] = spec_of(plot)
            parts.append(f'<div class="vega" id="vis-{n}"></div>')
        if not plot.drawn:
            parts.append('<p class="plot-error">no data at any revision (see above)</p>')
        parts.append("</section>")
    parts += [
        f'<script type="application/json" id="tether-specs">{_json_script(specs)}</script>',
        f"<script>{_START}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_page(result: Result, folder: Folder) -> Path:
    """``index.html`` in ``folder``; a folder made here ignores itself in git
    (one that was there, the user's, is left as it is)."""
    text = page(result)
    folder.prepare([PAGE])
    return folder.write(PAGE, text)


def file_name(plot_id: str) -> str:
    """A plot's id as one file name: ``train/steps.tsv`` -> ``train_steps.tsv``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("._") or "plot"
    return name[:120]


def _rev_names(result: Result) -> dict[str, str]:
    """Each revision as a part of a file name: readable, and distinct from the
    others' (``feat/x`` and ``feat_x``, ``HEAD~1`` and ``HEAD^``): a name that
    had to change, or that another revision's name folds to, gets its short
    commit id, and the order it was given in where even that is not enough."""
    plain = {rev: file_name(rev) for rev in result.revisions}
    folded: dict[str, int] = {}
    for name in plain.values():
        folded[name.lower()] = folded.get(name.lower(), 0) + 1
    out: dict[str, str] = {}
    for rev in result.revisions:
        name = plain[rev]
        if name != rev or folded[name.lower()] > 1:
            commit = result.commits.get(rev)
            name = f"{name}-{commit[:7]}" if commit else name
        out[rev] = name
    taken: dict[str, int] = {}
    for name in out.values():
        taken[name.lower()] = taken.get(name.lower(), 0) + 1
    return {
        rev: f"{name}-{n}" if taken[name.lower()] > 1 else name
        for n, (rev, name) in enumerate(out.items(), 1)
    }


def _image_names(result: Result, fmt: str) -> list[tuple[str, Any]]:
    """(file name, what goes in it) for every file ``write_images`` writes:
    names distinct even on a filesystem that ignores case."""
    revs = _rev_names(result)
    planned: list[tuple[str, Any]] = []
    taken: set[str] = set()

    def unique(stem: str, ext: str) -> str:
        name, n = f"{stem}.{ext}", 1
        while name.lower() in taken:
            n += 1
            name = f"{stem}-{n}.{ext}"
        taken.add(name.lower())
        return name

    for plot in result.plots:
        base = file_name(plot.id)
        if plot.template == IMAGE:
            several = len({img.path for img in plot.images}) > 1
            for img in plot.images:
                ext = data.suffix(img.path)
                stem = file_name(img.path) if several else base
                planned.append((unique(f"{stem}@{revs[img.rev]}", ext), img))
        elif plot.series:
            planned.append((unique(base, fmt), plot))
    return planned


def write_images(result: Result, folder: Folder, fmt: str) -> list[Path]:
    """One ``fmt`` (png or svg) file per plot drawn; an image plot's files are
    copied as they are, one per revision and file."""
    vlc = _vlc()
    planned = _image_names(result, fmt)
    folder.prepare([name for name, _ in planned])
    written = []
    for name, what in planned:
        if isinstance(what, Image):
            content: bytes | str = what.content
        elif fmt == "png":
            content = vlc.vegalite_to_png(spec_of(what), scale=1)
        else:
            content = vlc.vegalite_to_svg(spec_of(what))
        written.append(folder.write(name, content))
    return written
