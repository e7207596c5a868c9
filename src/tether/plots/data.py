"""A plot data file as columns: CSV and TSV (a header row), JSON or YAML (a list
of records, a mapping of equal-length lists, or a mapping whose one value is a
list of records). Numbers in CSV/TSV cells are parsed; an empty cell is None.
Errors name the file only: the caller adds the revision."""

from __future__ import annotations

from typing import Any

from tether import untrusted, valuefiles
from tether.errors import MetadataError

Table = dict[str, list[Any]]  # column -> its values, every column as long as the others
IMAGES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "svg": "image/svg+xml"}


def suffix(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""


def is_image(path: str) -> bool:
    return suffix(path) in IMAGES


def _cell(text: str) -> Any:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _column(cells: tuple[str, ...]) -> list[Any]:
    """A column's cells as numbers where they are (ints, else floats), None when empty."""
    if "" not in cells:
        for kind in (int, float):  # the common case: a whole column of numbers at once
            try:
                return list(map(kind, cells))
            except ValueError:
                continue
    return [_cell(c) for c in cells]


def _table(name: str, text: str, sep: str) -> Table:
    import csv
    import io

    lines = [r for r in csv.reader(io.StringIO(text), delimiter=sep) if r]
    if not lines:
        raise MetadataError(f"{name}: empty, no header row", "")
    header, *body = lines
    for n, r in enumerate(body, 2):
        if len(r) != len(header):
            raise MetadataError(f"{name}: row {n} has {len(r)} fields, the header {len(header)}")
    if not body:
        return {h: [] for h in header}
    return {h: _column(cells) for h, cells in zip(header, zip(*body, strict=True), strict=True)}


def _records(name: str, doc: Any) -> Table:
    if isinstance(doc, dict) and len(doc) == 1 and isinstance(next(iter(doc.values())), list):
        doc = next(iter(doc.values()))  # {"train": [{...}, ...]}
    if isinstance(doc, list) and all(isinstance(r, dict) for r in doc):
        keys = list(dict.fromkeys(str(k) for r in doc for k in r))
        return {k: [r.get(k) for r in doc] for k in keys}
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):
        lengths = {len(v) for v in doc.values()}
        if len(lengths) != 1:
            raise MetadataError(f"{name}: its lists have different lengths {sorted(lengths)}")
        return {str(k): v for k, v in doc.items()}
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
