"""Metrics and params at any git revision (or the workspace), and their diffs.

Which files: the ``metrics:`` outputs of tether.yaml (as of that revision), or
the files named on the command line; params files are those the stages use
(``params.yaml`` by default). Files kept in git are read straight from git
objects; cached ones through the lock's digest, from the cache or the default
remote. Nothing is checked out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether import exprefs, gitscm, untrusted, valuefiles
from tether.artifact import object_named
from tether.errors import (
    FETCH_FAILURES,
    MetadataError,
    MissingObjectError,
    PathError,
    TetherError,
    UsageError,
)
from tether.pipeline import lock, spec
from tether.repo import Repo

WORKSPACE = "workspace"
Files = dict[str, dict[str, Any]]  # file -> flattened key -> value


@dataclass(frozen=True)
class Row:
    file: str
    key: str
    old: Any
    new: Any

    @property
    def change(self) -> float | None:
        if _is_number(self.old) and _is_number(self.new):
            return float(self.new) - float(self.old)
        return None

    @property
    def changed(self) -> bool:
        return bool(self.old != self.new)


# a cached output that neither the cache nor the default remote could give
_NOT_FETCHED: tuple[type[TetherError], ...] = (MissingObjectError, *FETCH_FAILURES)


def _is_number(v: Any) -> bool:
    return bool(isinstance(v, int | float) and not isinstance(v, bool))


class Source:
    """Reads files of one revision (``None``: the workspace)."""

    def __init__(self, repo: Repo, rev: str | None) -> None:
        self.repo = repo
        self.rev = rev
        self.label = rev or WORKSPACE
        self.commit: str | None = None
        if rev is not None:
            if rev.startswith("-") or any(c.isspace() for c in rev):
                gitscm.rev_parse(repo.root, rev)  # raises: not a revision
            # resolved by git in the first batch; an experiment's name, to its commit
            self.commit = f"{exprefs.resolve(repo.root, rev)}^{{commit}}"

    def read(self, paths: list[str]) -> dict[str, bytes | None]:
        """Files at this revision; the first call also proves the revision exists."""
        if self.commit is None:
            out: dict[str, bytes | None] = {}
            for p in paths:
                try:
                    out[p] = untrusted.read_in(self.repo.root, p, cache=self.repo.odb.objects)
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    out[p] = None
            return out
        specs = [self.commit, *(f"{self.commit}:{p}" for p in paths)]
        found = gitscm.read_objects(self.repo.root, specs)
        if found[self.commit] is None:
            gitscm.rev_parse(self.repo.root, self.rev or "")  # the clear error
        out = {}
        for p in paths:
            obj = found[f"{self.commit}:{p}"]
            out[p] = obj[1] if obj is not None and obj[0] == "blob" else None
        return out

    def pipeline(self) -> tuple[spec.Pipeline | None, dict[str, str]]:
        """This revision's tether.yaml (None where it has none) and, for each
        cached output the lock records, its digest."""
        found = self.read([spec.FILE, lock.FILE])
        text = found[spec.FILE]
        if text is None:
            return None, {}
        try:
            pipeline = spec.parse(self.repo.root, text.decode("utf-8"), lambda p: self.read([p])[p])
        except (TetherError, UnicodeDecodeError) as exc:
            what = exc.message if isinstance(exc, TetherError) else "not UTF-8"
            hint = exc.hint if isinstance(exc, TetherError) else ""
            raise MetadataError(f"{self.label}: {what}", hint or "") from None
        cached = {o.path for _, o in pipeline.outputs() if o.cache}
        digests: dict[str, str] = {}
        if cached and found[lock.FILE] is not None:
            entries = lock.parse(found[lock.FILE].decode("utf-8"))  # type: ignore[union-attr]
            for e in entries.values():
                digests.update({a.path: a.digest for a in e.outs if a.path in cached})
        return pipeline, digests

    def pipeline_files(self, kind: str) -> tuple[list[str], dict[str, str]]:
        """The files of this kind (``metric`` or params) the pipeline names, and,
        for cached ones, their digest from the lock."""
        pipeline, digests = self.pipeline()
        if pipeline is None:
            return ([spec.PARAMS] if kind == "params" else []), {}
        if kind == "params":
            names = {ref.file for s in pipeline.stages.values() for ref in s.params}
            return sorted(names or {spec.PARAMS}), {}
        metric = spec.OutKind.METRICS
        outs = {o.path for _, o in pipeline.outputs() if o.kind is metric}
        return sorted(outs), {p: d for p, d in digests.items() if p in outs}

    def fetch(
        self, files: list[str], digests: dict[str, str]
    ) -> tuple[dict[str, bytes | None], dict[str, str]]:
        """The bytes of ``files`` at this revision, a cached output not checked
        out here through its lock digest (the cache, else the default remote);
        and those that could not be read, each with why ("" when the file is
        simply not there)."""
        raw = self.read(files)
        missing: dict[str, str] = {}
        for f in files:
            folder = next((d for d in digests if f.startswith(d + "/")), None)
            if raw.get(f) is None and (f in digests or folder):  # a cached output not here
                try:
                    if f in digests:
                        raw[f] = _from_cache(self.repo, f, digests[f])
                    elif folder is not None:  # a file in a cached output folder
                        raw[f] = _from_tree(self.repo, folder, digests[folder], f)
                except _NOT_FETCHED as exc:
                    where = (
                        "in neither the cache nor the default remote"
                        if isinstance(exc, MissingObjectError)
                        else "that could not be read"
                    )
                    missing[f] = f"a cached output the lock records, {where}: {exc.message}"
            if raw.get(f) is None:
                missing.setdefault(f, "")
        return raw, missing


def _from_cache(repo: Repo, path: str, digest: str) -> bytes:
    from tether.remotes_service import fetch_from_default  # storage and remotes: only here

    fetch_from_default(repo, [object_named(path, digest)])
    return repo.odb.read(digest, path)


def _from_tree(repo: Repo, folder: str, digest: str, path: str) -> bytes | None:
    """``path`` in the cached folder ``folder`` (tree ``digest``); None where the
    tree lists no such file."""
    from tether.storage import tree

    listing = tree.parse(_from_cache(repo, folder, digest), folder).by_path()
    entry = listing.get(path[len(folder) + 1 :])
    return None if entry is None else _from_cache(repo, path, entry.digest)


def collect(repo: Repo, rev: str | None, files: list[str] | None, kind: str) -> Files:
    """Flattened values of each file at ``rev``; a file missing there maps to {}."""
    return _collect(repo, rev, files, kind)[0]


def _collect(
    repo: Repo, rev: str | None, files: list[str] | None, kind: str
) -> tuple[Files, dict[str, str]]:
    """:func:`collect`, and the files that could not be read at ``rev``: each
    with why, when it is a cached output that neither the cache nor the
    default remote could give ("" when the file is simply not there)."""
    src = Source(repo, rev)
    if files:
        try:  # a named file may be a cached output too
            digests = src.pipeline_files(kind)[1]
        except MetadataError:  # tether.yaml or tether.lock does not parse: read it as it is
            digests = {}
    else:
        files, digests = src.pipeline_files(kind)
    raw, missing = src.fetch(files, digests)
    out: Files = {}
    for f in files:
        data = raw.get(f)
        if data is None:
            out[f] = {}
            continue
        try:
            doc = valuefiles.parse_data(f, data)
        except MetadataError as exc:
            raise MetadataError(f"{exc.message} (at {src.label})", "fix or regenerate it") from None
        out[f] = valuefiles.flatten(doc) if isinstance(doc, dict | list) else {"": doc}
    return out, missing


def _check_missing(
    files: list[str] | None, missing: list[tuple[str, dict[str, str]]], notes: list[str] | None
) -> None:
    """Files named on the command line must exist at some revision looked at
    (``missing``: per revision label, what could not be read there); a cached
    output that could not be fetched is noted, or is the error when named."""
    why = [(label, f, reason) for label, m in missing for f, reason in m.items() if reason]
    nowhere = sorted(set(files or []).intersection(*(m for _, m in missing)))
    if nowhere:
        reasons = [f"{f} at {label}: {r}" for label, f, r in why if f in nowhere]
        raise PathError(
            f"{', '.join(nowhere)}: not found at {' or '.join(label for label, _ in missing)}"
            + (f" ({'; '.join(reasons)})" if reasons else ""),
            "`tether pull` it, or set the default remote that holds it"
            if reasons
            else "check the name (-f takes paths from the repository root)",
        )
    if notes is not None:
        notes += [f"{f} at {label}: {r}" for label, f, r in why]


def collect_refs(
    repo: Repo,
    files: list[str] | None,
    kind: str,
    all_refs: bool,
    notes: list[str] | None = None,
) -> dict[str, Files]:
    """The workspace's values and, with ``all_refs``, every branch's and tag's."""
    found = {WORKSPACE: _collect(repo, None, files, kind)}
    if all_refs:
        for ref in sorted(gitscm.ref_names(repo.root)):
            found[ref] = _collect(repo, ref, files, kind)
    _check_missing(files, [(label, m) for label, (_, m) in found.items()], notes)
    return {label: values for label, (values, _) in found.items()}


def compare(
    repo: Repo,
    old_rev: str,
    new_rev: str | None,
    files: list[str] | None,
    kind: str,
    show_all: bool,
    notes: list[str] | None = None,
) -> list[Row]:
    """``metrics diff`` / ``params diff``: the rows between two revisions."""
    old, old_missing = _collect(repo, old_rev, files, kind)
    new, new_missing = _collect(repo, new_rev, files, kind)
    labels = [(old_rev, old_missing), (new_rev or WORKSPACE, new_missing)]
    _check_missing(files, labels, notes)
    return diff(old, new, show_all)


def diff(old: Files, new: Files, show_all: bool) -> list[Row]:
    rows = []
    for f in sorted(set(old) | set(new)):
        a, b = old.get(f, {}), new.get(f, {})
        for key in sorted(set(a) | set(b)):
            row = Row(f, key, a.get(key), b.get(key))  # missing on one side: None
            if show_all or row.changed:
                rows.append(row)
    return rows


# -- rules for `metrics check` ------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_RULE = re.compile(r"\s*(change\s+|Δ\s*)?([^\s<>=!]+)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.eE+-]+)\s*\Z")


@dataclass(frozen=True)
class Rule:
    text: str
    on_change: bool
    metric: str
    op: str
    limit: float


@dataclass(frozen=True)
class Verdict:
    rule: str
    file: str
    metric: str
    value: float | None  # what the rule bounds: the new value, or the change
    ok: bool
    note: str = ""
    old: float | None = None  # with a baseline: its value, and the new one
    new: float | None = None


def parse_rule(text: str, baseline: bool) -> Rule:
    m = _RULE.match(text)
    if not m:
        raise UsageError(
            f"cannot read the rule {text!r}",
            "write METRIC OP NUMBER, e.g. 'accuracy >= -0.01' ('change accuracy' for the change)",
        )
    prefix, metric, op, limit = m.groups()
    try:
        value = float(limit)
    except ValueError:
        raise UsageError(f"rule {text!r}: {limit!r} is not a number") from None
    return Rule(text.strip(), bool(prefix) or baseline, metric, op, value)


def _matches(key: str, file: str, metric: str) -> bool:
    if ":" in metric:
        mfile, _, mkey = metric.partition(":")
        return file == mfile and key == mkey
    return key == metric or key.endswith("." + metric)


def check(old: Files | None, new: Files, rules: list[Rule]) -> list[Verdict]:
    verdicts = []
    for rule in rules:
        hits = [(f, k) for f in sorted(new) for k in sorted(new[f]) if _matches(k, f, rule.metric)]
        if not hits:
            verdicts.append(Verdict(rule.text, "", rule.metric, None, False, "metric not found"))
            continue
        for f, k in hits:
            value = new[f][k]
            if rule.on_change:
                before = (old or {}).get(f, {}).get(k)
                if not (isinstance(before, int | float) and _is_number(value)):
                    verdicts.append(Verdict(rule.text, f, k, None, False, "no baseline value"))
                    continue
                change = float(value) - float(before)
                ok = _OPS[rule.op](change, rule.limit)
                verdicts.append(
                    Verdict(rule.text, f, k, change, ok, "", float(before), float(value))
                )
                continue
            if not _is_number(value):
                verdicts.append(Verdict(rule.text, f, k, None, False, "not a number"))
                continue
            ok = _OPS[rule.op](float(value), rule.limit)
            verdicts.append(Verdict(rule.text, f, k, float(value), ok))
    return verdicts


def check_workspace(
    repo: Repo, baseline: str | None, rules: list[str], files: list[str] | None
) -> list[Verdict]:
    """``metrics check``: rules from the command line, else tether.yaml's ``checks:``."""
    if not rules:
        pipeline = spec.load(repo.root)
        rules = list(pipeline.checks) if pipeline else []
    if not rules:
        raise UsageError("no rules", "pass --rule, or list them under `checks:` in tether.yaml")
    parsed = [parse_rule(t, baseline is not None) for t in rules]
    new = collect(repo, None, files, "metric")
    old = collect(repo, baseline, files, "metric") if baseline else None
    return check(old, new, parsed)
