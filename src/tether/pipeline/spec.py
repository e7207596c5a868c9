"""``tether.yaml``: parse, interpolate, expand and validate the declared stages.

    schema: 1
    vars: [params.yaml, other.yaml:train, {models: [small, base]}]   # values for ${...}
    stages:
      prepare:
        cmd: python src/prepare.py                  # or a list, run in order
        wdir: .                                     # paths below are relative to it
        deps: [src/prepare.py, data/raw]
        params: [prepare.max_len, {other.yaml: [seed]}]   # keys or whole sections
                                                    # ({all.yaml: } or `- all.yaml:`: every key)
        outs: [data/prepared, {models/x.pt: {cache: false, persist: true}}]
        metrics: [metrics.json]                     # outputs kept in git (cache: false)
        plots: [plots/curve.csv, {plots/roc.csv: {x: fpr, y: tpr}}]   # options as below
        always_changed: false
        resources: {cpus: 2, gpus: 1, memory: 8GB}  # for `repro -j N` (memory: advisory)
        mutex: [gpu0]                               # stages sharing a name never overlap
      train:
        foreach: ${models}                          # or matrix: {lr: [..], model: [..]}
        do: {cmd: python train.py ${item}, ...}
    plots:                                          # top level: any file, several at once
      - plots/confusion.csv: {template: confusion, x: actual, y: predicted}
      - loss: {x: step, y: {train/steps.tsv: loss, eval/steps.tsv: [loss, acc]}}
      - images/samples.png                          # PNG, JPEG, SVG: shown as it is

Plot options: ``x``, ``y`` (a column, a list, or {file: columns}), ``template``
(one of :data:`PLOT_TEMPLATES`), ``title``, ``x_label``, ``y_label``.

Every error names the file, the line and the key. Paths are untrusted input
(a cloned repository) and are confined to the workspace.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tether import paths, untrusted, yamlio
from tether.errors import MetadataError, PathError, PipelineError
from tether.pipeline import FILE as _FILE
from tether.valuefiles import get_key, parse_mapping

FILE = _FILE  # the name lives in the package, so checking for the file imports nothing else
PARAMS = "params.yaml"
_STAGE_KEYS = {
    "cmd",
    "wdir",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "always_changed",
    "desc",
    "resources",
    "mutex",
}
_RESOURCE_KEYS = {"cpus", "gpus", "memory"}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\Z", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_OUT_OPTIONS = {"cache", "persist"}
_PLOT_OPTIONS = {"x", "y", "template", "title", "x_label", "y_label"}
PLOT_TEMPLATES = (
    "linear",
    "scatter",
    "smooth",
    "confusion",
    "confusion_normalized",
    "bar_horizontal",
)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*\Z")
_VAR = re.compile(r"\$\{\s*([A-Za-z0-9_.\-]+)\s*\}")


class OutKind(StrEnum):
    """Which list of a stage declares an output; the values are tether.yaml's keys."""

    OUTS = "outs"
    METRICS = "metrics"
    PLOTS = "plots"


@dataclass(frozen=True)
class Out:
    path: str  # workspace-relative
    cache: bool = True  # False: git keeps it (not gitignored)
    persist: bool = False  # not removed before the stage runs
    kind: OutKind = OutKind.OUTS
    inside: str | None = None  # metrics/plots in an output folder of the stage: stored with it


@dataclass(frozen=True)
class ParamRef:
    file: str  # workspace-relative
    key: str | None  # dotted key or a whole top-level section; None: every key of the file


@dataclass(frozen=True)
class Resources:
    """What a stage needs while it runs; ``repro -j`` starts it only when they are free.
    Undeclared, a stage takes one ``-j`` slot and nothing else. ``memory`` (bytes)
    is advisory: parsed and checked, never counted."""

    cpus: int = 0
    gpus: int = 0
    memory: int | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: tuple[str, ...]
    wdir: str  # workspace-relative, "." for the root
    deps: tuple[str, ...]
    params: tuple[ParamRef, ...]
    outs: tuple[Out, ...]
    always_changed: bool = False
    line: int = 0
    resources: Resources = Resources()
    mutex: tuple[str, ...] = ()

    @property
    def cmd_text(self) -> str:
        return " && ".join(self.cmd)


@dataclass(frozen=True)
class PlotDecl:
    """One plot: a stage's ``plots:`` entry or a top-level one."""

    id: str  # a file's path, or a name for a plot of several files
    files: tuple[tuple[str, tuple[str, ...]], ...]  # (workspace path, y columns; () for all)
    x: str | None = None
    template: str | None = None  # None: linear (an image file: shown as it is)
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    line: int = 0


@dataclass
class Pipeline:
    stages: dict[str, Stage] = field(default_factory=dict)
    source: str = FILE
    checks: tuple[str, ...] = ()  # rules for `tether metrics check`
    plots: tuple[PlotDecl, ...] = ()  # the stages' plots, then the top level's

    def outputs(self) -> list[tuple[str, Out]]:
        """(stage name, output) for every output of every stage."""
        return [(s.name, o) for s in self.stages.values() for o in s.outs]


class _Lines:
    """Line numbers of mapping keys, from the YAML node tree."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def of(self, *keys: str | int) -> int:
        """The line of the mapping key (or, for an int, the list item) at ``keys``."""
        import yaml

        node = self.node
        line = 1
        for key in keys:
            if isinstance(key, int):
                if not isinstance(node, yaml.SequenceNode) or key >= len(node.value):
                    break
                node = node.value[key]
                line = node.start_mark.line + 1
                continue
            if not isinstance(node, yaml.MappingNode):
                break
            for k, v in node.value:
                if getattr(k, "value", None) == key:
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                break
        return line


def _err(lines: _Lines, message: str, *keys: str | int) -> PipelineError:
    where = ".".join(str(k) for k in keys)
    return PipelineError(f"{FILE}:{lines.of(*keys)}: {where}: {message}")


def _lookup(ctx: dict[str, Any], dotted: str) -> Any:
    return get_key(ctx, dotted)


def interpolate(value: Any, ctx: dict[str, Any]) -> Any:
    """Replace ``${name}`` in strings; a string that is only ``${x}`` keeps x's type."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value.strip())
        if whole:
            return _lookup(ctx, whole.group(1))

        def sub(m: re.Match[str]) -> str:
            found = _lookup(ctx, m.group(1))
            if isinstance(found, dict | list):
                raise KeyError(f"{m.group(1)} is not a single value")
            return str(found).lower() if isinstance(found, bool) else str(found)

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, ctx) for k, v in value.items()}
    return value


Reader = Callable[[str], bytes | None]


def _vars(root: Path, doc: dict[str, Any], lines: _Lines, read: Reader) -> dict[str, Any]:
    def read_params_file(_: Path, rel: str) -> dict[str, Any]:
        data = read(rel)
        if data is None:
            raise _err(lines, f"params file {rel} not found", "vars")
        return parse_mapping(rel, data)

    ctx: dict[str, Any] = {}
    default = read(PARAMS)
    if default is not None:
        ctx.update(parse_mapping(PARAMS, default))
    raw = doc.get("vars", [])
    if not isinstance(raw, list):
        raw = [raw]
    for item in raw:
        if isinstance(item, str):
            file, _, keys = item.partition(":")  # `file:key1,key2` imports those keys only
            try:
                rel = paths.from_metadata(root, "", file, FILE, write=False)
            except PathError as exc:
                raise _err(lines, exc.message, "vars") from None
            values = read_params_file(root, rel)
            if not keys:
                ctx.update(values)
            for key in filter(None, (k.strip() for k in keys.split(","))):
                try:
                    _set_key(ctx, key, _lookup(values, key))
                except KeyError:
                    raise _err(lines, f"key {key!r} is not in {rel}", "vars") from None
        elif isinstance(item, dict):
            ctx.update(item)
        else:
            raise _err(lines, "each entry must be a params file name or a mapping", "vars")
    return ctx


def _set_key(ctx: dict[str, Any], dotted: str, value: Any) -> None:
    """``ctx[a][b] = value`` for ``a.b``, keeping what ``ctx[a]`` already holds."""
    *parents, last = dotted.split(".")
    node = ctx
    for part in parents:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
    node[last] = value


def _expand(
    name: str, body: dict[str, Any], lines: _Lines, ctx: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """A stage, or the family a ``foreach`` / ``matrix`` declares, with its item values."""
    try:
        if "foreach" in body:
            body = {**body, "foreach": interpolate(body["foreach"], ctx)}
        if "matrix" in body:
            body = {**body, "matrix": interpolate(body["matrix"], ctx)}
    except KeyError as exc:
        raise _err(lines, f"unknown variable ${{{exc.args[0]}}}", "stages", name) from None
    if "foreach" in body:
        items = body["foreach"]
        do = body.get("do")
        if not isinstance(do, dict):
            raise _err(lines, "foreach needs a `do:` mapping with the stage", "stages", name)
        if isinstance(items, list):
            pairs = [(_key(v), {"item": v, "key": i}) for i, v in enumerate(items)]
        elif isinstance(items, dict):
            pairs = [(str(k), {"item": v, "key": k}) for k, v in items.items()]
        else:
            raise _err(lines, "foreach must be a list or a mapping", "stages", name, "foreach")
        return [(f"{name}@{suffix}", {**do, "__ctx__": c}) for suffix, c in pairs]
    if "matrix" in body:
        matrix = body["matrix"]
        if not isinstance(matrix, dict) or not all(
            isinstance(v, list) and v for v in matrix.values()
        ):
            raise _err(lines, "matrix must map names to non-empty lists", "stages", name, "matrix")
        rest = {k: v for k, v in body.items() if k != "matrix"}
        keys = list(matrix)
        out = []
        for combo in itertools.product(*(matrix[k] for k in keys)):
            item = dict(zip(keys, combo, strict=True))
            suffix = "-".join(_key(v) for v in combo)
            out.append((f"{name}@{suffix}", {**rest, "__ctx__": {"item": item}}))
        return out
    return [(name, body)]


def _key(value: Any) -> str:
    if isinstance(value, dict | list):
        raise PipelineError(f"{FILE}: foreach/matrix values used in names must be scalars")
    return str(value).lower() if isinstance(value, bool) else str(value)


def _str_list(value: Any, lines: _Lines, *keys: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | dict):
        return [value]
    if not isinstance(value, list):
        raise _err(lines, "must be a list", *keys)
    return value


def _path(
    root: Path, wdir: str, value: Any, lines: _Lines, *keys: str | int, write: bool = True
) -> str:
    """A path tether.yaml names, relative to the stage's ``wdir``; ``write`` False
    for one tether only reads (deps, params files, the working folder)."""
    try:
        return paths.from_metadata(root, wdir if wdir != "." else "", value, FILE, write)
    except PathError as exc:
        raise _err(lines, exc.message.removeprefix(f"{FILE}: "), *keys) from None


def _outs(root: Path, wdir: str, body: dict[str, Any], lines: _Lines, name: str) -> tuple[Out, ...]:
    declared: list[tuple[str, OutKind, dict[str, Any]]] = []  # (path, kind, options)
    for kind in OutKind:
        for entry in _str_list(body.get(kind), lines, "stages", name, kind):
            opts: dict[str, Any] = {}
            if isinstance(entry, dict):
                if len(entry) != 1:
                    raise _err(lines, "an entry with options is {PATH: {cache: …}}", "stages", name)
                entry, opts = next(iter(entry.items()))
                opts = opts or {}
                allowed = _OUT_OPTIONS | (_PLOT_OPTIONS if kind is OutKind.PLOTS else set())
                if not isinstance(opts, dict):
                    raise _err(
                        lines,
                        f"options of {entry} are a mapping, not {opts!r}",
                        "stages",
                        name,
                        kind,
                    )
                bad = sorted(map(str, set(opts) - allowed))
                if bad:
                    raise _err(
                        lines, f"unknown output option(s) {', '.join(bad)}", "stages", name, kind
                    )
                opts = {k: v for k, v in opts.items() if k in _OUT_OPTIONS}
                if not all(isinstance(v, bool) for v in opts.values()):
                    raise _err(lines, "cache and persist must be true or false", "stages", name)
            declared.append((_path(root, wdir, entry, lines, "stages", name, kind), kind, opts))
    folders = {p: o.get("cache", True) for p, k, o in declared if k is OutKind.OUTS}
    result = []
    for path, kind, opts in declared:
        cache = opts.get("cache", kind is OutKind.OUTS)
        inside = None
        if (
            kind is not OutKind.OUTS
        ):  # metrics or plots written into one of the stage's output folders
            inside = next((f for f in folders if path.startswith(f + "/")), None)
        if inside is not None:
            if opts.get("cache", folders[inside]) != folders[inside]:
                raise _err(
                    lines,
                    f"{path} lies in the output folder {inside}, which is "
                    f"{'stored in the cache' if folders[inside] else 'kept in git'}, and goes "
                    f"with it: drop its `cache:` option, or write it outside {inside}",
                    "stages",
                    name,
                    kind,
                )
            cache = folders[inside]
        result.append(Out(path, cache, opts.get("persist", False), kind, inside))
    return tuple(result)


def _params(
    root: Path, wdir: str, body: dict[str, Any], lines: _Lines, name: str
) -> tuple[ParamRef, ...]:
    default = posixpath.normpath(posixpath.join(wdir, PARAMS))
    refs = []
    for entry in _str_list(body.get("params"), lines, "stages", name, "params"):
        if isinstance(entry, str):
            refs.append(ParamRef(default, entry))
            continue
        if not isinstance(entry, dict):
            raise _err(lines, "entries are keys or {FILE: [keys]}", "stages", name, "params")
        for file, keys in entry.items():
            rel = _path(root, wdir, file, lines, "stages", name, "params", write=False)
            if keys is None or keys == []:  # `- params.yaml:` names every key of the file
                refs.append(ParamRef(rel, None))
                continue
            for key in _str_list(keys, lines, "stages", name, "params"):
                if not isinstance(key, str):
                    raise _err(lines, f"param key {key!r} must be text", "stages", name, "params")
                refs.append(ParamRef(rel, key))
    return tuple(refs)


def _count(value: Any, lines: _Lines, *keys: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _err(lines, "must be a whole number, 0 or more", *keys)
    return value


def _memory(value: Any, lines: _Lines, *keys: str) -> int:
    """``8GB``, ``512MiB``, ``1.5G`` or a number of bytes; K/M/G/T are powers of 1024."""
    m = _MEMORY.match(str(value).strip()) if isinstance(value, str | int) else None
    if m is None or isinstance(value, bool):
        raise _err(lines, "must be a size like 8GB or 512MB", *keys)
    unit = (m.group(2) or "").upper()[:1]
    return int(float(m.group(1)) * _UNITS[unit])


def _resources(body: dict[str, Any], lines: _Lines, name: str) -> Resources:
    raw = body.get("resources")
    keys = ("stages", name, "resources")
    if raw is None:
        return Resources()
    if not isinstance(raw, dict):
        raise _err(lines, "must be a mapping like {cpus: 2, gpus: 1, memory: 8GB}", *keys)
    unknown = set(raw) - _RESOURCE_KEYS
    if unknown:
        raise _err(
            lines,
            f"unknown key(s) {', '.join(sorted(map(str, unknown)))} (known: cpus, gpus, memory)",
            *keys,
        )
    memory = raw.get("memory")
    return Resources(
        cpus=_count(raw.get("cpus", 0), lines, *keys, "cpus"),
        gpus=_count(raw.get("gpus", 0), lines, *keys, "gpus"),
        memory=None if memory is None else _memory(memory, lines, *keys, "memory"),
    )


def _mutex(body: dict[str, Any], lines: _Lines, name: str) -> tuple[str, ...]:
    names = _str_list(body.get("mutex"), lines, "stages", name, "mutex")
    if not all(isinstance(n, str) and n for n in names):
        raise _err(lines, "must be a list of names", "stages", name, "mutex")
    return tuple(sorted(set(names)))


def _stage(root: Path, name: str, body: dict[str, Any], lines: _Lines, line_key: str) -> Stage:
    unknown = set(body) - _STAGE_KEYS
    if unknown:
        raise _err(lines, f"unknown key(s) {', '.join(sorted(unknown))}", "stages", line_key)
    cmd = body.get("cmd")
    cmds = [cmd] if isinstance(cmd, str) else cmd
    if not cmds or not isinstance(cmds, list) or not all(isinstance(c, str) and c for c in cmds):
        raise _err(lines, "cmd must be a command or a list of commands", "stages", line_key)
    wdir_raw = body.get("wdir", ".")
    wdir = (
        "."
        if wdir_raw in (".", "./")
        else _path(root, "", wdir_raw, lines, "stages", line_key, write=False)
    )
    deps = tuple(
        _path(root, wdir, d, lines, "stages", line_key, "deps", write=False)
        for d in _str_list(body.get("deps"), lines, "stages", line_key, "deps")
    )
    always = body.get("always_changed", False)
    if not isinstance(always, bool):
        raise _err(lines, "must be true or false", "stages", line_key, "always_changed")
    return Stage(
        name=name,
        cmd=tuple(cmds),
        wdir=wdir,
        deps=tuple(dict.fromkeys(deps)),
        params=_params(root, wdir, body, lines, line_key),
        outs=_outs(root, wdir, body, lines, line_key),
        always_changed=always,
        line=lines.of("stages", line_key),
        resources=_resources(body, lines, line_key),
        mutex=_mutex(body, lines, line_key),
    )


def load(root: Path) -> Pipeline | None:
    """The pipeline of the workspace, or None when there is no tether.yaml."""
    try:
        text = untrusted.read_text_in(root, FILE)
    except (FileNotFoundError, IsADirectoryError):
        return None
    except MetadataError as exc:
        raise PipelineError(exc.message, exc.hint) from None
    return parse(root, text)


def _workspace_reader(root: Path) -> Reader:
    def read(rel: str) -> bytes | None:
        try:
            return untrusted.read_in(root, rel)
        except (FileNotFoundError, IsADirectoryError):
            return None

    return read


def parse(root: Path, text: str, read: Reader | None = None) -> Pipeline:
    """Parse tether.yaml text; ``read`` gives other files (params for ``vars``),
    from the workspace by default or from a git revision."""
    read = read or _workspace_reader(root)
    import yaml  # here: a command that never reads tether.yaml does not load PyYAML

    try:
        doc = yamlio.loads(text, FILE)
    except MetadataError as exc:
        raise PipelineError(exc.message) from None
    try:
        lines = _Lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:  # pragma: no cover - loads() above already failed
        lines = _Lines(None)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PipelineError(f"{FILE}:1: expected a mapping with `stages:`")
    if doc.get("schema", 1) != 1:
        raise _err(lines, f"unsupported schema {doc.get('schema')!r}", "schema")
    unknown = set(doc) - {"schema", "vars", "stages", "checks", "plots"}
    if unknown:
        raise _err(lines, "unknown top-level key", sorted(unknown)[0])
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise _err(lines, "must be a mapping of stage names", "stages")
    ctx = _vars(root, doc, lines, read)
    checks = doc.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise _err(lines, "must be a list of rules like 'accuracy >= -0.01'", "checks")
    pipeline = Pipeline(checks=tuple(checks))
    stage_plots: list[PlotDecl] = []
    for name, body in stages.items():
        if not isinstance(name, str) or not _NAME.match(name) or "@" in name:
            raise _err(lines, "stage names use letters, digits, '_', '-', '.'", "stages", str(name))
        if not isinstance(body, dict):
            raise _err(lines, "a stage is a mapping with at least `cmd`", "stages", name)
        for full, raw in _expand(name, body, lines, ctx):
            local = {**ctx, **raw.pop("__ctx__", {})}
            try:
                resolved = interpolate(raw, local)
            except KeyError as exc:
                raise _err(lines, f"unknown variable ${{{exc.args[0]}}}", "stages", name) from None
            if full in pipeline.stages:
                raise _err(lines, f"two stages are named {full!r}", "stages", name)
            pipeline.stages[full] = _stage(root, full, resolved, lines, name)
            stage_plots.extend(
                _stage_plots(root, pipeline.stages[full].wdir, resolved, lines, name)
            )
    try:
        top = interpolate(doc.get("plots") or [], ctx)
    except KeyError as exc:
        raise _err(lines, f"unknown variable ${{{exc.args[0]}}}", "plots") from None
    declared = _top_plots(root, top, lines)
    ids = {p.id for p in declared}
    pipeline.plots = (*(p for p in stage_plots if p.id not in ids), *declared)
    return pipeline


# -- plots -------------------------------------------------------------------


def _plot_options(opts: Any, lines: _Lines, *keys: str | int) -> dict[str, Any]:
    """The plot options of one entry, checked: names, and text where text is due."""
    if opts is None:
        return {}
    if not isinstance(opts, dict):
        raise _err(lines, "plot options are a mapping (x, y, template, title…)", *keys)
    unknown = set(opts) - _PLOT_OPTIONS
    if unknown:
        raise _err(lines, f"unknown plot option(s) {', '.join(sorted(unknown))}", *keys)
    for key in ("x", "title", "x_label", "y_label", "template"):
        if key in opts and not isinstance(opts[key], str):
            raise _err(lines, f"{key} must be text", *keys)
    template = opts.get("template")
    if template is not None and template not in PLOT_TEMPLATES:
        raise _err(
            lines, f"unknown template {template!r} (one of {', '.join(PLOT_TEMPLATES)})", *keys
        )
    return dict(opts)


def _columns(value: Any, lines: _Lines, *keys: str | int) -> tuple[str, ...]:
    if value is None:
        return ()
    cols = [value] if isinstance(value, str) else value
    if not isinstance(cols, list) or not all(isinstance(c, str) and c for c in cols):
        raise _err(lines, "y must be a column, a list of columns or {file: columns}", *keys)
    return tuple(dict.fromkeys(cols))


def _plot(
    id_: str, files: list[tuple[str, tuple[str, ...]]], opts: dict[str, Any], line: int
) -> PlotDecl:
    return PlotDecl(
        id=id_,
        files=tuple(files),
        x=opts.get("x"),
        template=opts.get("template"),
        title=opts.get("title"),
        x_label=opts.get("x_label"),
        y_label=opts.get("y_label"),
        line=line,
    )


def _stage_plots(
    root: Path, wdir: str, body: dict[str, Any], lines: _Lines, name: str
) -> list[PlotDecl]:
    """A stage's ``plots:`` outputs with their plot options."""
    found = []
    keys = ("stages", name, "plots")
    for entry in _str_list(body.get("plots"), lines, *keys):
        opts: Any = {}
        if isinstance(entry, dict):
            entry, opts = next(iter(entry.items()))
        opts = {k: v for k, v in (opts or {}).items() if k not in _OUT_OPTIONS}
        opts = _plot_options(opts, lines, *keys)
        path = _path(root, wdir, entry, lines, *keys)
        found.append(
            _plot(path, [(path, _columns(opts.get("y"), lines, *keys))], opts, lines.of(*keys))
        )
    return found


def _top_plots(root: Path, entries: Any, lines: _Lines) -> list[PlotDecl]:
    """The top-level ``plots:`` list: ``FILE``, ``FILE: {options}`` or
    ``NAME: {y: {FILE: columns, …}, …}``; paths from the workspace root."""
    if not isinstance(entries, list):
        raise _err(lines, "must be a list of files or {NAME: {options}}", "plots")
    found: list[PlotDecl] = []
    for i, entry in enumerate(entries):
        opts: Any = {}
        if isinstance(entry, dict) and len(entry) == 1:
            entry, opts = next(iter(entry.items()))
        if not isinstance(entry, str) or not entry:
            raise _err(lines, "an entry is FILE or {FILE or NAME: {options}}", "plots", i)
        opts = _plot_options(opts, lines, "plots", i)
        y = opts.get("y")
        if isinstance(y, dict):
            files = [
                (_path(root, "", f, lines, "plots", i, write=False), _columns(c, lines, "plots", i))
                for f, c in y.items()
            ]
            if not files:
                raise _err(lines, "y names no file", "plots", i)
        else:
            path = _path(root, "", entry, lines, "plots", i, write=False)
            files = [(path, _columns(y, lines, "plots", i))]
        twice = next((n for n, p in enumerate(found) if p.id == entry), None)
        if twice is not None:
            raise _err(lines, f"plot {entry} is declared twice (also plots.{twice})", "plots", i)
        found.append(_plot(entry, files, opts, lines.of("plots", i)))
    return found
