"""The one wrapper around PyYAML: safe loading, deterministic dumping, atomic writes.

Every YAML file tether writes for git goes through :func:`dump`, so key order
is the caller's (stable) and the output is byte-identical for equal input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tether.errors import MetadataError, raise_if_disk_full

try:  # the C loader is ~10x faster; fall back where libyaml is missing
    _Loader: type[Any] = yaml.CSafeLoader
    _Dumper: type[Any] = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper


def loads(text: str, source: str) -> Any:
    """Parse YAML text; ``source`` names the file in the error message."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MetadataError(f"{source}: not valid YAML{where}: {problem}") from None


def load_file(path: Path, source: str | None = None) -> Any:
    name = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{name}: not UTF-8 text") from None
    return loads(text, name)


def dumps(data: Any) -> str:
    """Deterministic YAML: keys in the order given, block style, UTF-8."""
    out: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return out


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file so readers see the old or the new content, never a mix."""
    import tempfile  # lazily: it costs start-up time that read-only commands never need

    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise_if_disk_full(exc, path)
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_file(path: Path, data: Any) -> None:
    write_atomic(path, dumps(data))
