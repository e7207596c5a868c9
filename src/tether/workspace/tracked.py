"""Find the pointer files of the workspace and keep .gitignore in step with them."""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from tether import gitignore, gitscm, paths, pointer
from tether.errors import MetadataError, OldHashError, TetherError, TrackingError
from tether.paths import overlaps
from tether.pointer import Pointer
from tether.repo import Repo

# files git or tether keep in git by name: checkout must never write them
_KEPT_IN_GIT = (".gitignore", ".gitattributes", ".gitmodules")


def _distinct(pointers: list[Pointer]) -> None:
    """No two pointers name one path, or one inside the other: checking both
    out would write one through the other."""
    ordered = sorted(pointers, key=lambda p: p.path.split("/"))  # a folder, then what is in it
    for a, b in itertools.pairwise(ordered):
        if overlaps(a.path, b.path):
            what = "the same path" if a.path == b.path else "overlapping paths"
            raise MetadataError(
                f"{a.source} and {b.source} track {what} ({a.path!r}, {b.path!r})",
                "a path is tracked by one pointer file: remove one of them",
            )


def _asked_for(asked: dict[str, tuple[Pointer, bool]], found: str) -> tuple[Pointer, str] | None:
    """The pointer, and the path asked for it, that the git-tracked file ``found``
    stands in the way of: the path itself, a file inside it, or a file where a
    folder above it must go."""
    if found in asked:
        return asked[found][0], found
    folder = posixpath.dirname(found)
    while folder:
        if folder in asked and not asked[folder][1]:
            return asked[folder][0], folder
        folder = posixpath.dirname(folder)
    return None


def _not_in_git(repo: Repo, pointers: list[Pointer]) -> list[Pointer]:
    """``pointers``, once none of them names a file git tracks (or a folder
    holding one, or a file above it), as written or once symlinks are followed,
    a pointer file, or a file git or tether keep in git by name: checking it out
    would overwrite what git holds. Nor may two of them overlap. (A cloned
    repository chooses these paths.)"""
    for p in pointers:
        name = posixpath.basename(p.path)
        if name.endswith(pointer.SUFFIX) or name in _KEPT_IN_GIT or p.path in (LOCK, PIPELINE):
            raise MetadataError(
                f"{p.source}: path {p.path!r} is a file git keeps, which tether never writes",
                "fix or remove the pointer (or the stage output)",
            )
    _distinct(pointers)
    asked: dict[str, tuple[Pointer, bool]] = {}  # path -> (pointer, a folder above its path)
    for p in pointers:
        asked.setdefault(p.path, (p, False))
        real = paths.resolved(repo.root, p.path)
        if real not in (None, "."):  # "." : a link to the root, replaced on checkout
            asked.setdefault(real, (p, False))
        folder = posixpath.dirname(p.path)
        while folder and folder not in asked:
            asked[folder] = (p, True)
            full = repo.root / folder
            if full.exists() and not full.is_dir():
                raise MetadataError(
                    f"{p.source}: path {p.path!r} goes through the file {folder},"
                    " which tether never replaces with a folder",
                    "fix or remove the pointer (or the stage output), or move the file",
                )
            folder = posixpath.dirname(folder)
    for found in gitscm.tracked(repo.root, asked):
        hit = _asked_for(asked, found)
        if hit is not None:
            p, path = hit
            raise MetadataError(
                f"{p.source}: path {p.path!r} is tracked by git ({found}),"
                " which tether never overwrites",
                f"remove the pointer, or stop tracking it in git: `git rm -r --cached {path}`",
            )
    return pointers


def all_pointers(repo: Repo) -> list[Pointer]:
    """Every pointer of the workspace; a pointer file that does not parse is an error."""
    found = [pointer.load(repo.root, src) for src in gitscm.list_pointer_files(repo.root)]
    return _not_in_git(repo, found)


@dataclass(frozen=True)
class Broken:
    """A pointer file that does not parse: ``path`` is what its name says it tracks."""

    source: str
    error: MetadataError

    @property
    def path(self) -> str:
        return self.source.removesuffix(pointer.SUFFIX)


def _load_all(repo: Repo) -> tuple[list[Pointer], list[Broken]]:
    good: list[Pointer] = []
    bad: list[Broken] = []
    for src in gitscm.list_pointer_files(repo.root):
        try:
            good.append(pointer.load(repo.root, src))
        except MetadataError as exc:
            bad.append(Broken(src, exc))
    return _not_in_git(repo, good), bad


LOCK = "tether.lock"  # pipeline.lock.FILE, named here to keep history reads import-light
PIPELINE = "tether.yaml"  # pipeline.spec.FILE


class Declared(NamedTuple):
    """An output a stage declares in tether.yaml."""

    stage: str
    path: str
    cache: bool


class StageOutputs(Protocol):
    """The paths stages produce, as the pipeline reads them from tether.yaml and
    tether.lock: tracked data beside the pointer files. Passed in by the caller,
    so the workspace never reads the pipeline's files itself."""

    def declared(self, repo: Repo) -> list[Declared]:
        """Every output tether.yaml declares; none when there is no tether.yaml
        or it cannot be read."""
        ...

    def cached(self, repo: Repo) -> list[Pointer]:
        """The cached outputs (as tether.lock records them) checked out, pushed
        and pulled like tracked data."""
        ...

    def recorded(self, lock_text: str) -> list[Pointer]:
        """Every output a tether.lock text (of any commit) records."""
        ...


def check_overlap(pointers: Iterable[Pointer], outputs: Iterable[Declared]) -> None:
    """A path is tracked by a pointer file or produced by a stage, never both:
    both would store it, gitignore it and check it out, each its own way."""
    pointers = list(pointers)
    for o in outputs:
        for p in pointers:
            if overlaps(o.path, p.path):
                where = "" if o.path == p.path else f" (overlapping {p.path})"
                raise TrackingError(
                    f"{o.path}{where} is an output of stage {o.stage} and tracked by {p.source}",
                    "a path is tracked with `tether add` or produced by a stage, not both: "
                    f"`tether remove {p.path}`, or drop {o.path} from the stage's outputs",
                )


def referenced(
    repo: Repo,
    outputs: StageOutputs,
    workspace_only: bool,
    all_commits: bool = False,
    extra_revs: Iterable[str] = (),
    strict: bool = False,
) -> list[Pointer]:
    """Pointers and stage outputs of the workspace and, unless ``workspace_only``,
    of every branch and tag tip and ``extra_revs`` (``all_commits``: of every
    commit any ref reaches). ``strict``: a pointer or lock in history that does
    not parse stops with its name (gc must not guess what it referenced);
    otherwise it is passed over."""
    found = all_pointers(repo) + _not_in_git(repo, outputs.cached(repo))
    if workspace_only:
        return found
    revs = set(gitscm.ref_heads(repo.root).values()) | set(extra_revs)
    if all_commits:
        revs.update(gitscm.all_commits(repo.root))
    seen = {(p.source, p.digest) for p in found}
    for rev in sorted(revs):  # one `git cat-file --batch` per commit
        for p in at_commit(repo, rev, outputs, strict):
            if (p.source, p.digest) not in seen:
                seen.add((p.source, p.digest))
                found.append(p)
    return found


def at_commit(repo: Repo, rev: str, outputs: StageOutputs, strict: bool = False) -> list[Pointer]:
    """The pointers and stage outputs one commit records, read as text (this
    workspace's symlinks say nothing of that commit). ``strict``: a pointer or
    lock that does not parse stops with its name; otherwise it is passed over."""
    found: list[Pointer] = []
    sources = gitscm.list_at(repo.root, rev, pointer.SUFFIX)
    files = gitscm.read_at(repo.root, rev, [*sources, LOCK])
    lock_text = files.pop(LOCK)
    for src, data in files.items():
        if data is None or src.startswith(".tether/"):
            continue
        try:
            found.append(pointer.parse(None, src, data.decode("utf-8")))
        except OldHashError:
            continue  # it names an old object, which gc never deletes
        except (TetherError, UnicodeDecodeError) as exc:
            if strict:
                raise _unreadable(src, rev, exc) from None
            continue  # a broken pointer in history references nothing we can name
    if lock_text is not None:
        try:
            found += outputs.recorded(lock_text.decode("utf-8"))
        except OldHashError:
            pass  # like an old pointer
        except (TetherError, UnicodeDecodeError) as exc:
            if strict:
                raise _unreadable(LOCK, rev, exc) from None
    return found


def _unreadable(source: str, rev: str, exc: Exception) -> MetadataError:
    why = exc.message if isinstance(exc, TetherError) else "not UTF-8 text"
    return MetadataError(
        f"cannot read {source} at commit {rev[:12]} ({why}); "
        "gc cannot tell what it references, so nothing was deleted",
        f"repair the file in a new commit, or delete the branch or tag holding {rev[:12]} "
        "if its data is not needed",
    )


def _hit(target: str, path: str, source: str) -> bool:
    return (
        target in (path, source)
        or path.startswith(target.rstrip("/") + "/")
        or target.startswith(path + "/")
    )


def select(
    repo: Repo,
    targets: list[str] | None,
    outputs: StageOutputs | None = None,
    broken: list[Broken] | None = None,
) -> list[Pointer]:
    """The pointers for ``targets`` (data paths or pointer files), or all of them;
    with ``outputs``, cached stage outputs too.

    A pointer file that does not parse is an error only when it is selected,
    and not even then with ``broken``, which collects it instead (so a command
    can go on with the others, or remove it)."""
    pointers, bad = _load_all(repo)
    if outputs is not None:
        check_overlap(pointers, outputs.declared(repo))
        pointers += _not_in_git(repo, outputs.cached(repo))
    if targets:
        bad = [b for b in bad if any(_hit(t, b.path, b.source) for t in targets)]
    if bad and broken is None:
        raise bad[0].error
    if broken is not None:
        broken += bad
    if not targets:
        return pointers
    chosen: dict[str, Pointer] = {}
    for t in targets:
        hits = [p for p in pointers if _hit(t, p.path, p.source)]
        if not hits and not any(_hit(t, b.path, b.source) for b in bad):
            raise TrackingError(f"{t}: not tracked by tether", "track it with `tether add`")
        chosen.update((p.path, p) for p in hits)
    return sorted(chosen.values(), key=lambda p: p.path)


def _pattern(name: str) -> str:
    escaped = "".join("\\" + c if c in "*?[]\\!# " else c for c in name)
    return "/" + escaped


def check_ignorable(repo: Repo, paths_: Iterable[str]) -> None:
    """Raise unless the .gitignore of each path's folder is one tether may edit
    (checked before a command changes anything, so a refusal leaves no half)."""
    for folder in sorted({posixpath.dirname(p) for p in paths_}):
        gitignore.read(repo.root, gitignore.of_folder(folder))


def ignore(repo: Repo, path: str) -> str:
    """Add ``path`` to the .gitignore of its folder; returns that .gitignore."""
    folder, name = posixpath.split(path)
    gi = gitignore.of_folder(folder)
    line = _pattern(name)
    lines = gitignore.read(repo.root, gi) or []
    if line not in lines:
        gitignore.write(repo.root, gi, [*lines, line])
    return gi


def _without(lines: list[str], run: list[str]) -> list[str]:
    """``lines`` less every occurrence of the consecutive lines ``run``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i : i + len(run)] == run:
            i += len(run)
        else:
            out.append(lines[i])
            i += 1
    return out


def unignore(repo: Repo, path: str) -> str | None:
    folder, name = posixpath.split(path)
    gi = gitignore.of_folder(folder)
    lines = gitignore.read(repo.root, gi)
    if lines is None:
        return None
    # a name with a line break was written as several lines by older versions
    # (``add`` now refuses such names): those lines go, in order
    mine = _pattern(name).splitlines()
    kept = _without(lines, mine) if len(mine) > 1 else [ln for ln in lines if ln != mine[0]]
    if kept == lines:
        return None
    gitignore.write(repo.root, gi, kept)
    return gi


def targets(repo: Repo, args: list[str] | None) -> list[str] | None:
    """Command-line paths (relative to the current folder) as workspace paths."""
    if not args:
        return None
    from tether.paths import from_user

    return [from_user(repo.root, a) for a in args]
