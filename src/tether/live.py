"""Log metrics from training code: step curves for plots, a summary for `metrics show`.

Standard library only, so it costs nothing to import inside a training script::

    from tether import live

    with live.Run(dir="train") as run:
        run.params({"lr": 0.001, "optimizer": "adamw"})
        for epoch in range(3):
            run.log({"loss": 0.5 / (epoch + 1), "acc": 0.7 + epoch / 10})
        run.summary({"best_acc": 0.9})

Files in ``dir``:

- ``steps.tsv``: a header row (``step`` then the metrics in the order they
  first appeared) and one row per step; a metric not logged at a step leaves
  its cell empty. Each new row is appended with one ``write`` as it is logged,
  so a run killed at any point keeps every step it logged. A new metric, or a
  second ``log`` at the step of the last row, rewrites the file through a
  temporary file and a rename. A name ending in ``.csv`` separates by commas.
- ``summary.json``: the last value of every logged metric, updated by
  ``summary()``; written through a temporary file and a rename at each
  ``summary()`` call and when the run closes (also on an exception). Declare it
  under a stage's ``metrics:``; ``steps.tsv`` under its ``plots:``.
- ``params.json``: what ``params()`` was given, only when it was called.

Values are ints or floats (numpy scalars and one-element tensors too); ``None`` means "no value" (an
empty cell, no summary key); NaN and infinities are kept in the steps file
(``nan``, ``inf``, ``-inf``) and written as ``null`` in the summary, which
JSON has no other way to hold. Booleans, strings and other objects are refused
with a :class:`LiveError`, as are metric names that are empty, hold a tab, a
newline or another control character, the separator or a double quote, or
that are the step column's name. Nothing is timestamped: the same run writes
the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LiveError", "Run"]


class LiveError(ValueError):
    """A metric name, value or step that cannot be logged."""


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _number(key: str, value: object) -> int | float | None:
    """``value`` as an int or float, None for no value; LiveError otherwise."""
    if value is None:
        return None
    item = getattr(value, "item", None)  # a one-element tensor or array
    if not isinstance(value, numbers.Real) and callable(item):
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            value = item()  # more than one element raises: refused below
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LiveError(
            f"metric {key!r}: {_short(value)} is not a number (ints and floats only;"
            " log a bool as 0 or 1)"
        )
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def _short(value: object) -> str:
    """``repr(value)`` when it is one short line, else its type (a big tensor spans lines)."""
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else f"a {type(value).__name__}"


def _cell(value: int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf, -inf, 0.1, 1e-05
    return str(value)


def _json_value(value: int | float) -> int | float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class Run:
    """One run's metrics in ``dir``; a context manager that writes the summary on exit.

    ``steps`` and ``summary`` name the files inside ``dir`` (``summary=None``:
    no summary file); ``step_column`` names the header of the step column
    (e.g. ``"epoch"`` for a per-epoch table). A new Run starts afresh: an
    empty steps file, an earlier run's summary and params files deleted.
    """

    def __init__(
        self,
        dir: str | os.PathLike[str] = ".",
        *,
        steps: str = "steps.tsv",
        summary: str | None = "summary.json",
        step_column: str = "step",
    ) -> None:
        self.dir = Path(dir)
        self.steps_path = self.dir / steps
        self.summary_path = self.dir / summary if summary is not None else None
        self.params_path = self.dir / "params.json"
        self._sep = "," if steps.lower().endswith(".csv") else "\t"
        self._step_column = step_column
        self._check_key(step_column, what="step column")
        self._columns: list[str] = []
        self._rows: list[tuple[int, dict[str, int | float | None]]] = []
        self._summary: dict[str, Any] = {}
        self._logged: dict[str, int | float] = {}
        self._params: dict[str, Any] = {}
        self._closed = False
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.summary_path, self.params_path):  # an earlier run's
            if stale is not None:
                stale.unlink(missing_ok=True)
        self._rewrite()

    # -- the public API ---------------------------------------------------

    @property
    def step(self) -> int | None:
        """The step of the last row, None before the first ``log``."""
        return self._rows[-1][0] if self._rows else None

    def log(self, metrics: Mapping[str, object], step: int | None = None) -> None:
        """Record ``metrics`` at ``step`` (default: one after the last row, 0 first).

        Steps never go back; a ``log`` at the last row's step adds to that row.
        """
        self._check_open()
        values = self._values(metrics)
        step = self._next_step(step)
        new_columns = [k for k in values if k not in self._columns]
        same_step = bool(self._rows) and self._rows[-1][0] == step
        if same_step:
            row = self._rows[-1][1]
            row.update({k: v for k, v in values.items() if v is not None or k not in row})
        else:
            self._rows.append((step, dict(values)))
        for k, v in values.items():
            if v is not None:
                self._logged[k] = v
        if new_columns or same_step:
            self._columns.extend(new_columns)
            self._rewrite()
        else:
            self._append(self._line(self._rows[-1]))

    def summary(self, metrics: Mapping[str, object]) -> None:
        """Add ``metrics`` to the summary (nested mappings allowed) and write it now."""
        self._check_open()
        self._summary.update(self._summary_values(metrics, ""))
        self._write_summary()

    def params(self, params: Mapping[str, object]) -> None:
        """Write ``params`` to ``params.json`` (merged with earlier calls).

        Values: strings, numbers, booleans, None, and lists or mappings of them.
        """
        self._check_open()
        if not isinstance(params, Mapping):
            raise LiveError(f"params() takes a mapping of names to values, not {params!r}")
        for key in params:
            self._check_key(key, what="param")
        self._params.update(_plain(dict(params), "params"))
        _atomic_write(self.params_path, json.dumps(self._params, indent=2) + "\n")

    def close(self) -> None:
        """Write the summary; later calls do nothing."""
        if self._closed:
            return
        self._write_summary()
        self._closed = True

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- checks -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LiveError(f"{self.dir}: the run is closed")

    def _check_key(self, key: object, *, what: str = "metric") -> None:
        if not isinstance(key, str) or not key or key != key.strip():
            raise LiveError(f"{what} name {key!r}: must be a non-empty string without edge spaces")
        bad = [c for c in key if ord(c) < 0x20 or c in ("\x7f", '"', self._sep)]
        if bad:
            raise LiveError(
                f"{what} name {key!r}: {bad[0]!r} not allowed (no tabs, newlines,"
                f" control characters, double quotes or {self._sep!r})"
            )

    def _values(self, metrics: Mapping[str, object]) -> dict[str, int | float | None]:
        if not isinstance(metrics, Mapping):
            raise LiveError(f"log() takes a mapping of metric names to numbers, not {metrics!r}")
        out: dict[str, int | float | None] = {}
        for key, value in metrics.items():
            self._check_key(key)
            if key == self._step_column:
                raise LiveError(f"metric name {key!r} is the step column: pass it as step=")
            out[key] = _number(key, value)
        return out

    def _summary_values(self, metrics: Mapping[str, object], prefix: str) -> dict[str, Any]:
        if not isinstance(metrics, Mapping):
            raise LiveError(f"summary() takes a mapping of names to numbers, not {metrics!r}")
        out: dict[str, Any] = {}
        for key, value in metrics.items():
            self._check_key(key)
            if isinstance(value, Mapping):
                out[key] = self._summary_values(value, f"{prefix}{key}.")
            else:
                out[key] = _number(prefix + key, value)
        return out

    def _next_step(self, step: object) -> int:
        last = self.step
        if step is None:
            return 0 if last is None else last + 1
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or int(step) < 0:
            raise LiveError(f"step {step!r}: must be an integer >= 0")
        if last is not None and int(step) < last:
            raise LiveError(f"step {step}: steps never go back (the last row is step {last})")
        return int(step)

    # -- files ------------------------------------------------------------

    def _line(self, row: tuple[int, dict[str, int | float | None]]) -> str:
        step, values = row
        cells = [str(step)] + [_cell(values.get(c)) for c in self._columns]
        return self._sep.join(cells) + "\n"

    def _rewrite(self) -> None:
        header = self._sep.join([self._step_column, *self._columns]) + "\n"
        _atomic_write(self.steps_path, header + "".join(self._line(r) for r in self._rows))

    def _append(self, line: str) -> None:
        fd = os.open(self.steps_path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line.encode("utf-8"))  # one write: a killed run never leaves half a row
        finally:
            os.close(fd)

    def _write_summary(self) -> None:
        if self.summary_path is None:
            return
        doc: dict[str, Any] = {k: _json_value(v) for k, v in self._logged.items()}
        for k, v in self._summary.items():
            if v is None:
                doc.pop(k, None)  # "no value" also drops the last logged one
            else:
                doc[k] = _finite(v) if isinstance(v, dict) else _json_value(v)
        _atomic_write(self.summary_path, json.dumps(doc, indent=2) + "\n")


def _finite(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out[k] = _finite(v)
        elif v is not None:
            out[k] = _json_value(v)
    return out


def _plain(value: object, where: str) -> Any:
    """``value`` if JSON holds it as it is; LiveError naming ``where`` otherwise."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _json_value(float(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}.{i}") for i, v in enumerate(value)]
    raise LiveError(f"{where}: {_short(value)} is not a string, number, boolean, list or mapping")
