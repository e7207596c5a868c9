"""An experiment's log: written to ``.tether/exps/logs/<name>.log`` while it
runs, then stored in the cache as an object named in its note, so it travels
with the experiment (``exp push``/``exp pull``) and ``exp logs`` reads it in
any clone."""

from __future__ import annotations

from pathlib import Path

from tether.errors import MissingObjectError, UsageError
from tether.experiments import record
from tether.repo import Repo


def path(repo: Repo, name: str) -> Path:
    """Where this clone writes the log of experiment ``name`` (a valid name)."""
    from tether.experiments.run import LOGS  # run stores logs through this module

    return repo.dir / LOGS / f"{name}.log"


def store(repo: Repo, log: Path) -> str:
    """Put the log into the cache; its digest."""
    with repo.odb.writer() as writer:
        return writer.put_file(str(log), log.stat().st_size)


def read_by_name(repo: Repo, name: str) -> bytes:
    """``exp logs NAME``: the log of the experiment so named."""
    for note in record.read_all(repo.root):
        if note.name == name:
            return read(repo, note)
    raise UsageError(f"no experiment named {name!r}", "see `tether exp show --all`")


def read(repo: Repo, note: record.Note) -> bytes:
    """The experiment's log: this clone's file when it has one, else the cache
    object its note names (pulled with it). The note's ``log`` path is never
    opened: it may come from another clone."""
    local = path(repo, note.name)
    if local.is_file():
        return local.read_bytes()
    if not note.log_digest:
        raise UsageError(
            f"experiment {note.name} has no log here",
            "it was run by an older tether on another machine: only that clone has it",
        )
    try:
        return repo.odb.read(note.log_digest, f"log of experiment {note.name}")
    except MissingObjectError:
        raise MissingObjectError(
            f"the log of experiment {note.name} is not in the cache",
            "fetch it with `tether exp pull GITREMOTE " + note.name + "`",
        ) from None
