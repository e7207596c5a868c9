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
from tether.plots import templates
from tether.plots.collect import IMAGE, Plot, Result

_SNIPPET = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
GITIGNORE = "# written by `tether plots`\n*\n"


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


def write_page(result: Result, folder: Path) -> Path:
    """``folder/index.html``; a folder made here ignores itself in git (one that
    was there, the user's, is left as it is)."""
    path = folder / "index.html"
    new = not folder.exists()
    atomicfile.write(path, page(result))
    if new:
        atomicfile.write(folder / ".gitignore", GITIGNORE)
    return path


def file_name(plot_id: str) -> str:
    """A plot's id as one file name: ``train/steps.tsv`` -> ``train_steps.tsv``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("._") or "plot"
    return name[:120]


def write_images(result: Result, folder: Path, fmt: str) -> list[Path]:
    """One ``fmt`` (png or svg) file per plot drawn; an image plot's files are
    copied as they are, one per revision."""
    vlc = _vlc()
    written = []
    taken: set[str] = set()
    for plot in result.plots:
        base = file_name(plot.id)
        while base in taken:
            base += "_"
        taken.add(base)
        if plot.template == IMAGE:
            for img in plot.images:
                ext = img.path.rsplit(".", 1)[-1].lower()
                path = folder / f"{base}@{file_name(img.rev)}.{ext}"
                atomicfile.write(path, img.content)
                written.append(path)
            continue
        if not plot.series:
            continue
        spec = spec_of(plot)
        path = folder / f"{base}.{fmt}"
        if fmt == "png":
            atomicfile.write(path, vlc.vegalite_to_png(spec, scale=1))
        else:
            atomicfile.write(path, vlc.vegalite_to_svg(spec))
        written.append(path)
    return written
