"""The command line: ``tether`` (see :mod:`tether.cli.app`)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    from tether.cli.app import run

    run(argv)
