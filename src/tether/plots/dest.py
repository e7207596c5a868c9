"""The one way plots write files: the page, PNG/SVG files and the ``.gitignore``
of a folder it creates all go through :meth:`Folder.write`, after
:meth:`Folder.prepare` has checked every name at once.

A folder inside the workspace (the default ``tether_plots/``, or ``-o``,
``--png`` or ``--svg`` naming one there) is chosen, in part, by a cloned
repository: a committed symlink can stand where the folder or a file is
expected, and git may track a file of that name. Each file's path goes
through :func:`tether.paths.confine` (no symlinked folder on the way, nothing
in ``.git/`` or ``.tether/``, nothing that resolves outside the workspace);
a file git tracks, or something other than a regular file where a file goes,
is refused before anything is written. A folder the user names outside the
workspace is the user's own choice and is written as given.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tether import atomicfile, gitscm, ownfiles, paths
from tether.errors import PathError, UsageError

GITIGNORE = ".gitignore"
GITIGNORE_TEXT = "# written by `tether plots`\n*\n"


class Folder:
    """``path`` (as the user gave it, or the default), where plots write."""

    def __init__(self, root: Path, path: Path, option: str) -> None:
        self.root = root
        self.path = path
        self.option = option
        self.rel = _in_workspace(root, path)  # None: outside it, the user's own
        self.names: list[str] = []
        self.created = False

    def _shown(self, name: str) -> str:
        return str(self.path / name)

    def prepare(self, names: list[str]) -> None:
        """Check that every file of ``names`` may be written, and make the folder
        (ignored by git when it is made here); nothing is written on a refusal."""
        full = Path(os.path.abspath(self.path))
        try:
            mode: int | None = os.lstat(full).st_mode
        except FileNotFoundError:
            mode = None
        except NotADirectoryError:
            raise UsageError(
                f"{self.option} {self.path}: goes through a file, not a folder",
                f"name a folder for {self.option} (it is created if missing)",
            ) from None
        if mode is not None and not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode):
            raise UsageError(
                f"{self.option} {self.path}: is {ownfiles.kind(mode)}, not a folder",
                f"name a folder for {self.option} (it is created if missing)",
            )
        new = mode is None
        names = [*names, GITIGNORE] if new else list(names)
        if self.rel is not None:
            for name in names:
                paths.confine(self.root, f"{self.rel}/{name}", self._shown(name))
            rels = [f"{self.rel}/{n}" for n in names]
            tracked = gitscm.tracked(self.root, rels)
            if tracked:
                raise PathError(
                    f"{tracked[0]} is tracked by git, which tether plots never overwrites",
                    f"write elsewhere ({self.option} FOLDER), or stop tracking it:"
                    f" `git rm --cached {tracked[0]}`",
                )
        elif mode is not None and stat.S_ISLNK(mode) and not full.is_dir():
            raise UsageError(f"{self.option} {self.path}: a symlink to no folder")
        for name in names:
            self._check_file(full / name, name)
        try:
            if self.rel is not None:
                ownfiles.real_dir(self.root / self.rel, self.root)
            else:
                full.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError):
            raise UsageError(
                f"{self.option} {self.path}: goes through a file, not a folder",
                f"name a folder for {self.option} (it is created if missing)",
            ) from None
        except OSError as exc:
            raise PathError(f"{self.option} {self.path}: cannot make it: {exc.strerror}") from None
        self.names = names
        self.created = new
        if new:
            self.write(GITIGNORE, GITIGNORE_TEXT)

    def _check_file(self, full: Path, name: str) -> None:
        try:
            mode = os.lstat(full).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        if not stat.S_ISREG(mode) and not (self.rel is None and stat.S_ISLNK(mode)):
            raise PathError(
                f"{self._shown(name)}: is {ownfiles.kind(mode)}, where tether plots writes a file",
                "remove it, or write elsewhere",
            )

    def write(self, name: str, data: bytes | str) -> Path:
        """Replace ``name`` (one :meth:`prepare` checked) with ``data``; the path
        as the user sees it."""
        if name not in self.names:
            raise ValueError(f"{name} was not prepared")  # pragma: no cover - a bug
        try:
            atomicfile.write(Path(os.path.abspath(self.path)) / name, data)
        except PermissionError as exc:
            raise PathError(f"{self.path / name}: cannot write it: {exc.strerror}") from None
        return self.path / name


def _in_workspace(root: Path, path: Path) -> str | None:
    """``path`` relative to the workspace, as given or once symlinks are
    followed; None when it is outside either way."""
    full = Path(os.path.normpath(Path.cwd() / path))
    for base, target in ((root.absolute(), full), (root.resolve(), full.resolve())):
        if target.is_relative_to(base):
            rel = target.relative_to(base).as_posix()
            if rel in ("", "."):
                raise PathError(
                    f"{path}: is the workspace root", "name a folder inside it for the plots"
                )
            return rel
    return None
