"""Confine every path to the workspace.

Paths come from two places: the user's command line (relative to the current
directory) and files in the repository (pointer files, trees, pipelines),
which a cloned repository controls and so are untrusted. Both go through
here and come out as POSIX paths relative to the workspace root, or fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from tether.errors import PathError

RESERVED = (".git", ".tether")
_DRIVE = re.compile(r"[A-Za-z]:/")
# Code points HFS+ ignores when it compares names, so ".g\u200cit" is ".git" there
# (the list git checks in is_hfs_dotgit).
_IGNORABLE = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)
# One component of a clean relative path that is plain ASCII, at most 255 bytes
# long, and cannot name ``.git`` on any filesystem: not ``.``/``..``; not
# ``.git`` followed by the end, a dot, a space or a colon (NTFS drops trailing
# dots and spaces, and ``:`` starts a stream name); not the NTFS short name
# ``git~…``. Anything else, non-ASCII names included, goes through
# :func:`tree_entry`, which decides.
_SEGMENT = (
    r"(?!\.\.?(?:/|\Z))(?!\.[gG][iI][tT](?:[. :/]|\Z))(?![gG][iI][tT]~)"
    r"[\x01-\x2e\x30-\x5b\x5d-\x7f]{1,255}(?![^/])"
)
# ASCII, so characters are bytes: at most NAME_MAX per name and PATH_MAX in all
CLEAN_ENTRY = re.compile(rf"(?=[\x00-\x7f]{{0,4096}}\Z){_SEGMENT}(?:/{_SEGMENT})*")


def _folded(name: str) -> str:
    """``name`` as a case-insensitive NTFS or HFS+ volume compares it."""
    return name.translate(_IGNORABLE).lower().split(":", 1)[0].rstrip(" .")


def is_git_name(name: str) -> bool:
    """Whether a file or folder called ``name`` would be ``.git`` on some
    filesystem (git refuses the same names in its own trees)."""
    if name[:1] not in ".gG" and name.isascii():  # folding keeps an ASCII name's first letter
        return False
    return _folded(name) in (".git", "git~1")


NAME_MAX = 255  # bytes in one file name: Linux, macOS and Windows filesystems alike
PATH_MAX = 4096  # bytes in a whole path, as Linux counts it


def _check_names(parts: tuple[str, ...] | list[str], shown: str) -> None:
    """Refuse names that are not valid Unicode, too long for a filesystem, or
    that stand for ``.git``."""
    total = 0
    for part in parts:
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise PathError(f"{shown}: the name {part!r} is not valid Unicode") from None
        if size > NAME_MAX:
            raise PathError(
                f"{shown}: a name of {size} bytes, more than the {NAME_MAX} a filesystem allows",
                "shorten the name",
            )
        total += size + 1
        if is_git_name(part):
            raise PathError(
                f"{shown}: the name {part!r} stands for .git, which tether never writes",
                "a .git folder inside tracked data would let it run commands through git",
            )
    if total > PATH_MAX:
        raise PathError(
            f"{shown}: a path of {total - 1} bytes, more than the {PATH_MAX} a filesystem allows",
            "shorten the path",
        )


def overlaps(a: str, b: str) -> bool:
    """Workspace paths ``a`` and ``b`` are one path, or one is inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _reserved(parts: tuple[str, ...]) -> str | None:
    """The reserved folder (``.git``, ``.tether``) that ``parts`` start in, if any."""
    return parts[0] if parts and _folded(parts[0]) in RESERVED else None


def confine(
    root: Path | None, rel: str, shown: str, write: bool = True, cache: Path | None = None
) -> str:
    """``rel`` (a normalised workspace-relative POSIX path), once it is safe to
    read and, with ``write``, to write: the one gate for every path a cloned
    repository names (pointers, tether.lock, tether.yaml and the files it names,
    params and metrics files, .gitignore files) and every path the user types.

    Refused: a name that stands for ``.git`` or is too long; a path in
    ``.git/`` or ``.tether/`` as written or once symlinks are resolved (any
    case); a path that resolves outside the workspace; and, with ``write``, a
    path whose existing parent folders include a symlink (tether writes nothing
    through a link it did not make; a link at the final name is replaced, never
    followed, so only its folder is resolved; what is read through it is judged
    where it is read). A path only read is resolved whole; it may also land in
    ``cache`` (the cache's objects, which a checkout by symlink links to).
    ``root`` None checks the text only (a path at another revision: this
    workspace's links say nothing of it)."""
    parts = PurePosixPath(rel).parts
    if _reserved(parts):
        raise PathError(f"{shown}: inside {parts[0]}/, which tether does not track")
    _check_names(parts, shown)
    if root is None:
        return rel
    real_root = root.resolve()
    try:
        real = (root / rel).parent.resolve() / parts[-1] if write else (root / rel).resolve()
        if cache is not None and real.is_relative_to(cache.resolve()):
            return rel
    except (RuntimeError, OSError):  # a loop of links (RuntimeError before Python 3.13)
        raise PathError(
            f"{shown}: a loop of symlinks", "remove the symlinks, or fix the path"
        ) from None
    if real != real_root and not real.is_relative_to(real_root):
        raise PathError(
            f"{shown}: resolves to {real}, outside the workspace {real_root}",
            "a symlink may point out of the repository; tether only tracks data inside it",
        )
    inside = _reserved(real.relative_to(real_root).parts)
    if inside:
        raise PathError(
            f"{shown}: resolves into {inside}/ through a symlink, which tether never touches",
            "remove the symlink, or fix the path",
        )
    if write:
        folder = root
        for part in parts[:-1]:
            folder = folder / part
            if folder.is_symlink():
                raise PathError(
                    f"{shown}: goes through the symlink {folder.relative_to(root).as_posix()},"
                    " and tether writes nothing through a link it did not make",
                    "replace the symlink with a real folder, or fix the path",
                )
            if not folder.exists():
                break
    return rel


def resolved(root: Path, rel: str) -> str | None:
    """Where the workspace path ``rel`` lands once symlinks are followed, relative
    to the workspace (``rel`` itself when no link is on the way); None when that
    is outside it (a link into a cache elsewhere) or a loop."""
    try:
        real = (root / rel).resolve()
    except (RuntimeError, OSError):
        return None
    real_root = root.resolve()
    return real.relative_to(real_root).as_posix() if real.is_relative_to(real_root) else None


def from_user(root: Path, arg: str, cwd: Path | None = None) -> str:
    """A command-line path, relative to ``cwd``, as a workspace-relative POSIX path."""
    base = Path(cwd or Path.cwd())
    full = Path(os.path.normpath(base / arg))
    real_root = root.resolve()
    absolute = Path(os.path.normpath(full.absolute()))
    try:
        rel = absolute.relative_to(root.absolute())
    except ValueError:
        try:
            rel = absolute.relative_to(real_root)
        except ValueError:
            raise PathError(
                f"{arg}: outside the workspace {real_root}",
                "tether tracks only paths inside the repository",
            ) from None
    posix = rel.as_posix()
    if posix in ("", "."):
        raise PathError(f"{arg}: is the workspace root", "name a file or folder inside it")
    return confine(root, posix, arg)


def from_metadata(
    root: Path | None, base: str, value: object, source: str, write: bool = True
) -> str:
    """A path read from a repository file at folder ``base`` (workspace-relative),
    through :func:`confine`; ``root`` None checks it as text only (a file read at
    another revision), ``write`` False for a path tether only reads."""
    if not isinstance(value, str) or not value:
        raise PathError(f"{source}: path must be a non-empty string, got {value!r}")
    if "\x00" in value or "\\" in value:
        raise PathError(f"{source}: path {value!r} has a NUL or backslash")
    if value.startswith("/") or _DRIVE.match(value):
        raise PathError(f"{source}: path {value!r} is absolute; paths must be relative")
    joined = os.path.normpath(PurePosixPath(base, value).as_posix())
    if joined == ".." or joined.startswith("../") or joined in ("", "."):
        raise PathError(f"{source}: path {value!r} escapes the workspace")
    return confine(root, joined, f"{source}: {value!r}", write)


def tree_entry(value: object, source: str) -> str:
    """A relative path inside a tracked directory, from a tree object."""
    if not isinstance(value, str) or not value:
        raise PathError(f"{source}: empty or non-string entry path {value!r}")
    if (
        "\x00" in value
        or "\\" in value
        or any(p in ("..", ".", "") for p in value.split("/"))  # also a leading "/"
    ):
        raise PathError(f"{source}: entry path {value!r} is not a clean relative path")
    _check_names(value.split("/"), f"{source}: entry path {value!r}")
    return value
