"""A plot data file as columns: CSV and TSV (a header row), JSON or YAML (a list
of records, a mapping of equal-length lists, or a mapping whose one value is a
list of records). Numbers in CSV/TSV cells are parsed strictly (see ``_FLOAT``); an empty
cell is None, as is a JSON null. A header that names a column twice is refused.
Errors name the file only: the caller adds the revision."""

from __future__ import annotations

import re
from typing import Any

from tether import untrusted, valuefiles
from tether.errors import MetadataError

IMAGES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "svg": "image/svg+xml"}
# A number in a CSV/TSV cell, strictly: decimal digits, an optional sign, point and
# exponent; "nan" and "inf"/"infinity" (any case, signed) too, which plots leave
# out. Anything else ("1_000", "0x10", " 5", "1e") stays text.
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I
)


class Table(dict[str, list[Any]]):
    """Column -> its values, every column as long as the others; ``lines``: the
    file line of each row (CSV, TSV), None for records (JSON, YAML)."""

    lines: list[int] | None = None

    def where(self, i: int) -> str:
        """Row ``i`` (from 0) as an error message names it."""
        return f"line {self.lines[i]}" if self.lines is not None else f"record {i + 1}"


def suffix(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""


def is_image(path: str) -> bool:
    return suffix(path) in IMAGES


def _cell(text: str) -> Any:
    """A cell as a number where it strictly is one (an int, else a float), None when empty."""
    if text == "":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _table(name: str, text: str, sep: str) -> Table:
    import csv
    import io

    reader = csv.reader(io.StringIO(text), delimiter=sep)
    lines: list[tuple[int, list[str]]] = []
    for r in reader:
        if r:
            lines.append((reader.line_num, r))
    if not lines:
        raise MetadataError(f"{name}: empty, no header row", "")
    (_, header), *body = lines
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise MetadataError(f"{name}: the header names {', '.join(map(repr, twice))} twice", "")
    for n, r in body:
        if len(r) != len(header):
            raise MetadataError(f"{name}: line {n} has {len(r)} fields, the header {len(header)}")
    found = Table({h: [_cell(r[i]) for _, r in body] for i, h in enumerate(header)})
    found.lines = [n for n, _ in body]
    return found


def _records(name: str, doc: Any) -> Table:
    if isinstance(doc, dict) and len(doc) == 1 and isinstance(next(iter(doc.values())), list):
        doc = next(iter(doc.values()))  # {"train": [{...}, ...]}
    if isinstance(doc, list) and all(isinstance(r, dict) for r in doc):
        keys = list(dict.fromkeys(str(k) for r in doc for k in r))
        return Table({k: [r.get(k) for r in doc] for k in keys})
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):
        lengths = {len(v) for v in doc.values()}
        if len(lengths) != 1:
            raise MetadataError(f"{name}: its lists have different lengths {sorted(lengths)}")
        return Table({str(k): v for k, v in doc.items()})
    raise MetadataError(
        f"{name}: expected a list of records or a mapping of equal-length lists", ""
    )


def table(name: str, data: bytes) -> Table:
    """The columns of a data file; MetadataError for one that is empty or unreadable."""
    untrusted.check_size(len(data), name)
    kind = suffix(name)
    if kind in ("csv", "tsv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MetadataError(f"{name}: not UTF-8 text", "") from None
        found = _table(name, text, "\t" if kind == "tsv" else ",")
    else:
        if not data.strip():
            raise MetadataError(f"{name}: empty", "")
        try:
            doc = valuefiles.parse_data(name, data)
        except MetadataError as exc:
            raise MetadataError(exc.message, "") from None
        found = _records(name, doc)
    if not any(found.values()):
        raise MetadataError(f"{name}: empty, no data rows", "")
    return found
