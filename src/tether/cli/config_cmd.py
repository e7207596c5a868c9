"""``tether config``: get, set, unset or list options."""

from __future__ import annotations

from typing import Annotated

import typer

from tether import render


def config(
    key: Annotated[
        str | None, typer.Argument(help="core.autostage, cache.link, remotes.N.url …")
    ] = None,
    value: Annotated[str | None, typer.Argument(help="New value (omit to print).")] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Use .tether/config.local.yaml (not committed).")
    ] = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the key.")] = False,
    list_: Annotated[bool, typer.Option("--list", "-l", help="List every option set.")] = False,
) -> None:
    """Read or change configuration, like `git config`."""
    from tether import config as core
    from tether.repo import Repo

    repo = Repo.find()
    if list_ or key is None:
        for k, v in core.flatten(repo.dir).items():
            render.out(f"{k}={core.masked(k, render.config_value(v))}")
        return
    if unset:
        core.set_option(repo.dir, key, None, local)
    elif value is None:
        render.out(render.config_value(core.get_value(repo.dir, key)))
    else:
        core.set_option(repo.dir, key, value, local)


def register(app: typer.Typer) -> None:
    app.command("config")(config)
