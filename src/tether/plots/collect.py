"""Every declared plot's data at each revision asked for, as series (one per
revision, file and y column, each with its x and y values), and what could
not be read, each naming the plot, the file and the revision.

Declarations come from each revision's own tether.yaml; a plot's options
(template, title, labels) from the last revision that declares it. Files are
read through :class:`tether.metrics.Source`: from git objects at a revision,
a cached stage output through that revision's lock digest (the cache, else the
default remote), the workspace as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tether import gitscm, paths
from tether.errors import MetadataError, PipelineError, UsageError
from tether.metrics import Source
from tether.pipeline import graph, spec
from tether.pipeline.spec import PlotDecl
from tether.plots import data
from tether.repo import Repo

CONFUSION = ("confusion", "confusion_normalized")
IMAGE = "image"


@dataclass(frozen=True)
class Problem:
    plot: str
    file: str
    rev: str
    message: str
    absent: bool = False  # the file is not at that revision (a warning, not a failure)

    def __str__(self) -> str:
        if not self.plot:  # the revision as a whole: its tether.yaml
            return f"plots at {self.rev}: {self.message}"
        where = self.file if self.file == self.plot else f"{self.plot}: {self.file}"
        return f"plot {where} at {self.rev}: {self.message}"


@dataclass(frozen=True)
class Image:
    rev: str
    path: str
    mime: str
    content: bytes


@dataclass
class Series:
    rev: str
    file: str
    field: str  # the y column
    x: list[Any]
    y: list[Any]
    label: str = ""  # what tells it from the plot's other series


@dataclass
class Plot:
    id: str
    template: str  # one of spec.PLOT_TEMPLATES, or "image"
    title: str
    x: str  # the x column's name ("step" for the row number)
    x_label: str | None = None
    y_label: str | None = None
    series: list[Series] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def drawn(self) -> bool:
        return bool(self.series or self.images)


@dataclass
class Result:
    revisions: list[str]
    plots: list[Plot]
    commits: dict[str, str] = field(default_factory=dict)  # revision -> its commit id
    skipped: list[Problem] = field(default_factory=list)  # revisions whose tether.yaml is bad

    @property
    def problems(self) -> list[Problem]:
        return [*self.skipped, *(p for plot in self.plots for p in plot.problems)]

    @property
    def failed(self) -> bool:
        """A plot drawn from no revision, or a file there that could not be read as
        the plot needs; a file merely absent at some revisions is no failure."""
        return any(not p.drawn for p in self.plots) or any(not q.absent for q in self.problems)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _missing(col: str, columns: list[str]) -> MetadataError:
    return MetadataError(f"no column {col!r} (it has {', '.join(columns)})", "")


def _finite(v: Any) -> bool:
    return not isinstance(v, float) or math.isfinite(v)


def _xy(
    decl: PlotDecl, cols: tuple[str, ...], table: data.Table
) -> list[tuple[str, list[Any], list[Any]]]:
    """(y column, x values, y values) of a line, scatter or bar plot; y values must
    be numbers; empty cells and infinities are left out."""
    columns = list(table)
    x = decl.x or ("step" if "step" in table else None)
    if x is not None and x not in table:
        raise _missing(x, columns)
    numeric = {
        c: all(_number(v) for v in values if v is not None) and any(v is not None for v in values)
        for c, values in table.items()
    }
    ys = list(cols) or [c for c in columns if c != x and numeric[c]]
    if not ys:
        raise MetadataError(f"no column of numbers to plot (it has {', '.join(columns)})", "")
    xs = table[x] if x is not None else list(range(len(next(iter(table.values())))))
    out = []
    for y in ys:
        if y not in table:
            raise _missing(y, columns)
        values = table[y]
        if not numeric[y]:
            i, bad = next((i, v) for i, v in enumerate(values) if v is not None and not _number(v))
            raise MetadataError(f"column {y!r} is not numeric ({table.where(i)}: {bad!r})", "")
        pairs = [(a, b) for a, b in zip(xs, values, strict=True) if a is not None and b is not None]
        if not all(_finite(a) and _finite(b) for a, b in pairs):
            pairs = [(a, b) for a, b in pairs if _finite(a) and _finite(b)]
        out.append((y, [a for a, _ in pairs], [b for _, b in pairs]))
    return out


def _pairs(
    decl: PlotDecl, cols: tuple[str, ...], table: data.Table
) -> list[tuple[str, list[Any], list[Any]]]:
    """(y column, actual, predicted) of a confusion matrix: the x and y columns (by
    default the first two), as labels."""
    columns = list(table)
    x = decl.x or columns[0]
    if len(cols) > 1:
        raise MetadataError("a confusion matrix takes one y column", "")
    rest = [c for c in columns if c != x]
    y = cols[0] if cols else (rest[0] if rest else None)
    for col in (x, y):
        if col is None or col not in table:
            raise _missing(col or "y", columns)
    assert y is not None
    rows = [
        (a, p) for a, p in zip(table[x], table[y], strict=True) if a is not None and p is not None
    ]
    return [(y, [str(a) for a, _ in rows], [str(p) for _, p in rows])]  # an empty cell: no value


def _label_series(plot: Plot) -> None:
    """Each series' label: the parts that vary across the plot (revision, file,
    column), or the column alone."""
    series = plot.series
    parts = [k for k in ("rev", "file", "field") if len({getattr(s, k) for s in series}) > 1]
    for s in series:
        s.label = " ".join(getattr(s, k) for k in parts) if parts else s.field


def _targets(
    decls: list[dict[str, PlotDecl]], targets: list[str]
) -> tuple[list[str], dict[str, PlotDecl]]:
    """Plot ids in order (the last revision's first), and a declaration for each
    target that names no declared plot: the file, with default options."""
    order: dict[str, None] = {}
    for found in reversed(decls):
        order.update(dict.fromkeys(found))
    extra: dict[str, PlotDecl] = {}
    if not targets:
        return list(order), extra
    chosen: dict[str, None] = {}
    for t in targets:
        t = t.rstrip("/")
        hits = [
            i
            for i in order
            if i == t
            or any(f == t or f.startswith(t + "/") for d in decls if i in d for f, _ in d[i].files)
        ]
        if not hits:  # a file no plot declares: drawn with the defaults
            path = paths.from_metadata(None, "", t, "--target", write=False)
            extra[path] = PlotDecl(id=path, files=((path, ()),))
            hits = [path]
        chosen.update(dict.fromkeys(hits))
    return list(chosen), extra


def _declared(src: Source) -> tuple[dict[str, PlotDecl], dict[str, str]]:
    """The plots ``src``'s tether.yaml declares and its cached outputs' digests,
    held to the rules status and repro hold it to (the stage graph)."""
    pipeline, dig = src.pipeline()
    if pipeline is None:
        return {}, dig
    try:
        graph.build(pipeline)
    except PipelineError as exc:
        raise MetadataError(f"{src.label}: {exc.message}", exc.hint) from None
    return {p.id: p for p in pipeline.plots}, dig


def collect(repo: Repo, revs: list[str | None], targets: list[str] | None = None) -> Result:
    """The plots at each revision (``None``: the workspace), in the order given.
    A revision whose tether.yaml is bad is a problem of its own, the others are
    still drawn; a bad one in the workspace is an error."""
    sources = [Source(repo, rev) for rev in dict.fromkeys(revs)]
    declared: list[dict[str, PlotDecl]] = []
    digests: list[dict[str, str]] = []
    skipped: list[Problem] = []
    for src in sources:
        try:
            found, dig = _declared(src)
        except MetadataError as exc:
            if src.commit is None or len(sources) == 1:
                raise
            message = exc.message.removeprefix(f"{src.label}: ")
            skipped.append(Problem("", spec.FILE, src.label, message))
            found, dig = {}, {}
        declared.append(found)
        digests.append(dig)
    if len(skipped) == len(sources):
        raise MetadataError(str(skipped[0]), PipelineError.default_hint)
    ids, extra = _targets(declared, targets or [])
    if not ids:
        raise UsageError(
            "no plots declared in tether.yaml",
            "list files under a stage's `plots:` or a top-level `plots:`, or name files",
        )
    final = {i: next((d[i] for d in reversed(declared) if i in d), None) or extra[i] for i in ids}
    plots = {i: _plot(final[i]) for i in ids}
    bad = {p.rev for p in skipped}
    for src, decls, dig in zip(sources, declared, digests, strict=True):
        if src.label in bad:
            continue
        mine = {i: decls.get(i, final[i]) for i in ids}
        files = sorted({f for d in mine.values() for f, _ in d.files})
        raw, missing = src.fetch(files, dig)
        unreadable = _not_files(src, files, raw)
        for i in ids:
            _read(plots[i], mine[i], src.label, raw, missing, unreadable)
    for plot in plots.values():
        _label_series(plot)
    commits = {s.label: gitscm.rev_parse(repo.root, s.commit) for s in sources if s.commit}
    return Result([s.label for s in sources], list(plots.values()), commits, skipped)


_KINDS = {"120000": "a symlink, which tether does not follow", "040000": "a folder, not a file"}


def _not_files(src: Source, files: list[str], raw: dict[str, bytes | None]) -> dict[str, str]:
    """Those of ``files`` that are not files at ``src``, each with what it is: a
    folder, or, at a revision, a committed symlink (read as such, git gives the
    link's text, never what it points at)."""
    if src.commit is None:
        found = {}
        for f in files:
            if raw.get(f) is None and (src.repo.root / f).is_dir():
                found[f] = _KINDS["040000"]
        return found
    modes = gitscm.modes_at(src.repo.root, src.commit, files)
    return {f: _KINDS[m] for f, m in modes.items() if m in _KINDS}


def _plot(decl: PlotDecl) -> Plot:
    image = all(data.is_image(f) for f, _ in decl.files)
    template = IMAGE if image else (decl.template or "linear")
    x = decl.x or ("actual" if template in CONFUSION else "step")
    return Plot(decl.id, template, decl.title or decl.id, x, decl.x_label, decl.y_label)


def _read(
    plot: Plot,
    decl: PlotDecl,
    rev: str,
    raw: dict[str, bytes | None],
    missing: dict[str, str],
    unreadable: dict[str, str],
) -> None:
    for path, cols in decl.files:
        content = raw.get(path)
        if path in unreadable or missing.get(path):  # there, but not to be read
            why = unreadable.get(path) or missing[path]
            plot.problems.append(Problem(plot.id, path, rev, why))
            continue
        if content is None:
            plot.problems.append(Problem(plot.id, path, rev, "not found", absent=True))
            continue
        if plot.template == IMAGE:
            plot.images.append(Image(rev, path, data.IMAGES[data.suffix(path)], content))
            continue
        try:
            if data.is_image(path):
                raise MetadataError("an image, in a plot of data files", "")
            found = data.table(path, content)
            pick = _pairs if plot.template in CONFUSION else _xy
            series = pick(decl, cols, found)
        except MetadataError as exc:
            message = exc.message.removeprefix(f"{path}: ")
            plot.problems.append(Problem(plot.id, path, rev, message))
            continue
        plot.series += [Series(rev, path, y, xs, ys) for y, xs, ys in series]
