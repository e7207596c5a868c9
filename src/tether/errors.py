"""Every error tether raises on purpose, with the exit code and hint the CLI shows.

Library code raises; only the CLI root (``tether.cli.app``) turns these into
``error: <message> — <hint>`` on stderr and an exit code. Nothing else exits.

    TetherError                   exit 1, the root of everything below
    ├── UsageError                exit 2, bad flags or arguments
    ├── NotARepoError             not inside a git repository / tether project
    ├── ConfigError               config file unreadable or a bad key/value
    ├── PathError                 a path outside the workspace, escaping, or unsupported
    ├── TrackingError             already tracked by git / by tether / not tracked
    ├── MetadataError             a pointer or tree file that does not parse or validate
    │   ├── LockFileError         tether.lock that does not parse or validate
    │   └── OldHashError          a record written with the older xxh3 hash (`tether migrate`)
    ├── ObjectError               a cache object that is missing or corrupt
    │   ├── MissingObjectError
    │   └── CorruptObjectError
    ├── WorkspaceError            checkout would lose data that is in no cache
    ├── LockError                 another tether process holds the repository lock
    ├── DiskFullError             no space left on a device
    ├── ConfirmationError         a destructive command needs -f without a terminal
    ├── GitError                  git failed or is missing
    ├── RemoteError               a remote refused or failed for good (bucket, credentials…)
    │   └── TransientRemoteError  a remote failed in a way worth retrying (network, 5xx)
    ├── TransferError             some objects could not be moved (each named)
    └── PipelineError             tether.yaml, the stage graph, or a stage's run
        ├── StageFailedError      a stage's command exited non-zero (exit code: its own)
        └── ExecutorError         the cluster that runs stages cannot be reached

Exit codes: 0 success, 1 any ``TetherError`` (and "differences found" for
``status --exit-code``), 2 usage, 3 an unexpected bug (with a log file),
130 interrupted by Ctrl-C.
"""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class TetherError(Exception):
    """A failure the user can act on: a message, an optional hint, an exit code."""

    exit_code = EXIT_ERROR
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # whole, with hint and any subclass fields: a worker process sends it back pickled
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[TetherError], message: str, state: dict[str, object]) -> TetherError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class UsageError(TetherError):
    exit_code = EXIT_USAGE
    default_hint = "see `tether --help`"


class NotARepoError(TetherError):
    default_hint = "run `git init && tether init` first, or pass -C DIR"


class ConfigError(TetherError):
    default_hint = "fix it with `tether config` or edit .tether/config.yaml"


class PathError(TetherError):
    pass


class TrackingError(TetherError):
    pass


class MetadataError(TetherError):
    default_hint = "restore the file from git (`git checkout -- FILE`) or re-run `tether add`"


class LockFileError(MetadataError):
    """tether.lock does not parse: it is rebuilt by running the stages, not by ``add``."""

    default_hint = (
        "restore it from git (`git checkout -- tether.lock`), or delete it and run `tether repro`"
    )


class OldHashError(MetadataError):
    """A pointer, tree or lock entry naming its data by the older XXH3 hash: it
    names only old objects (which gc never deletes), and `tether migrate` renames it."""

    default_hint = "run `tether migrate` to rehash the workspace"


class ObjectError(TetherError):
    pass


class MissingObjectError(ObjectError):
    default_hint = "fetch it from a remote with `tether pull`, or re-add the data"


class CorruptObjectError(ObjectError):
    default_hint = "run `tether fsck` to quarantine it, then `tether pull` or re-add the data"


class WorkspaceError(TetherError):
    default_hint = "`tether add` the path to keep the changes, or pass --force to discard them"


class LockError(TetherError):
    default_hint = "wait for it to finish, or stop it; the lock frees itself when it exits"


class DiskFullError(TetherError):
    default_hint = "free some space (`tether gc` drops unreferenced objects) and run it again"


class ConfirmationError(TetherError):
    default_hint = "pass -f/--force to go ahead without a prompt"


class GitError(TetherError):
    pass


def raise_if_disk_full(exc: OSError, path: object) -> None:
    """Turn ENOSPC/EDQUOT into a :class:`DiskFullError` naming ``path``."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFullError(f"no space left on the device while writing {path}") from exc


def raise_if_denied(exc: OSError, name: str, where: object = None) -> None:
    """Turn EACCES/EPERM/EROFS while writing ``name`` (in the folder ``where``,
    else at the path the error names) into a :class:`PathError`."""
    import errno

    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        place = where or exc.filename
        where = f" ({place})" if place else ""
        raise PathError(
            f"{name}: cannot write it: {exc.strerror}{where}",
            "make the folder writable (`chmod u+w`), then run it again",
        ) from None


class RemoteError(TetherError):
    default_hint = "check the remote with `tether remote list`"


class TransientRemoteError(RemoteError):
    default_hint = "check the network and the server, then run it again: only what is missing moves"


class TransferError(TetherError):
    default_hint = "run it again to retry what is missing"


class PipelineError(TetherError):
    default_hint = "fix tether.yaml (see `tether stage --help`)"


class StageFailedError(PipelineError):
    default_hint = "fix the stage and run `tether repro` again; completed stages are recorded"

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code if 0 < code < 256 else EXIT_ERROR


class ExecutorError(PipelineError):
    default_hint = "check the cluster, or run without --executor"


# What fetching objects from a remote fails with when the remote, its settings or
# what it sent is at fault (the objects being absent is MissingObjectError): a
# caller that can go on without the objects reports one of these, naming it.
FETCH_FAILURES: tuple[type[TetherError], ...] = (
    RemoteError,
    TransferError,
    ConfigError,
    CorruptObjectError,
    MetadataError,
)
