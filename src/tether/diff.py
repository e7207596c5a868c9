"""``tether diff A [B]``: which tracked data changed between two revisions
(B defaults to the workspace's pointer files), per pointer and per file inside
tracked directories, by digest. Trees missing from the cache are fetched from
the default remote; when that fails the directory is reported as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field

from tether import gitscm, pointer
from tether.errors import TetherError
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import tree


@dataclass(frozen=True)
class Change:
    path: str
    change: str  # added | modified | deleted
    old_size: int | None
    new_size: int | None


@dataclass
class DataDiff:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pointers(repo: Repo, rev: str | None) -> dict[str, Pointer]:
    if rev is None:
        from tether.workspace import tracked

        return {p.path: p for p in tracked.all_pointers(repo)}
    commit = gitscm.rev_parse(repo.root, rev)
    sources = gitscm.list_at(repo.root, commit, pointer.SUFFIX)
    found: dict[str, Pointer] = {}
    for src, data in gitscm.read_at(repo.root, commit, sources).items():
        if data is None or src.startswith(".tether/"):
            continue
        p = pointer.parse(repo.root, src, data.decode("utf-8", "replace"))
        found[p.path] = p
    return found


def _tree(repo: Repo, p: Pointer, notes: list[str]) -> dict[str, tree.Entry] | None:
    from tether.storage.transfer import Root
    from tether.workspace.sync import fetch_from_default

    try:
        fetch_from_default(repo, [Root(p.digest, "file", 0, p.path)])
    except TetherError as exc:
        notes.append(f"{p.path}: tree not available ({exc.message})")
        return None
    try:
        return tree.parse(repo.odb.read(p.digest, p.source), p.source).by_path()
    except TetherError:
        notes.append(f"{p.path}: tree {p.digest} is not in the cache or on the remote")
        return None


def _files(repo: Repo, p: Pointer | None, notes: list[str]) -> dict[str, tree.Entry] | None:
    """Files of a tracked directory (``{}`` when absent); None for a file or unknown tree."""
    if p is None:
        return {}
    if p.kind != "dir":
        return None
    return _tree(repo, p, notes)


def diff(repo: Repo, old_rev: str, new_rev: str | None) -> DataDiff:
    result = DataDiff(old_rev, new_rev or "workspace")
    old, new = _pointers(repo, old_rev), _pointers(repo, new_rev)
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a is not None and b is not None and a.digest == b.digest:
            continue
        dirs = (a is None or a.kind == "dir") and (b is None or b.kind == "dir")
        ta = _files(repo, a, result.notes) if dirs else None
        tb = _files(repo, b, result.notes) if dirs else None
        if ta is not None and tb is not None:
            for rel in sorted(set(ta) | set(tb)):
                ea, eb = ta.get(rel), tb.get(rel)
                if ea is not None and eb is not None and ea.digest == eb.digest:
                    continue
                kind = "added" if ea is None else "deleted" if eb is None else "modified"
                result.changes.append(
                    Change(f"{path}/{rel}", kind, ea.size if ea else None, eb.size if eb else None)
                )
            continue
        kind = "added" if a is None else "deleted" if b is None else "modified"
        result.changes.append(Change(path, kind, a.size if a else None, b.size if b else None))
    return result
