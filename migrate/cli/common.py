"""Shared bits of the CLI: consoles and output helpers."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True, indent=2) + "\n")


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending with "…" when something was cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def arg(value: str | Path) -> str:
    """A path or name as it has to be typed in a shell."""
    return shlex.quote(str(value))


def next_steps(steps: Iterable[str]) -> None:
    """The commands to run next, in order (stderr: they are advice, not the result)."""
    from migrate.cli import output

    for step in steps:
        output.info(f"next: {step}")
