"""All output goes through here: plain lines, Rich tables, versioned JSON.

Results are value objects from the core; each table has a ``--json`` twin
whose top-level key names the format (``tether.status/v1``) so scripts can
rely on it; its keys are built by hand in ``tether.jsonout`` (docs/json.md).
Rich is imported only when a table is drawn.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tether import units

_quiet = False


def set_quiet(on: bool) -> None:
    global _quiet  # noqa: PLW0603 - one switch set by the CLI root
    _quiet = on


def info(message: str) -> None:
    if not _quiet:
        print(message)


def info_err(message: str) -> None:
    """``info`` on stderr: for progress lines while stdout holds JSON."""
    if not _quiet:
        print(message, file=sys.stderr)


def out(message: str) -> None:
    """Output the user asked for: printed even with -q."""
    print(message)


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def emit_json(kind: str, data: Any) -> None:
    """One document tagged with its format; ``data`` comes from a builder in
    ``tether.jsonout`` (plain dicts, lists and scalars), never a result object."""
    print(json.dumps({f"tether.{kind}/v1": data}, indent=2, sort_keys=True))


size = units.size  # one size format for every command


def config_value(value: Any) -> str:
    """A config value as `tether config` takes it back: lists comma-joined, booleans lower."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def status(results: list[Any]) -> None:
    dirty = [r for r in results if not r.clean]
    if not results:
        info("nothing tracked yet — `tether add PATH` to start")
        return
    if not dirty:
        info(f"up to date: {len(results)} tracked path(s) match their pointer files")
        return
    for r in dirty:
        note = f" ({r.note})" if r.note else ""
        out(f"{r.state}: {r.path}{note}")
        for c in r.changes:
            out(f"    {c.change}: {c.path}")


# -- metrics / params tables ----------------------------------------------------


def number(value: Any, precision: int) -> str:
    """A value for a table: numbers rounded to ``precision`` digits, missing as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{round(value, precision):.{precision}f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return str(value)


def signed(value: float | None, precision: int) -> str:
    if value is None:
        return "-"
    text = number(float(value), precision)
    return text if text.startswith("-") or text == "0" else "+" + text


def verdict(v: Any) -> str:
    """One `metrics check` line: the rule, and the value it was held to (with a
    baseline: both values and the change)."""
    mark = "ok  " if v.ok else "FAIL"
    where = f"{v.file}:{v.metric}" if v.file else v.metric
    if v.value is None:
        shown = f"{where}: {v.note}"
    elif v.old is not None and v.new is not None:
        old, new = number(v.old, 5), number(v.new, 5)
        shown = f"{where} {old} → {new}, change {signed(v.value, 5)}"
    else:
        shown = f"{where} = {number(v.value, 5)}"
    return f"{mark} {v.rule}   ({shown})"


def value_diff(rows: list[Any], sides: tuple[str, str], key: str, md: bool, precision: int) -> None:
    """Rows of ``metrics diff``/``params diff``/``exp diff``: path, key, the value on
    each side (headed by its name) and the change; changed rows highlighted."""
    cells = [
        [r.file, r.key, number(r.old, precision), number(r.new, precision),
         signed(r.change, precision)]
        for r in rows
    ]  # fmt: skip
    table(["Path", key, *sides, "Change"], cells, [r.changed for r in rows], md)


def table(headers: list[str], rows: list[list[str]], highlight: list[bool], md: bool) -> None:
    """Rows as Markdown (``md``), a Rich table on a terminal, or plain columns."""
    if md:
        out("| " + " | ".join(headers) + " |")
        out("|" + "|".join("---" for _ in headers) + "|")
        for r in rows:
            out("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(*headers, box=None, header_style="bold")
        for r, hot in zip(rows, highlight, strict=True):
            t.add_row(*r, style="yellow" if hot else None)
        Console().print(t)
        return
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    out("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in rows:
        out("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
