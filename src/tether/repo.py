"""A tether project: its root, config, cache, state database and lock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tether import atomicfile, gitignore, gitscm, ownfiles, tempfiles, yamlio
from tether import config as configmod
from tether.errors import NotARepoError, PathError
from tether.repolock import locked
from tether.storage.odb import ObjectDB
from tether.storage.state import StateDB

if TYPE_CHECKING:
    from tether.storage.links import Linker

DIRNAME = ".tether"
# everything but the project config stays out of git (cache, tmp, local config…)
_GITIGNORE = "/*\n!/config.yaml\n!/.gitignore\n"
# the only files under .tether/ that git may hold: everything else there is
# this machine's (lock, state, cache, local config), never a clone's
COMMITTED = (f"{DIRNAME}/{configmod.PROJECT}", f"{DIRNAME}/.gitignore")
CACHE_ENV = "TETHER_CACHE_DIR"


def _ignore_temporaries(root: Path) -> None:
    """Keep the temporaries of a checkout or add (even a killed one's) out of git's view."""
    lines = gitignore.read(root, gitignore.NAME) or []
    if tempfiles.GITIGNORE not in lines:
        gitignore.write(root, gitignore.NAME, [*lines, tempfiles.GITIGNORE])


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / DIRNAME
        self.tmp = self.dir / "tmp"

    @classmethod
    def find(cls, start: Path | None = None) -> Repo:
        root = gitscm.find_root(start or Path.cwd())
        if not (root / DIRNAME).is_dir():
            raise NotARepoError(
                f"{root}: not a tether project (no {DIRNAME}/ folder)", "run `tether init` first"
            )
        repo = cls(root)
        repo.check_private()
        _ = repo.config  # a broken config fails every command the same way, up front
        return repo

    def check_private(self) -> None:
        """Refuse a project whose ``.tether/`` holds files git tracks, other than
        the project config: a clone could plant a symlink as the lock, the state
        database, the cache or the local config, and tether would write through it."""
        if not ownfiles.check_dir(self.dir):
            raise NotARepoError(f"{self.root}: not a tether project (no {DIRNAME}/ folder)")
        for name in COMMITTED:  # committed, so a clone's: a link would be read through
            ownfiles.check_file(self.root / name)
        planted = sorted(set(gitscm.tracked(self.root, [DIRNAME])) - set(COMMITTED))
        if planted:
            more = f" (and {len(planted) - 1} more)" if len(planted) > 1 else ""
            raise PathError(
                f"git tracks {planted[0]}{more}: only {' and '.join(COMMITTED)} may be "
                "committed; the rest of .tether/ belongs to this machine",
                f"untrack and delete it: `git rm -r --cached {planted[0]}` and `rm -r "
                f"{planted[0]}` (a cloned repository may have planted it)",
            )

    @classmethod
    def init(cls, start: Path | None = None, force: bool = False) -> tuple[Repo, bool]:
        """Create ``.tether/`` at the git root; returns the repo and whether it was new."""
        root = gitscm.find_root(start or Path.cwd())
        repo = cls(root)
        created = not ownfiles.check_dir(repo.dir)
        repo.dir.mkdir(exist_ok=True)
        repo.check_private()
        if not (repo.dir / configmod.PROJECT).exists() or force:
            yamlio.dump_file(repo.dir / configmod.PROJECT, {"schema": 1})
        atomicfile.write(repo.dir / ".gitignore", _GITIGNORE)
        _ignore_temporaries(root)
        if repo.config.autostage:
            gitscm.stage(
                root, [f"{DIRNAME}/{configmod.PROJECT}", f"{DIRNAME}/.gitignore", ".gitignore"]
            )
        return repo, created

    @cached_property
    def config(self) -> configmod.Config:
        return configmod.load(self.dir)

    @cached_property
    def cache_dir(self) -> Path:
        """Where the cache is. Only this machine (``TETHER_CACHE_DIR``, the local
        config) may put it anywhere, or make it a link; a committed ``cache.dir``
        is a real folder inside ``.tether/``."""
        import os

        if os.environ.get(CACHE_ENV):
            return Path(os.environ[CACHE_ENV]).expanduser().resolve()
        configured = self.config.cache_dir
        if configured and "cache.dir" not in self.config.committed:
            path = Path(configured).expanduser()
            return path if path.is_absolute() else (self.dir / path).resolve()
        rel = Path(configured or "cache")
        for i in range(1, len(rel.parts) + 1):  # no link on the way out of .tether/
            ownfiles.check_dir(self.dir.joinpath(*rel.parts[:i]))
        return self.dir / rel

    @cached_property
    def odb(self) -> ObjectDB:
        return ObjectDB(self.cache_dir)

    @cached_property
    def state(self) -> StateDB:
        return StateDB(self.tmp / "state.db")

    @cached_property
    def linker(self) -> Linker:
        from tether.storage.links import Linker  # only commands that write files need it

        return Linker(self.odb, self.config.link, self.state)

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        with locked(self.tmp / "lock", command):
            try:
                yield
            finally:
                self.state.flush()

    def install_hooks(self, force: bool) -> list[str]:
        """Write tether's git hooks (``install-hooks``); returns their paths."""
        return gitscm.install_hooks(self.root, force)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
