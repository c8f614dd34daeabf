"""Windows guests in the human output of `migrate inspect` and `migrate plan` (issue 11 follow-up).

On the windows sample (an NTFS disk with real hives, built once by libguestfs and cached): the summary
shows the installed programs (count and names), each IIS site with its bindings and folder and each
SQL Server instance, as the sample's build recorded them (its facts file, not strings copied here);
the `next:` hints never send a Windows guest to `convert` or `generate` (its plan is all blocked) but
say why. Without an image: a Linux guest keeps its convert/generate hints, and hostile names in a
guest (rich markup, terminal escapes) are printed as text.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from migrate.cli.steps import KEYS_HINT, after_inspect, after_plan
from migrate.model.base import Evidence
from migrate.model.inventory import IISBinding, IISSite, Inventory, SQLServerInstance, WindowsProgram
from migrate.model.plan import Plan
from migrate.samples import SampleImages, build_sample

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "tests/data/inventories/flagship-debian12.json"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def windows_images() -> SampleImages:
    return build_sample("windows")


@pytest.mark.image
def test_inspect_summary_shows_programs_iis_and_sql(windows_images: SampleImages, tmp_path: Path) -> None:
    facts = windows_images.facts
    qcow2 = str(windows_images["qcow2"])
    proc = run("inspect", qcow2, "-o", str(tmp_path / "inv.json"))
    assert proc.returncode == 0, proc.stderr
    inv = Inventory.load(tmp_path / "inv.json")
    lines = proc.stdout.splitlines()
    # programs: the count the registry has, and every name (the sample has fewer than the 5 shown)
    [programs] = [x for x in lines if "installed program(s):" in x]
    assert programs.startswith(f"{len(facts['programs'])} installed program(s): ")
    for p in inv.windows_programs:
        assert (p.display_name or p.name) in programs
    assert "(32-bit)" in programs  # the Wow6432Node one says so
    # IIS: each site's row carries its first binding, every binding is shown, and its folder
    assert any("IIS sites" in x for x in lines)
    for site, bindings in facts["iis_sites"].items():
        row = next(x for x in lines if f" {site} " in x and bindings[0] in x)
        assert str(next(s for s in inv.iis_sites if s.name == site).guest_path) in row
        for b in bindings:
            assert any(b in x for x in lines), b
    # SQL Server: instance, id, version and port on one row
    for name, sql in facts["sqlserver"].items():
        assert any(name in x and sql["instance_id"] in x and sql["version"] in x and str(sql["port"]) in x
                   for x in lines), name
    for svc, start in facts["services"].items():
        if any(svc in x for x in lines):
            assert any(svc in x and f"start {start}" in x for x in lines), svc
    assert any("Windows containers are out of scope" in x for x in lines if "Services" in x)
    # next: not convert, and why
    assert "migrate convert" not in proc.stderr and "migrate generate" not in proc.stderr
    assert "nothing to convert:" in proc.stderr and "out of scope for Linux stacks" in proc.stderr
    assert f"next: migrate plan {qcow2} -o plan.yaml" in proc.stderr


@pytest.mark.image
def test_verbose_lists_every_program_with_its_publisher(windows_images: SampleImages) -> None:
    proc = run("-v", "inspect", str(windows_images["qcow2"]))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout[proc.stdout.index("Installed programs ("):]
    from migrate.inspect import inspect_images

    inv = inspect_images([windows_images["qcow2"]], "native")
    for p in inv.windows_programs:
        assert any((p.display_name or p.name) in x and (p.publisher or "") in x for x in table.splitlines())


@pytest.mark.image
def test_plan_of_a_windows_guest_says_why_there_is_nothing_to_generate(windows_images: SampleImages,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    proc = run("plan", str(windows_images["qcow2"]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    plan = Plan.load(out)
    assert not plan.containers
    n = sum(1 for b in plan.fitness.blockers if b.kind == "os-family")
    assert n >= 2
    assert f"nothing to generate from {out}: its {n} service(s) are all blocked" in proc.stderr
    assert "migrate generate" not in proc.stderr and "migrate convert" not in proc.stderr
    assert "next:" not in proc.stderr


# -- no image ---------------------------------------------------------------------------------------

def test_linux_guest_keeps_its_convert_and_generate_hints(tmp_path: Path) -> None:
    from migrate.plan import make_plan

    inv = Inventory.load(FLAGSHIP)
    why, steps = after_inspect(inv, ["vm.qcow2"])
    assert why is None and steps[0].startswith("migrate convert vm.qcow2 -o OUTDIR")
    why, steps = after_inspect(inv, ["vm.qcow2"], keyed=True)
    assert steps[0].startswith(f"migrate convert vm.qcow2 -o OUTDIR{KEYS_HINT}")
    plan = make_plan(inv)
    why, steps = after_plan(plan, tmp_path / "plan.yaml", ["vm.qcow2"])
    assert why is None and f"migrate generate {tmp_path}/plan.yaml --image vm.qcow2 -o OUTDIR" in steps[0]
    # the same inventory as a Windows guest: no convert, the reason instead (from the out-of-scope table)
    win = inv.model_copy(update={"os": inv.os.model_copy(update={"family": "windows"})})
    why, steps = after_inspect(win, ["vm.qcow2"])
    assert why and "Windows containers are out of scope" in why and not any("convert" in s for s in steps)


HOSTILE = "[link=https://evil.example]click[/link]\x1b]0;pwned\x07\x1b[2J[bold]"


def test_hostile_windows_names_print_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names from the registry and applicationHost.config are the guest's: no rich markup, no escapes."""
    from migrate.cli import inspect as cli_inspect

    screen = Console(file=io.StringIO(), width=2000, force_terminal=True)  # a terminal: escapes would go through
    monkeypatch.setattr(cli_inspect, "console", screen)
    inv = Inventory.load(FLAGSHIP)
    ev = Evidence(analyzer="t", path="/Windows/System32/config/SOFTWARE")
    inv = inv.model_copy(update={
        "name": HOSTILE,
        "windows_programs": [WindowsProgram(name=f"p{i}", display_name=f"{HOSTILE}{i}", version="1", evidence=ev)
                             for i in range(7)],
        "iis_sites": [IISSite(name=HOSTILE, id=1, physical_path="C:\\x\\", evidence=ev,
                              bindings=[IISBinding(protocol="http", port=80, host=HOSTILE, information="*:80:x")])],
        "sqlserver_instances": [SQLServerInstance(name=HOSTILE, instance_id="MSSQL15.X", evidence=ev)],
    })
    cli_inspect._summary(inv)
    text = screen.file.getvalue()  # type: ignore[attr-defined]
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # rich's own colours; nothing else may be an escape
    assert "\x1b" not in text and "\x07" not in text
    assert "[link=https://evil.example]click[/link]\\x1b]0;pwned\\x07" in text
    assert "7 installed program(s):" in text and "and 2 more (all: -v)" in text
    assert "C:\\x\\" in text and "C:\\x\\\\" not in text  # a trailing backslash is shown once
