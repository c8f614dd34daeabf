"""The CLI's contract with the README: exit codes exactly as its table says, the schema documents it
lists, and 1 only for bugs."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re

import migrate
from migrate.errors import EXIT_CODES, MigrateError
from tests.cli.conftest import ROOT, run_migrate

README = (ROOT / "README.md").read_text()
# exit statuses that are not error classes: success, a bug, the option parser, Ctrl-C / SIGTERM
NOT_CLASSES = {0: "success", 1: "internal error", 2: "usage error", 130: "interrupted"}


def readme_exit_codes() -> dict[int, str]:
    section = README.split("### Exit codes", 1)[1]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M)
    assert rows, "README has no exit-code table"
    return {int(code): meaning for code, meaning in rows}


def all_error_classes() -> set[type[MigrateError]]:
    for mod in pkgutil.walk_packages(migrate.__path__, "migrate."):
        if mod.name != "migrate.__main__":  # importing it runs the CLI
            importlib.import_module(mod.name)
    seen, stack = set(), [MigrateError]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen and sub.__module__.startswith("migrate"):
                seen.add(sub)
                stack.append(sub)
    return seen


def test_every_error_class_has_a_documented_code():
    documented = readme_exit_codes()
    missing = {f"{c.__module__}.{c.__name__}": c.exit_code for c in all_error_classes()
               if c.exit_code not in documented}
    assert not missing, f"exit codes missing from README's table: {missing}"
    bugs = sorted(c.__name__ for c in all_error_classes() if c.exit_code == 1)
    assert not bugs, f"error classes exiting 1, which README reserves for bugs: {bugs}"
    assert set(EXIT_CODES.values()) <= set(documented)
    assert 130 in documented, "README's table lacks 130 (interrupted: Ctrl-C or SIGTERM), which main() exits with"


def test_every_documented_code_is_used():
    used = {c.exit_code for c in all_error_classes()} | set(NOT_CLASSES)
    unused = {code: meaning for code, meaning in readme_exit_codes().items() if code not in used}
    assert not unused, f"README documents exit codes nothing raises: {unused}"


def test_unknown_sample_is_a_usage_error():
    proc = run_migrate("sample", "path", "nope")
    assert proc.returncode == 2, proc.stderr
    assert "unknown sample 'nope'" in proc.stderr and "flagship" in proc.stderr and "Traceback" not in proc.stderr


def test_schema_for_every_document_the_readme_names(migrate_in_process):
    line = re.search(r"^migrate schema ([\w|-]+)", README, re.M)
    assert line, "README's CLI reference lists `migrate schema ...`"
    for name in line.group(1).split("|"):
        code, out, err = migrate_in_process("schema", name)
        assert code == 0, (name, err)
        schema = json.loads(out)
        assert schema["type"] == "object" and "properties" in schema and "kind" in schema["properties"], name
    code, _, err = migrate_in_process("schema", "nope")
    assert code == 2
    for kind in ("inventory", "service-graph", "plan", "bench-results", "data-manifest", "verification-report"):
        assert kind in err
