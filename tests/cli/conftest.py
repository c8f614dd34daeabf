"""Helpers for the CLI tests: the real entry point in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_migrate(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd or ROOT)


@pytest.fixture
def migrate_in_process(capsys, monkeypatch):
    """The same entry point in this process (no interpreter start-up): (exit status, stdout, stderr)."""
    from migrate.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as done:
            main(list(args))
            raise SystemExit(0)
        out, err = capsys.readouterr()
        code = done.value.code
        return (code if isinstance(code, int) else 0 if code is None else 1), out, err

    return run
