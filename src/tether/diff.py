"""``tether diff A [B]``: which tracked data changed between two revisions
(B defaults to the workspace), per pointer and per file inside tracked
directories, by digest. Tracked data is what the pointer files name and the
cached stage outputs that tether.lock records (each change names its stage).
Trees missing from the cache are fetched from the default remote; when that
fails the directory is reported as a whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tether import gitscm, pointer
from tether.artifact import Kind, object_named
from tether.errors import (
    FETCH_FAILURES,
    MetadataError,
    MissingObjectError,
    PathError,
    PipelineError,
    TetherError,
)
from tether.pipeline import lock, spec
from tether.pointer import Pointer
from tether.remotes_service import fetch_from_default
from tether.repo import Repo
from tether.storage import tree
from tether.workspace import tracked
from tether.workspace.status import ChangeKind


@dataclass(frozen=True)
class Change:
    path: str
    change: ChangeKind
    old_size: int | None
    new_size: int | None
    stage: str | None = None  # for a stage output: the stage that produces it


@dataclass
class DataDiff:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Tracked = dict[str, tuple[Pointer, str | None]]  # path -> (what it names, stage)
Reader = Callable[[list[str]], dict[str, bytes | None]]


def _tracked(repo: Repo, rev: str | None, notes: list[str]) -> Tracked:
    """Pointer files and cached stage outputs at ``rev`` (None: the workspace)."""
    if rev is None:
        found: Tracked = {p.path: (p, None) for p in tracked.all_pointers(repo)}
        return {**_outputs(repo, "workspace", _workspace_reader(repo), notes), **found}
    commit = gitscm.rev_parse(repo.root, rev)
    sources = gitscm.list_at(repo.root, commit, pointer.SUFFIX)
    found = {}
    for src, data in gitscm.read_at(repo.root, commit, sources).items():
        if data is None or src.startswith(".tether/"):
            continue
        p = pointer.parse(repo.root, src, data.decode("utf-8", "replace"))
        found[p.path] = (p, None)

    def read(paths: list[str]) -> dict[str, bytes | None]:
        return gitscm.read_at(repo.root, commit, paths)

    return {**_outputs(repo, rev, read, notes), **found}


def _workspace_reader(repo: Repo) -> Reader:
    def read(paths: list[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for p in paths:
            try:
                out[p] = (repo.root / p).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                out[p] = None
        return out

    return read


def _outputs(repo: Repo, label: str, read: Reader, notes: list[str]) -> Tracked:
    """The cached outputs tether.lock records, as pointers, with their stage."""
    found = read([spec.FILE, lock.FILE])
    spec_text, lock_text = found[spec.FILE], found[lock.FILE]
    if spec_text is None or lock_text is None:
        return {}
    try:
        pipeline = spec.parse(repo.root, spec_text.decode("utf-8"), lambda p: read([p])[p])
        entries = lock.parse(lock_text.decode("utf-8"))
    except (MetadataError, PipelineError, PathError, UnicodeDecodeError) as exc:
        what = exc.message if isinstance(exc, TetherError) else "not UTF-8"
        notes.append(f"{label}: stage outputs left out ({what})")
        return {}
    cached = {o.path for s in pipeline.stages.values() for o in s.outs if o.cache}
    out: Tracked = {}
    for name, entry in entries.items():
        for a in entry.outs:
            if a.path in cached:
                out[a.path] = (Pointer.of(a, lock.FILE), name)
    return out


def _tree(repo: Repo, p: Pointer, notes: list[str]) -> dict[str, tree.Entry] | None:
    try:
        fetch_from_default(repo, [object_named(p.path, p.digest)])
        return tree.parse(repo.odb.read(p.digest, p.source), p.source).by_path()
    except MissingObjectError:
        notes.append(f"{p.path}: tree {p.digest} is not in the cache or on the remote")
    except FETCH_FAILURES as exc:
        notes.append(f"{p.path}: tree not available ({exc.message})")
    return None


def _files(repo: Repo, p: Pointer | None, notes: list[str]) -> dict[str, tree.Entry] | None:
    """Files of a tracked directory (``{}`` when absent); None for a file or unknown tree."""
    if p is None:
        return {}
    if p.kind is not Kind.DIR:
        return None
    return _tree(repo, p, notes)


def _change(old: object | None, new: object | None) -> ChangeKind:
    if old is None:
        return ChangeKind.ADDED
    return ChangeKind.DELETED if new is None else ChangeKind.MODIFIED


def diff(repo: Repo, old_rev: str, new_rev: str | None) -> DataDiff:
    result = DataDiff(old_rev, new_rev or "workspace")
    old = _tracked(repo, old_rev, result.notes)
    new = _tracked(repo, new_rev, result.notes)
    for path in sorted(set(old) | set(new)):
        (a, sa), (b, sb) = old.get(path, (None, None)), new.get(path, (None, None))
        if a is not None and b is not None and a.digest == b.digest:
            continue
        stage = sb or sa
        dirs = (a is None or a.kind is Kind.DIR) and (b is None or b.kind is Kind.DIR)
        ta = _files(repo, a, result.notes) if dirs else None
        tb = _files(repo, b, result.notes) if dirs else None
        if ta is not None and tb is not None:
            for rel in sorted(set(ta) | set(tb)):
                ea, eb = ta.get(rel), tb.get(rel)
                if ea is not None and eb is not None and ea.digest == eb.digest:
                    continue
                kind = _change(ea, eb)
                result.changes.append(
                    Change(
                        f"{path}/{rel}",
                        kind,
                        ea.size if ea else None,
                        eb.size if eb else None,
                        stage,
                    )
                )
            continue
        kind = _change(a, b)
        result.changes.append(
            Change(path, kind, a.size if a else None, b.size if b else None, stage)
        )
    return result
