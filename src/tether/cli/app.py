"""The root of the command line: global flags, the command groups, and the
one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Annotated

import click
import typer

from tether import __version__, errors, progress, render

app = typer.Typer(
    name="tether",
    help="Version datasets and model weights next to your code.\n\n"
    "Data goes to a content-addressed cache; small pointer files (PATH.tether) go to git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_verbose = False


def _version(value: bool) -> None:
    if value:
        render.out(f"tether {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    directory: Annotated[
        str | None, typer.Option("-C", help="Run as if tether was started in DIR.", metavar="DIR")
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show tracebacks.")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only what was asked for.")
    ] = False,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    global _verbose  # noqa: PLW0603 - read by the error mapping below
    _verbose = verbose
    render.set_quiet(quiet)
    progress.enable(not quiet)
    if directory is not None:
        _chdir(directory)


def _chdir(directory: str) -> None:
    try:
        os.chdir(directory)
    except FileNotFoundError:
        raise errors.UsageError(
            f"-C {directory}: the folder does not exist", "check the path"
        ) from None
    except NotADirectoryError:
        raise errors.UsageError(f"-C {directory} is not a folder", "pass a folder") from None
    except OSError as exc:
        raise errors.UsageError(f"-C {directory}: {exc.strerror}", "") from None


# command -> the module that defines it: a run imports and builds only the one
# it needs (Typer resolves every registered command's signature at start-up)
_MODULES = {
    **dict.fromkeys(("init", "add", "status", "checkout", "remove"), "data"),
    **dict.fromkeys(("stage", "repro", "dag"), "pipeline"),
    **dict.fromkeys(("metrics", "params", "diff"), "metrics_cmd"),
    **dict.fromkeys(("remote", "push", "fetch", "pull", "install-hooks"), "remote"),
    **dict.fromkeys(("gc", "fsck", "migrate", "cache"), "maintenance"),
    "config": "config_cmd",
    "exp": "exp_cmd",
    "plots": "plots_cmd",
    "queue": "queue_cmd",
}
_ORDER = (
    *("data", "pipeline", "metrics_cmd", "remote", "maintenance", "config_cmd", "exp_cmd"),
    *("plots_cmd", "queue_cmd"),
)
_registered: set[str] = set()


def _command_of(argv: list[str]) -> str | None:
    args = iter(argv)
    for arg in args:
        if arg == "-C":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _register(argv: list[str] | None = None) -> None:
    import importlib

    wanted = _MODULES.get(_command_of(argv if argv is not None else sys.argv[1:]) or "")
    for name in (wanted,) if wanted else _ORDER:
        if name not in _registered:
            _registered.add(name)
            importlib.import_module(f"tether.cli.{name}").register(app)


def _bug_report(exc: BaseException) -> str:
    import tempfile

    from tether.config import masked_argv

    fd, path = tempfile.mkstemp(prefix="tether-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        argv = masked_argv(sys.argv)
        f.write(f"tether {__version__}, python {sys.version}\nargv: {argv}\n\n")
        import traceback

        f.write("".join(traceback.format_exception(exc)))
    return path


class _HelpFormatter(click.HelpFormatter):
    """Plain help text: Typer escapes ``[`` for Rich markup even when help is
    not drawn by Rich, which would show ``\\[required]``."""

    def write_dl(
        self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        super().write_dl([(k, v.replace("\\[", "[")) for k, v in rows], col_max, col_spacing)


class _Context(click.Context):
    formatter_class = _HelpFormatter


def _plain_help(command: click.Command) -> None:
    command.context_class = _Context
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def run(argv: list[str] | None = None) -> None:
    sys.exit(invoke(argv))


def _usage_line(exc: click.UsageError) -> str:
    """``<what is wrong> — see `tether … --help```: click's message on one line."""
    what = " ".join(exc.format_message().split()).rstrip(".")
    path = exc.ctx.command_path if exc.ctx is not None else "tether"
    return f"{what} — see `{path} --help`"


def _command_path(command: click.Command, argv: list[str]) -> str:
    """The command ``argv`` runs, as ``tether repro`` or ``tether stage add``."""
    path, args = ["tether"], iter(argv)
    for arg in args:
        if arg == "-C":
            next(args, None)
        elif not arg.startswith("-"):
            sub = (
                command.get_command(click.Context(command), arg)
                if isinstance(command, click.Group)
                else None
            )
            if sub is None:
                break
            path.append(arg)
            command = sub
    return " ".join(path)


def invoke(argv: list[str] | None = None, catch_bugs: bool = True) -> int:
    """Run one command line; return its exit code (the CLI's error mapping).

    Tests pass ``catch_bugs=False`` so a bug shows as a traceback, never as exit 3.
    """
    from click.exceptions import Abort, ClickException

    _register(argv)
    command = typer.main.get_command(app)
    _plain_help(command)
    try:
        rc = command.main(args=argv, prog_name="tether", standalone_mode=False)
        if rc == errors.EXIT_INTERRUPTED:  # Typer itself turns Ctrl-C into Exit(130)
            render.error("interrupted")
        return rc if isinstance(rc, int) else 0
    except errors.TetherError as exc:
        if _verbose:
            import traceback

            traceback.print_exc()
        if isinstance(exc, errors.UsageError) and exc.hint == errors.UsageError.default_hint:
            # a command's own check: its help, as for the usage errors click finds
            args = argv if argv is not None else sys.argv[1:]
            exc.hint = f"see `{_command_path(command, args)} --help`"
        render.error(str(exc))
        return exc.exit_code
    except click.UsageError as exc:  # a bad option, value or argument: one line, like ours
        render.error(_usage_line(exc))
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except Abort:
        print(file=sys.stderr)
        render.error("interrupted")
        return errors.EXIT_INTERRUPTED
    except KeyboardInterrupt:
        render.error("interrupted")
        return errors.EXIT_INTERRUPTED
    except BrokenPipeError:
        return errors.EXIT_ERROR
    except Exception as exc:
        if not catch_bugs:
            raise
        path = _bug_report(exc)
        if _verbose:
            import traceback

            traceback.print_exc()
        render.error(f"unexpected {type(exc).__name__}: {exc} — a bug; details in {path}")
        return errors.EXIT_BUG
