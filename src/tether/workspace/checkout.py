"""``tether checkout``: make the workspace hold exactly what the pointer files say.

Nothing is lost: before a file is overwritten or deleted, its current content
must be in the cache (so ``checkout`` of another version can bring it back),
unless ``--force``. Every object needed is checked for presence before the
first change, and verified before (or while) it is written.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tether import pointer, progress, tempfiles
from tether.artifact import Kind
from tether.errors import (
    CorruptObjectError,
    MetadataError,
    MissingObjectError,
    ObjectError,
    TetherError,
    WorkspaceError,
    raise_if_denied,
)
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import tree
from tether.workspace import scan, tracked

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future


@dataclass
class Checked:
    path: str
    added: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)

    def wrote(self, replaced: bool) -> None:
        """Count one file written: a replaced one is modified, else added."""
        if replaced:
            self.modified += 1
        else:
            self.added += 1

    @property
    def changed(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


def _summary(paths: list[str]) -> str:
    """``first`` or ``first (and N more)``, for one-line errors about many files."""
    return paths[0] + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else "")


def _absent(repo: Repo, pairs: list[tuple[str, str]]) -> list[str]:
    """The paths of ``(path, digest)`` pairs whose object is not in the cache."""
    return sorted(path for path, digest in pairs if not repo.odb.exists(digest))


def _guard(repo: Repo, doomed: list[tuple[str, str]], force: bool, what: str) -> None:
    """Refuse to overwrite or delete content that is in no cache."""
    lost = [] if force else _absent(repo, doomed)
    if lost:
        raise WorkspaceError(f"{what}: {_summary(lost)} has changes that are not in the cache")


def _folders(paths: list[str]) -> list[str]:
    """Every folder above the relative POSIX ``paths``, parents before children."""
    out: set[str] = set()
    for rel in paths:
        folder = rel.rpartition("/")[0]
        while folder and folder not in out:
            out.add(folder)
            folder = folder.rpartition("/")[0]
    return sorted(out)  # a prefix sorts before what extends it


def _prune_empty(top: Path, keep: set[str]) -> None:
    """Remove empty folders below ``top`` except those in ``keep`` (relative),
    which files are still being written into."""
    for dirpath, _dirs, _files in os.walk(top, topdown=False):
        rel = os.path.relpath(dirpath, top)
        if rel != "." and rel not in keep and not os.listdir(dirpath):
            os.rmdir(dirpath)


def _remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


BACKGROUND_MIN = 8 << 20  # files at least this large are written on worker threads


class _Background:
    """Writes large files on two worker threads while the caller writes the
    many small ones: copying a large file spends its time in the kernel with
    the GIL released, so on two cores the big and the small files overlap
    (pull of 20,000 small files + 4 x 256 MiB). Outcomes are folded into each
    path's :class:`Checked` by :meth:`join`, on the caller's thread."""

    def __init__(self, repo: Repo) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.repo = repo
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tether-checkout")
        self.jobs: list[tuple[Checked, str, bool, Future[os.stat_result]]] = []

    def link(self, res: Checked, e: tree.Entry, dest: str, name: str, had: bool) -> None:
        future = self.pool.submit(self.repo.linker.link, e.digest, dest, e.executable, name)
        self.jobs.append((res, name, had, future))

    def abandon(self) -> None:
        """On an error or Ctrl-C: let started writes finish (each is atomic), drop the rest."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.jobs.clear()

    def join(self) -> None:
        """Wait for every write; corrupt objects are per-path failures, anything
        else is raised (after every write finished or was dropped)."""
        first: BaseException | None = None
        try:
            for res, name, had, future in self.jobs:
                try:
                    future.result()
                except CorruptObjectError:
                    res.failed.append(name)
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    first = first or exc
                else:
                    res.wrote(had)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.jobs.clear()
        if first is not None:
            raise first


@dataclass
class _Plan:
    """What checking out one pointer does, decided before anything changes:
    the objects it needs, and ``run``, which makes the changes."""

    res: Checked
    needed: list[tuple[str, str]]  # (path, digest): every object ``run`` writes
    run: Callable[[_Background | None], None]


def _plan_file(repo: Repo, p: Pointer, force: bool, relink: bool) -> _Plan:
    full, res = repo.root / p.path, Checked(p.path)
    in_cache = repo.odb.size(p.digest)
    if in_cache is not None:  # a missing object: _need names it; a damaged one, the linker
        pointer.check_data(p, in_cache)
    roots = (repo.root.resolve(), repo.odb.objects.resolve())
    folder = full.is_dir() and not full.is_symlink()
    if folder:
        files = scan.scan(full, p.path, roots)
        _guard(
            repo,
            [(f"{p.path}/{f.rel}", scan.digest_of(f, repo.state)) for f in files],
            force,
            p.path,
        )
        res.modified = 1
    elif full.exists():
        f = scan.FileStat(full.name, str(full), scan.stat_file(full, p.path, roots))
        current = scan.digest_of(f, repo.state)
        if current == p.digest and not relink:
            res.unchanged = 1
            return _Plan(res, [], lambda _bg: None)
        _guard(repo, [(p.path, current)], force, p.path)
        res.modified = 1
    else:
        res.added = 1

    def run(_bg: _Background | None) -> None:
        if folder:
            shutil.rmtree(full)
        repo.linker.link(p.digest, full, False, p.path)

    return _Plan(res, [(p.path, p.digest)], run)


def _plan_dir(repo: Repo, p: Pointer, force: bool, relink: bool) -> _Plan:
    full, res = repo.root / p.path, Checked(p.path)
    roots = (repo.root.resolve(), repo.odb.objects.resolve())
    wanted = tree.parse(repo.odb.read(p.digest, p.source), p.source).by_path()
    pointer.check_data(p, sum(e.size for e in wanted.values()), len(wanted))
    have: dict[str, tuple[scan.FileStat, str]] = {}
    leftovers: list[str] = []
    in_the_way = False  # a file where the folder goes
    if full.is_dir() and not full.is_symlink():
        have = {
            f.rel: (f, scan.digest_of(f, repo.state))
            for f in scan.scan(full, p.path, roots, leftovers)
        }
    elif full.exists() or full.is_symlink():
        f = scan.FileStat(full.name, str(full), scan.stat_file(full, p.path, roots))
        _guard(repo, [(p.path, scan.digest_of(f, repo.state))], force, p.path)
        in_the_way = True
    remove = [rel for rel in have if rel not in wanted]
    write = [
        e for e in wanted.values() if relink or e.path not in have or have[e.path][1] != e.digest
    ]
    chmod = [
        e
        for e in wanted.values()
        if e.path in have and e not in write and have[e.path][0].executable != e.executable
    ]
    _guard(
        repo,
        [(f"{p.path}/{r}", have[r][1]) for r in remove]
        + [(f"{p.path}/{e.path}", have[e.path][1]) for e in write if e.path in have],
        force,
        p.path,
    )

    def run(bg: _Background | None) -> None:
        for path in leftovers:  # of a killed checkout or add: nobody else writes under the lock
            os.unlink(path)
        if in_the_way:
            full.unlink()
        for rel in remove:
            _remove_any(full / rel)
        res.deleted = len(remove)
        # every folder is made here, before the first write, and only folders no
        # file goes into are pruned: the background writer never races either
        keep = _folders(list(wanted))
        full.mkdir(parents=True, exist_ok=True)
        for rel in keep:
            folder = full / rel
            if not folder.is_dir() or folder.is_symlink():
                _remove_any(folder)  # a file where a folder must go (its content was guarded)
                folder.mkdir()
        made = _write(repo, p, res, write, set(have), bg)
        for e in chmod:
            os.chmod(full / e.path, 0o755 if e.executable else 0o644)
        res.modified += len(chmod)
        res.unchanged = len(wanted) - len(write) - len(chmod)
        _prune_empty(full, set(keep))
        if made is not None and len(made) == len(wanted):
            repo.state.put_tree(p.path, scan.fingerprint(made), p.digest)

    return _Plan(res, [(f"{p.path}/{e.path}", e.digest) for e in write], run)


def _write(
    repo: Repo,
    p: Pointer,
    res: Checked,
    write: list[tree.Entry],
    have: set[str],
    bg: _Background | None,
) -> list[scan.FileStat] | None:
    """Write the files of a folder; when nothing was there and every file was
    written here, what each write left (the whole folder: its tree row spares
    the next command a scan), else None."""
    top = str(repo.root / p.path)
    made: list[scan.FileStat] | None = [] if not have else None
    with progress.task(f"checking out {p.path}", total=len(write)) as bar:
        for e in write:
            dest = f"{top}/{e.path}"
            if bg is not None and e.size >= BACKGROUND_MIN:
                bg.link(res, e, dest, f"{p.path}/{e.path}", e.path in have)
                bar.advance()
                made = None
                continue
            try:
                st = repo.linker.link(e.digest, dest, e.executable, f"{p.path}/{e.path}")
            except CorruptObjectError:
                res.failed.append(f"{p.path}/{e.path}")
                made = None
                continue
            if made is not None:
                made.append(scan.FileStat(e.path, dest, st))
            res.wrote(e.path in have)
            bar.advance()
    return made


def _plan(repo: Repo, p: Pointer, force: bool, relink: bool) -> _Plan:
    """Decide what checking out ``p`` does; changes nothing."""
    if p.kind is Kind.FILE:
        return _plan_file(repo, p, force, relink)
    return _plan_dir(repo, p, force, relink)


def _remove_leftovers(repo: Repo, pointers: list[Pointer]) -> None:
    """Delete the temporaries a killed checkout or add left beside these paths
    (inside a folder, :func:`_plan_dir` finds them); only under the repository
    lock, when no living tether process writes any."""
    for folder in sorted({os.path.dirname(p.path) for p in pointers}):
        tempfiles.remove_leftovers(str(repo.root / folder))


def _run(plan: _Plan, bg: _Background | None) -> Checked:
    try:
        plan.run(bg)
    except OSError as exc:  # making or pruning a folder, deleting a file
        raise_if_denied(exc, plan.res.path)
        raise
    return plan.res


def _need(repo: Repo, needed: list[tuple[str, str]]) -> None:
    """Every object is present, or nothing is changed."""
    missing = _absent(repo, needed)
    if missing:
        raise MissingObjectError(f"{_summary(missing)} not in the cache; nothing was changed")


def checkout_pointer(
    repo: Repo, p: Pointer, force: bool, relink: bool = False, bg: _Background | None = None
) -> Checked:
    """Restore one pointer's path (under the repository lock)."""
    _remove_leftovers(repo, [p])
    plan = _plan(repo, p, force, relink)
    _need(repo, plan.needed)
    return _run(plan, bg)


def checkout(
    repo: Repo, targets: list[str] | None, force: bool, *, outputs: tracked.StageOutputs
) -> list[Checked]:
    """Restore every selected pointer and cached stage output (``outputs``);
    report failures together at the end.

    Every object needed by any of them is checked for before the first change:
    one missing object leaves the whole workspace as it was. A pointer file
    that does not parse, or a path whose changes are in no cache, is reported
    and the others are restored."""
    results: list[Checked] = []
    errors: list[TetherError] = []
    with repo.lock("tether checkout"):
        broken: list[tracked.Broken] = []
        plans: list[_Plan] = []
        selected = tracked.select(repo, targets, outputs, broken=broken)
        _remove_leftovers(repo, selected)
        errors += [b.error for b in broken]  # named first: they explain what follows
        try:
            for p in selected:
                try:
                    plans.append(_plan(repo, p, force, relink=False))
                except (ObjectError, WorkspaceError, MetadataError) as exc:
                    if isinstance(exc, MissingObjectError):
                        raise  # a tree object: the files it names are unknown
                    errors.append(exc)
            _need(repo, [pair for plan in plans for pair in plan.needed])
        except MissingObjectError as exc:
            raise _together([*errors, exc]) from None
        bg = _Background(repo)
        try:
            for plan in plans:
                try:
                    results.append(_run(plan, bg))
                except ObjectError as exc:  # an object vanished since it was checked for
                    errors.append(exc)
        except BaseException:
            bg.abandon()
            raise
        bg.join()
        for res in results:
            if res.failed:
                message = f"{_summary(res.failed)}: cache object is corrupt; not checked out"
                errors.append(CorruptObjectError(message))
    if errors:
        raise _together(errors)
    return results


def check(repo: Repo, pointers: list[Pointer], force: bool) -> None:
    """Raise what :func:`checkout` of ``pointers`` would refuse (content in no
    cache, a missing object); changes nothing. A command that writes other
    files first calls it, so that a refusal leaves no half."""
    errors: list[TetherError] = []
    needed: list[tuple[str, str]] = []
    for p in pointers:
        try:
            needed += _plan(repo, p, force, relink=False).needed
        except (ObjectError, WorkspaceError, MetadataError) as exc:
            errors.append(exc)
    try:
        _need(repo, needed)
    except MissingObjectError as exc:
        errors.append(exc)
    if errors:
        raise _together(errors)


def _together(errors: list[TetherError]) -> TetherError:
    """One error naming every failure, of the first one's kind and hint."""
    first = errors[0]
    return type(first)("; ".join(e.message for e in errors), first.hint)
