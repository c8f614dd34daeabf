"""-q, -v and --log-format json; the plan summary's left-out lines; next: lines in the project's order."""

from __future__ import annotations

import json

from migrate.cli.common import clip
from migrate.cli.plan import left_out_summary
from migrate.cli.steps import after
from migrate.model.plan import Plan
from tests.cli.conftest import ROOT, run_migrate

INVENTORY = ROOT / "tests/data/inventories/flagship-debian12.json"
PLAN_GOLDEN = ROOT / "tests/plan/golden/flagship-debian12.plan.yaml"


def test_clip_marks_what_it_cut():
    assert clip("/sbin/e2scrub_all -A -r", 14) == "/sbin/e2scrub…"
    assert len(clip("x" * 100, 14)) == 14
    assert clip("short", 14) == "short"


def test_left_out_is_summarised_by_reason():
    import yaml

    plan = Plan.model_validate(yaml.safe_load(PLAN_GOLDEN.read_text()))
    lines = left_out_summary(plan)
    assert len(plan.dropped) > 80 and len(lines) < 15
    # every unit is counted once, the biggest groups first, single network servers by name
    counted = sum(int(x.split(" units:")[0]) if " units:" in x else len(x.split(":")[0].split(", ")) for x in lines)
    assert counted == len(plan.dropped)
    assert lines[0].startswith("48 units: part of systemd itself")
    assert any(x.startswith("ssh: remote shell access") for x in lines)


def test_plan_summary_and_next_line(tmp_path):
    out = tmp_path / "plan.yaml"
    normal = run_migrate("plan", str(INVENTORY), "-o", str(out))  # once through the real entry point
    assert normal.returncode == 0, normal.stderr
    assert "left out 91 services of the VM" in normal.stdout
    assert normal.stdout.count("left out") == 1 and "  48 units: part of systemd itself" in normal.stdout
    assert "14 more scheduled job(s) of the VM stay on a host" in normal.stdout
    assert f"plan written to {out}" in normal.stderr
    assert f"next: review and edit {out}, then: migrate generate {out} --image IMAGE... -o OUTDIR" in normal.stderr


def test_plan_verbose_quiet_json_in_process(tmp_path, migrate_in_process):
    out = tmp_path / "plan.yaml"
    code, normal, _ = migrate_in_process("plan", str(INVENTORY), "-o", str(out))
    assert code == 0
    code, verbose, _ = migrate_in_process("-v", "plan", str(INVENTORY), "-o", str(out))
    assert code == 0
    assert verbose.count("left out ") == 91 and "left out ssh: remote shell access" in verbose
    assert verbose.count("job ") >= 16 and "stays on a host" in verbose

    code, quiet, quiet_err = migrate_in_process("-q", "plan", str(INVENTORY), "-o", str(out))
    assert code == 0 and quiet_err == ""
    assert quiet == normal  # the result is the same; only the talk about it goes

    code, _, logs = migrate_in_process("--log-format", "json", "plan", str(INVENTORY), "-o", str(out))
    assert code == 0
    records = [json.loads(line) for line in logs.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert f"plan written to {out}" in messages and any(m.startswith("next: ") for m in messages)


def test_generate_verbose_lists_each_file(tmp_path, migrate_in_process):
    code, out, err = migrate_in_process("-v", "generate", str(INVENTORY), "-o", str(tmp_path / "s"),
                                        "--allow-missing-files")
    assert code == 0, err
    written = [line.removeprefix("written: ") for line in err.splitlines() if line.startswith("written: ")]
    assert "compose.yaml" in written and "shop/Dockerfile" in written
    assert f"{len(written)} files written to" in out
    assert "warning: to provide shop: /opt/shop (no guest to read it from)" in err


def test_errors_in_json_logs_and_under_quiet(tmp_path, migrate_in_process):
    code, _, err = migrate_in_process("--log-format", "json", "generate", str(tmp_path / "nope.yaml"), "-o",
                                      str(tmp_path / "o"))
    assert code == 20
    (record,) = [json.loads(line) for line in err.splitlines()]
    assert record["level"] == "error" and record["exit_code"] == 20 and record["error"] == "InvalidDocument"
    assert "nope.yaml" in record["message"]
    code, _, err = migrate_in_process("-q", "schema", "nope")
    assert code == 2 and "error: unknown document 'nope'" in err
    code, _, err = migrate_in_process("-q", "-v", "schema", "inventory")
    assert code == 2 and "exclude each other" in err


def test_next_steps_follow_the_project_order(tmp_path):
    import yaml

    plan = Plan.model_validate(yaml.safe_load(PLAN_GOLDEN.read_text()))
    steps = after("generate", outdir=tmp_path / "stack", plan=plan, images=["vm.qcow2"])
    commands = [s.split()[1] if s.startswith("migrate ") else s for s in steps]
    assert steps[0].startswith("put each secret's value in")
    assert [s.split()[:3] for s in steps[1:]] == [["migrate", "build", str(tmp_path / "stack")],
                                                  ["migrate", "data", "export"], ["migrate", "data", "import"],
                                                  ["migrate", "up", str(tmp_path / "stack")],
                                                  ["migrate", "verify", str(tmp_path / "stack")]]
    assert f"--project {plan.name}" in steps[3] and "vm.qcow2" in steps[2]
    assert not any("docker compose" in s or "guestmount" in s for s in commands)
    assert after("up", outdir=tmp_path, plan=plan, secrets_file=tmp_path / "s.env") == [
        f"migrate verify {tmp_path} --secrets-file {tmp_path / 's.env'}"]
    assert after("data-import", outdir=tmp_path, plan=plan, project="shop-test") == [
        f"migrate up {tmp_path} --project shop-test", f"migrate verify {tmp_path} --project shop-test"]
    no_data = plan.model_copy(update={"volumes": []})
    assert [s.split()[1] for s in after("build", plan=no_data, outdir=tmp_path)] == ["up", "verify"]
