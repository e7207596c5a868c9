"""Find the pointer files of the workspace and keep .gitignore in step with them."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from tether import gitscm, pointer, yamlio
from tether.errors import MetadataError, TetherError, TrackingError
from tether.pointer import Pointer
from tether.repo import Repo


def all_pointers(repo: Repo) -> list[Pointer]:
    return [pointer.load(repo.root, src) for src in gitscm.list_pointer_files(repo.root)]


LOCK = "tether.lock"  # pipeline.lock.FILE, named here to keep history reads import-light


def _lock_pointers(text: str, cached: set[str] | None) -> list[Pointer]:
    """Stage outputs recorded in a tether.lock, as pointers (source ``tether.lock``)."""
    from tether.pipeline import lock

    out = []
    for entry in lock.parse(text).values():
        for a in entry.outs:
            if cached is None or a.path in cached:
                kind: Literal["file", "dir"] = "dir" if a.kind == "dir" else "file"
                out.append(Pointer(a.path, kind, a.digest, a.size, a.files, lock.FILE))
    return out


def output_pointers(repo: Repo) -> list[Pointer]:
    """The workspace's cached stage outputs (tether.yaml ``outs``, as tether.lock
    records them): checked out, pushed and pulled like tracked data."""
    from tether.pipeline import lock, spec

    lock_file = repo.root / lock.FILE
    if not lock_file.is_file():
        return []
    pipeline = spec.load(repo.root)
    if pipeline is None:
        return []
    cached = {o.path for s in pipeline.stages.values() for o in s.outs if o.cache}
    return _lock_pointers(lock_file.read_text(encoding="utf-8"), cached)


def referenced(
    repo: Repo,
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
    found = all_pointers(repo) + output_pointers(repo)
    if workspace_only:
        return found
    revs = set(gitscm.ref_heads(repo.root).values()) | set(extra_revs)
    if all_commits:
        revs.update(gitscm.all_commits(repo.root))
    seen = {(p.source, p.digest) for p in found}
    for rev in sorted(revs):  # one `git cat-file --batch` per commit
        sources = gitscm.list_at(repo.root, rev, pointer.SUFFIX)
        files = gitscm.read_at(repo.root, rev, [*sources, LOCK])
        lock_text = files.pop(LOCK)
        for src, data in files.items():
            if data is None or src.startswith(".tether/"):
                continue
            try:  # the path as text: this workspace's symlinks say nothing of that commit
                p = pointer.parse(None, src, data.decode("utf-8"))
            except (TetherError, UnicodeDecodeError) as exc:
                if strict:
                    raise _unreadable(src, rev, exc) from None
                continue  # a broken pointer in history references nothing we can name
            if (p.source, p.digest) not in seen:
                seen.add((p.source, p.digest))
                found.append(p)
        if lock_text is not None:
            try:
                found += _lock_pointers(lock_text.decode("utf-8"), None)
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


def select(repo: Repo, targets: list[str] | None, outputs: bool = False) -> list[Pointer]:
    """The pointers for ``targets`` (data paths or pointer files), or all of them;
    with ``outputs``, cached stage outputs too."""
    pointers = all_pointers(repo) + (output_pointers(repo) if outputs else [])
    if not targets:
        return pointers
    chosen: dict[str, Pointer] = {}
    for t in targets:
        hits = [
            p
            for p in pointers
            if t in (p.path, p.source)
            or p.path.startswith(t.rstrip("/") + "/")
            or t.startswith(p.path + "/")
        ]
        if not hits:
            raise TrackingError(f"{t}: not tracked by tether", "track it with `tether add`")
        chosen.update((p.path, p) for p in hits)
    return sorted(chosen.values(), key=lambda p: p.path)


def _pattern(name: str) -> str:
    escaped = "".join("\\" + c if c in "*?[]\\!# " else c for c in name)
    return "/" + escaped


def ignore(repo: Repo, path: str) -> str:
    """Add ``path`` to the .gitignore of its folder; returns that .gitignore."""
    folder, name = posixpath.split(path)
    gi = posixpath.join(folder, ".gitignore")
    full = repo.root / gi
    line = _pattern(name)
    lines = full.read_text(encoding="utf-8").splitlines() if full.exists() else []
    if line not in lines:
        yamlio.write_atomic(full, "\n".join([*lines, line]) + "\n")
    return gi


def unignore(repo: Repo, path: str) -> str | None:
    folder, name = posixpath.split(path)
    gi = posixpath.join(folder, ".gitignore")
    full: Path = repo.root / gi
    if not full.exists():
        return None
    lines = full.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln != _pattern(name)]
    if kept == lines:
        return None
    if kept:
        yamlio.write_atomic(full, "\n".join(kept) + "\n")
    else:
        full.unlink()
    return gi


def targets(repo: Repo, args: list[str] | None) -> list[str] | None:
    """Command-line paths (relative to the current folder) as workspace paths."""
    if not args:
        return None
    from tether.paths import from_user

    return [from_user(repo.root, a) for a in args]
