"""Help text reads like a person wrote it: every command and subcommand, found by walking the click
tree (so commands added later are covered too), shows no Python type names."""

from __future__ import annotations

import re

import pytest

from migrate.cli.helpfmt import walk
from migrate.cli.main import COMMAND_MODULES, command
from tests.cli.conftest import run_migrate

PYTHON_TYPES = re.compile(r"<\s*(bool|str|int|float|path|Path|list|dict|tuple|NoneType)\b|\b(list|dict|tuple)\[|"
                          r"\bNoneType\b|\bPosixPath\b|\bLiteral\[|Optional\[|\{[a-z_]+\}")


def _help_text(path: tuple[str, ...], capsys) -> str:
    cmd = command()
    with pytest.raises(SystemExit) as done:
        cmd.main([*path, "--help"], prog_name="migrate", standalone_mode=True)
    assert done.value.code == 0, path
    return capsys.readouterr().out


def test_every_command_help_has_no_python_types(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    paths = [p for p, _ in walk(command())]
    # every registered command module is in the tree (fleet, sbom, push once their helpers add them)
    top = {p[0] for p in paths if p}
    assert {"inspect", "plan", "generate", "convert", "graph", "build", "data", "up", "verify", "sample",
            "schema"} <= top
    assert len(paths) > len(COMMAND_MODULES) - 3
    bad = {}
    for path in paths:
        text = _help_text(path, capsys)
        assert "Usage: migrate" in text, path
        hits = sorted({m.group(0) for m in PYTHON_TYPES.finditer(text)})
        if hits:
            bad[" ".join(path) or "(root)"] = hits
    assert not bad, f"Python type names in help: {bad}"


def test_metavars_say_what_to_type(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = _help_text(("graph",), capsys)
    assert re.search(r"--format\s+-f\s+json\|dot\|mermaid\|png\|svg\|summary", text), text
    assert re.search(r"--output\s+-o\s+PATH", text)
    assert re.search(r"--json\s+Same as", text)  # a flag takes no value: no metavar at all
    assert "SOURCE" in text


def test_root_options_and_version():
    proc = run_migrate("--help")
    assert proc.returncode == 0
    for opt in ("--version", "--quiet", "-q", "--verbose", "-v", "--log-format", "text|json",
                "--install-completion", "--show-completion"):
        assert opt in proc.stdout, opt
    from migrate import __version__

    proc = run_migrate("--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"migrate {__version__}")


def test_shell_completion_script_and_answers():
    proc = run_migrate("--show-completion", "bash")
    assert proc.returncode == 0, proc.stderr
    assert "_migrate_completion" in proc.stdout and "complete " in proc.stdout
    # the script asks the program itself: the same protocol, answered for a partial command name
    proc = run_migrate(env={"_MIGRATE_COMPLETE": "complete_bash", "COMP_WORDS": "migrate gra", "COMP_CWORD": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["graph"]
    proc = run_migrate(env={"_MIGRATE_COMPLETE": "complete_bash", "COMP_WORDS": "migrate graph x.json --format s",
                            "COMP_CWORD": "4"})
    assert set(proc.stdout.split()) == {"svg", "summary"}


def test_enum_error_in_plain_words(migrate_in_process):
    code, _, err = migrate_in_process("graph", "tests/data/inventories/flagship-debian12.json", "--format", "svgg")
    assert code == 2
    assert "error: --format: 'svgg' is not one of json, dot, mermaid, png, svg, summary" in err
    assert "Value error" not in err and "Traceback" not in err
    code, _, err = migrate_in_process("--log-format", "xml", "schema", "inventory")
    assert code == 2
    assert "error: --log-format: 'xml' is not one of text, json" in err
    code, _, err = migrate_in_process("up", "/nonexistent", "--timeout", "soon")
    assert code == 2 and "error: --timeout: should be a valid number" in err


def test_group_without_command_shows_its_help():
    proc = run_migrate("data")
    assert proc.returncode == 2
    assert "Usage: migrate data" in proc.stdout + proc.stderr and "export" in proc.stdout + proc.stderr
    assert "error:" not in proc.stderr
