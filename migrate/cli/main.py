"""The `migrate` command. Exit codes are decided here and only here (see migrate.errors)."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer
from typer._click import Command
from typer._click import exceptions as click_errors

from migrate import __version__
from migrate.cli import helpfmt, output
from migrate.errors import MigrateError

app = typer.Typer(
    name="migrate",
    help="Move traditional applications out of VM disk images and into containers.",
    no_args_is_help=True,
    add_completion=True,
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


def _version(value: bool) -> None:
    if value:
        print(f"migrate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Results, warnings and errors only: no progress, "
                                        "notes or next: lines on stderr.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Details too: every unit left out, every "
                                          "scheduled job, every file written.")] = False,
    log_format: Annotated[output.LogFormat, typer.Option(
        "--log-format", help="stderr as text for people, or json: one JSON object per line for a log "
                             "collector (results stay on stdout).")] = output.LogFormat.text,
) -> None:
    """Move traditional applications out of VM disk images and into containers."""
    if quiet and verbose:
        raise click_errors.UsageError("-q/--quiet and -v/--verbose exclude each other")
    output.setup(quiet=quiet, verbose=verbose, log_format=log_format)


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


def command() -> Command:
    """The click command tree of ``migrate``, with readable metavars (migrate.cli.helpfmt)."""
    return helpfmt.tidy(typer.main.get_command(app))


def main(args: list[str] | None = None) -> None:
    output.ensure_handler()
    try:
        rc = command().main(args, prog_name="migrate", standalone_mode=False)
        if isinstance(rc, int) and not isinstance(rc, bool) and rc:
            # without standalone mode, typer turns Ctrl-C (and SIGTERM, which the long commands map
            # to KeyboardInterrupt so their cleanup runs) into a *returned* 130: exit with it
            if rc == 130:
                output.error("interrupted", exit_code=130)
            sys.exit(rc)
    except MigrateError as exc:
        output.error(str(exc), exit_code=exc.exit_code, error=type(exc).__name__, path=exc.path)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        output.error("aborted", exit_code=130)
        sys.exit(130)
    except KeyboardInterrupt:
        output.error("interrupted", exit_code=130)
        sys.exit(130)
    except SystemExit:
        raise
    except click_errors.NoArgsIsHelpError as exc:  # `migrate`, `migrate data`: the help, as a usage error
        exc.show()
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:  # the option parser: usage lines, then the error in plain words
        usage, message = helpfmt.usage_error_text(exc)
        if usage and not output.json_logs():
            print(usage + "\n", file=sys.stderr)
        output.error(message, exit_code=exc.exit_code, error="UsageError")
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        output.error(exc.format_message(), exit_code=exc.exit_code)
        sys.exit(exc.exit_code)
    except Exception as exc:  # anything unforeseen is a bug
        output.error(f"internal error: {type(exc).__name__}: {exc}", exit_code=1, error=type(exc).__name__)
        output.error("please report this with the command line that caused it")
        sys.exit(1)
