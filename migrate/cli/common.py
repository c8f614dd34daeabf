"""Shared bits of the CLI: consoles and output helpers."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True, indent=2) + "\n")
