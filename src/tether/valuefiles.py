"""Params and metrics files: parse any supported format, look up dotted keys, flatten.

Formats by extension: ``.yaml``/``.yml``, ``.json``, ``.toml``, and
``.csv``/``.tsv`` (the last row, by header). Nested keys flatten to ``a.b.c``;
list items to ``a.0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether import untrusted
from tether.errors import MetadataError, PipelineError


def parse_data(name: str, data: bytes) -> Any:
    """Parse file content by its extension; errors name the file."""
    untrusted.check_size(len(data), name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{name}: not UTF-8 text", "") from None
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "json":
        return untrusted.json_loads(text, name)
    if suffix == "toml":
        return untrusted.toml_loads(text, name)
    if suffix in ("csv", "tsv"):
        return _last_row(name, text, "\t" if suffix == "tsv" else ",")
    from tether import yamlio

    try:
        return yamlio.loads(text, name)
    except MetadataError as exc:
        raise MetadataError(exc.message, "") from None


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _last_row(name: str, text: str, sep: str) -> dict[str, Any]:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise MetadataError(f"{name}: needs a header row and at least one data row", "")
    header, last = rows[0], rows[-1]
    if len(last) != len(header):
        raise MetadataError(
            f"{name}: the last row has {len(last)} fields, header has {len(header)}", ""
        )
    return {h: _number(v) for h, v in zip(header, last, strict=True)}


def read_params_file(root: Path, rel: str) -> dict[str, Any]:
    try:
        data = untrusted.read_in(root, rel)
    except FileNotFoundError:
        raise PipelineError(f"{rel}: params file not found", "create it or fix the name") from None
    return parse_mapping(rel, data)


def parse_mapping(name: str, data: bytes) -> dict[str, Any]:
    """A params or metrics file that must hold a mapping (or nothing)."""
    doc = parse_data(name, data)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise MetadataError(f"{name}: expected a mapping at the top level", "")
    return doc


def get_key(doc: Any, dotted: str) -> Any:
    """The value at ``a.b.c`` (a whole section when it is a mapping), or raise KeyError."""
    if isinstance(doc, dict) and dotted in doc:  # a key that itself has dots
        return doc[dotted]
    node = doc
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as ``{"a.b.c": value}``, in a stable order."""
    out: dict[str, Any] = {}
    if isinstance(doc, dict):
        for k in doc:
            out.update(flatten(doc[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(doc, list) and doc and any(isinstance(v, dict | list) for v in doc):
        for i, v in enumerate(doc):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    elif prefix:
        out[prefix] = doc
    return out
