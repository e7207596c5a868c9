"""Run a stage's commands: in its ``wdir``, output streaming live, with the
environment a user of the project expects.

- ``TETHER_STAGE``: the stage's name.
- ``DVC_ROOT``: the workspace root, as ``dvc repro`` sets it. DVCLive reads it
  as "a pipeline is running this script" and then does not save a DVC
  experiment on every run (it would otherwise commit experiment refs to git).
- The project's interpreter: tether started from a virtual environment inside
  the workspace that is not activated (``.venv/bin/tether repro``) puts its
  ``bin`` first on ``PATH`` and names it in ``VIRTUAL_ENV``, so ``python`` in a
  command is that environment's, as after ``source .venv/bin/activate``. A
  tool's own environment elsewhere (pipx, ``uv tool``) is left out: the
  commands keep the user's ``python``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tether.errors import PipelineError, StageFailedError
from tether.pipeline.spec import Stage


def stage_env(root: Path, stage: str, gpus: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment of ``stage``'s commands; ``gpus``: the devices it was given."""
    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    env["TETHER_STAGE"] = stage
    env["DVC_ROOT"] = str(root)
    prefix = Path(sys.prefix)
    if (
        sys.prefix != sys.base_prefix
        and not env.get("VIRTUAL_ENV")
        and prefix.resolve().is_relative_to(root.resolve())
    ):
        bin_dir = str(prefix / "bin")
        env["PATH"] = os.pathsep.join([bin_dir, *filter(None, [env.get("PATH")])])
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def check_exit(stage: Stage, cmd: str, returncode: int) -> None:
    """Raise :class:`StageFailedError` for a command that failed."""
    if returncode == 127:
        raise StageFailedError(f"stage {stage.name}: command not found: {cmd}", returncode)
    if returncode != 0:
        raise StageFailedError(
            f"stage {stage.name} failed (exit code {returncode}): {cmd}", returncode
        )


def execute(
    root: Path, stage: Stage, stdout_to_stderr: bool = False, gpus: tuple[str, ...] = ()
) -> None:
    """Run the commands in order; the first that fails stops the stage.
    ``stdout_to_stderr``: the commands' output goes to stderr (stdout holds JSON)."""
    cwd = root / stage.wdir
    env = stage_env(root, stage.name, gpus)
    for cmd in stage.cmd:
        sys.stdout.flush()
        try:
            proc = subprocess.run(  # noqa: S602 - a stage's command is a shell line
                cmd,
                shell=True,
                cwd=cwd,
                env=env,
                check=False,
                stdout=2 if stdout_to_stderr else None,  # the process's stderr
            )
        except OSError as exc:
            raise PipelineError(f"stage {stage.name}: cannot start {cmd!r}: {exc}") from None
        check_exit(stage, cmd, proc.returncode)
