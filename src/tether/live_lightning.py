"""A PyTorch Lightning logger that writes through :class:`tether.live.Run`.

Needs ``lightning`` (the ``examples`` extra)::

    from tether.live_lightning import TetherLogger

    trainer = L.Trainer(logger=TetherLogger(dir="train"), log_every_n_steps=1)

``log_metrics`` appends rows to ``<dir>/steps.tsv`` at Lightning's global
step, ``log_hyperparams`` writes ``<dir>/params.json`` (values JSON cannot hold
as they are, such as classes or modules, as their ``str``), and ``finalize``
writes ``<dir>/summary.json``: the last value of every metric plus whatever
was given to ``logger.run.summary(...)``.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from tether import live

__all__ = ["TetherLogger"]


def _params(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {str(k): _params(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_params(v) for v in value]
    return str(value)


class TetherLogger(Logger):
    """Lightning's ``Logger`` over a :class:`tether.live.Run` in ``dir``.

    ``steps``, ``summary`` and ``step_column`` are passed to the Run. Only the
    process of rank 0 writes.
    """

    def __init__(
        self,
        dir: str | os.PathLike[str] = ".",
        *,
        steps: str = "steps.tsv",
        summary: str | None = "summary.json",
        step_column: str = "step",
    ) -> None:
        super().__init__()
        self._dir = os.fspath(dir)
        self._options: dict[str, Any] = {
            "steps": steps,
            "summary": summary,
            "step_column": step_column,
        }
        self._run: live.Run | None = None

    @property
    def run(self) -> live.Run:
        """The Run this logger writes to, opened on first use."""
        if self._run is None:
            self._run = live.Run(self._dir, **self._options)
        return self._run

    @property
    def name(self) -> str:
        return "tether"

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return self._dir

    @property
    def root_dir(self) -> str:
        return self._dir

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.run.log(metrics, step=step)

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        self.run.params(_params(params))

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.run.close()
