"""Help text and usage errors in plain words.

Typer shows each parameter's Python annotation in help (``<bool>``, ``<list[Path]>``) and passes
pydantic's wording through in errors ("Value error, 'svgg' is not one of 'json', ..."). Both are
fixed here once, on the finished click command tree, so every command (also those added later by
other modules) gets the same treatment without repeating ``metavar=`` on each option.
"""

from __future__ import annotations

import re
import types
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal, Union, get_args, get_origin

from typer._click import Command, Context
from typer._click import exceptions as click_errors
from typer.core import TyperArgument

_SCALARS = {str: "TEXT", int: "INTEGER", float: "NUMBER", bool: ""}


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X, ``list[X]`` -> X (a repeatable option takes one X each time)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin in (list, tuple, set):
        args = get_args(annotation)
        return _unwrap(args[0]) if args else annotation
    return annotation


def choices_of(annotation: Any) -> list[str] | None:
    annotation = _unwrap(annotation)
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(m.value) for m in annotation]
    return None


def metavar_for(param: Any) -> str:
    """A word a person reads: FILE-like names for paths, the choices for a fixed set, TEXT/INTEGER."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    choices = choices_of(annotation)
    if choices:
        return "|".join(choices)
    base = _unwrap(annotation)
    if isinstance(base, type) and issubclass(base, PurePath):
        kind = getattr(descriptor, "path_type", "path")
        return {"file": "FILE", "directory": "DIR"}.get(kind, "PATH")
    return _SCALARS.get(base, "VALUE")


def _no_type_column(ctx: Context) -> None:
    return None


def tidy(command: Command) -> Command:
    """Give every parameter of ``command`` and its subcommands a readable metavar (in place)."""
    ctx = Context(command, info_name=command.name)
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "arg").upper()
            param.display_type_rich = _no_type_column  # the name says it; the help says the rest
        elif param.metavar is None:
            param.metavar = metavar_for(param)
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)
    return command


def walk(command: Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Command]]:
    """Every command of the tree with its path of names (the root has the empty path)."""
    out = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        out.extend(walk(sub, (*path, name)))
    return out


_PYDANTIC_PREFIX = re.compile(r"^(Value error|Assertion failed)[,:]?\s*")
_SHOULD_BE = re.compile(r"^Input should be (?P<what>[^,]+)(,.*)?$", re.S)
_NOT_ONE_OF = re.compile(r"^(?P<value>.*?) is not one of (?P<choices>.*?)\.?$", re.S)


def plain_parameter_error(exc: click_errors.BadParameter) -> str:
    """``--format: 'svgg' is not one of png, svg, dot`` rather than typer's ``Invalid value for
    '--format' / '-f': Value error, 'svgg' is not one of 'png', 'svg', 'dot'.``"""
    param = exc.param
    if exc.param_hint is not None:
        hint = exc.param_hint if isinstance(exc.param_hint, str) else " / ".join(exc.param_hint)
    elif param is not None:
        opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or list(getattr(param, "opts", []))
        hint = opts[0] if opts and not isinstance(param, TyperArgument) else (param.metavar or param.name or "")
    else:
        hint = ""
    message = _PYDANTIC_PREFIX.sub("", str(exc.message).strip())
    should = _SHOULD_BE.match(message)
    if should:  # "Input should be a valid number, unable to parse string as a number"
        message = f"should be {should.group('what').strip()}"
    m = _NOT_ONE_OF.match(message)
    if m:
        choices = choices_of(getattr(getattr(param, "type_descriptor", None), "annotation", None))
        listed = ", ".join(choices) if choices else m.group("choices").replace("'", "")
        message = f"{m.group('value')} is not one of {listed}"
    hint = hint.strip("'")
    return f"{hint}: {message}" if hint else message


def usage_error_text(exc: click_errors.UsageError) -> tuple[str, str]:
    """(usage lines, the one-line error) for a click usage error."""
    usage = ""
    if exc.ctx is not None:
        usage = exc.ctx.get_usage()
        if exc.ctx.command.get_help_option(exc.ctx) is not None:
            usage += f"\nTry '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help."
    if isinstance(exc, click_errors.BadParameter) and not isinstance(exc, click_errors.MissingParameter):
        return usage, plain_parameter_error(exc)
    return usage, exc.format_message()
