"""The `migrate` command. Exit codes are decided here and only here (see migrate.errors)."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from migrate import __version__
from migrate.errors import MigrateError

app = typer.Typer(
    name="migrate",
    help="Move traditional applications out of VM disk images and into containers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command, each with register(app). Listed explicitly so the CLI is greppable.
COMMAND_MODULES = (
    "inspect",
    "schema",
    "sample",
    "graph",
    "plan",
    "generate",
    "convert",
    "base_image",
    "build",
    "data",
    "up",
    "verify",
    "bench",
    "capacity",
    "fleet",
    "sbom",
    "push",
)

err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"migrate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Move traditional applications out of VM disk images and into containers."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"migrate.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"migrate.cli.{name}":
                continue  # command not built yet
            raise
        module.register(app)


_register_commands()


def main() -> None:
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and not isinstance(rc, bool) and rc:
            # without standalone mode, typer turns Ctrl-C (and SIGTERM, which the long commands map
            # to KeyboardInterrupt so their cleanup runs) into a *returned* 130: exit with it
            if rc == 130:
                err_console.print("interrupted")
            sys.exit(rc)
    except MigrateError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and anything unforeseen
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # a usage error from the option parser: it prints its own message
            sys.exit(exc.exit_code)
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False)
        err_console.print("please report this with the command line that caused it")
        sys.exit(1)
