"""Set values in a YAML file and keep everything else as the user wrote it:
comments, key order, flow or block style, quoting and indentation
(``ruamel.yaml``'s round trip; PyYAML drops comments).

The file is read back by stages and by tether with YAML 1.1 readers (PyYAML),
so a value written here is written so that they read it as it was set: a
string they would take for another type (``yes``, ``1_000``, ``1e-3``) is
quoted, a float has a point (``1.0e-05``), null is ``null``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether import yamlio
from tether.errors import MetadataError


def _reads_as(text: str) -> Any:
    try:
        return yamlio.loads(text, "value")
    except MetadataError:
        return None


def _scalar(value: Any) -> Any:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str):
        plain = _reads_as(value)
        if not isinstance(plain, str) or plain != value:
            return DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, dict):
        return {k: _scalar(v) for k, v in value.items()}
    return value


def _float(representer: Any, value: float) -> Any:
    import yaml

    text = yaml.safe_dump(value).split("\n", 1)[0]  # PyYAML's form: 0.001, 1.0e-05, .inf
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _null(representer: Any, _value: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _mapping_indent(text: str) -> int:
    """How far the file indents a nested mapping's keys (the least indentation
    of a key line; 2 when nothing is nested)."""
    found = [
        len(line) - len(line.lstrip(" "))
        for line in text.splitlines()
        if line.startswith(" ") and line.strip() and not line.lstrip().startswith(("-", "#"))
    ]
    return min(found, default=2) or 2


def set_values(path: Path, values: list[tuple[str, Any]]) -> None:
    """Set each dotted key (which exists) of the YAML mapping in ``path`` to its value."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    text = path.read_text(encoding="utf-8")
    _, seq_indent, offset = load_yaml_guess_indent(text)  # from the first block sequence
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long line
    yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 2, offset=offset or 0)
    yaml.representer.add_representer(float, _float)
    yaml.representer.add_representer(type(None), _null)
    doc = yaml.load(text)
    for key, value in values:
        *parents, last = key.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = _scalar(value)
    out = io.StringIO()
    yaml.dump(doc, out)
    path.write_text(out.getvalue(), encoding="utf-8")
