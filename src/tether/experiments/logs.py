"""An experiment's log: written to ``.tether/exps/logs/<name>.log`` while it
runs, then stored in the cache as an object named in its note, so it travels
with the experiment (``exp push``/``exp pull``) and ``exp logs`` reads it in
any clone."""

from __future__ import annotations

from pathlib import Path

from tether.errors import MissingObjectError
from tether.experiments import record
from tether.repo import Repo


def store(repo: Repo, log: Path) -> str:
    """Put the log into the cache; its digest."""
    with repo.odb.writer() as writer:
        return writer.put_file(str(log), log.stat().st_size)


def read(repo: Repo, note: record.Note, local: Path) -> bytes:
    """The experiment's log: this clone's file ``local`` when it has one, else
    the cache object its note names (pulled with it). The note's ``log`` path
    is never opened: it may come from another clone."""
    if local.is_file():
        return local.read_bytes()
    if not note.log_digest:
        raise MissingObjectError(
            f"experiment {note.name} has no log here",
            "its record names no stored log (an older tether ran it): "
            "only the clone that ran it has the log file",
        )
    try:
        return repo.odb.read(note.log_digest, f"log of experiment {note.name}")
    except MissingObjectError:
        raise MissingObjectError(
            f"the log of experiment {note.name} is not in the cache",
            "fetch it with `tether exp pull GITREMOTE " + note.name + "`",
        ) from None
