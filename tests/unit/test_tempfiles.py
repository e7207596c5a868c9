"""Temporaries: a sweep of leftovers never takes one this process is writing."""

from __future__ import annotations

import threading
from pathlib import Path

from tether import atomicfile, tempfiles


def test_a_sweep_leaves_a_temporary_being_written(tmp_path: Path) -> None:
    dest = str(tmp_path / "file.txt")
    live = tempfiles.claim(dest)
    Path(live).write_text("being written")
    old = tempfiles.beside(dest)
    Path(old).write_text("a killed writer's")
    tempfiles.remove_leftovers(str(tmp_path))
    assert Path(live).exists() and not Path(old).exists()
    tempfiles.release(live)
    tempfiles.remove_leftovers(str(tmp_path))
    assert not Path(live).exists()


def test_sweeps_while_other_threads_write_whole_files(tmp_path: Path) -> None:
    """``repro -j``: one thread checks out (sweeping the folder) while others
    write .gitignore and lock files there; every write must land."""
    stop = threading.Event()

    def sweep() -> None:
        while not stop.is_set():
            tempfiles.remove_leftovers(str(tmp_path))

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for n in range(200):
                atomicfile.write(tmp_path / f"f{i}.txt", f"{n}\n")
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    sweeper.join()
    assert errors == []
    assert [(tmp_path / f"f{i}.txt").read_text() for i in range(3)] == ["199\n"] * 3
