"""plan -> edit -> generate from real images: `migrate generate plan.yaml --image IMG` takes the VM's
files from its disk images and honours the edits; without a guest, generate fails naming each file
(exit 47) unless --allow-missing-files.

On the flagship (qcow2, GPT + LVM) and a corpus guest (corpus-lamp, monolithicSparse VMDK). The stack
from the edited plan must hold exactly the files `migrate convert` takes from the same image, byte for
byte, with the edits in compose.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import run_migrate
from tests.images_fixtures import _sample

pytestmark = pytest.mark.image


def _tree(root: Path) -> dict[str, bytes]:
    """The files a build or a start uses (contexts, templates), not the documents that name the plan."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ("/rootfs/" in str(p) or str(p.relative_to(root)).startswith("secret-templates/"))}


def _edit(plan_file: Path, replicas_of: str, publish_port: int) -> None:
    """What a person does in an editor: more replicas for one service, publish one more port."""
    data = yaml.safe_load(plan_file.read_text())
    by_name = {c["name"]: c for c in data["containers"]}
    by_name[replicas_of]["deploy"]["replicas"] = 3
    for c in data["containers"]:
        for p in c["ports"]:
            if p["port"] == publish_port:
                assert not p["publish"]
                p["publish"] = True
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))


def _round_trip(tmp_path: Path, images: list[Path], replicas_of: str, publish_port: int, *,
                positional: bool = False) -> None:
    plan_file = tmp_path / "plan.yaml"
    proc = run_migrate("plan", *map(str, images), "-o", str(plan_file))
    assert proc.returncode == 0, proc.stderr
    assert "next: review and edit" in proc.stderr and "--image" in proc.stderr
    _edit(plan_file, replicas_of, publish_port)

    # no guest: refused, every file named, nothing written
    bare = tmp_path / "bare"
    proc = run_migrate("generate", str(plan_file), "-o", str(bare))
    assert proc.returncode == 47, proc.stderr
    plan = yaml.safe_load(plan_file.read_text())
    for c in plan["containers"]:
        for f in c["files"]:
            assert f"{c['name']}: {f['source']} (no guest to read it from)" in proc.stderr
    assert "--image" in proc.stderr and "--allow-missing-files" in proc.stderr
    assert not bare.exists() and "Traceback" not in proc.stderr
    proc = run_migrate("generate", str(plan_file), "-o", str(bare), "--allow-missing-files")
    assert proc.returncode == 0, proc.stderr
    assert "no guest to read it from" in (bare / "README.md").read_text()

    # with the images: the application's files are there, and the edits are honoured
    stack = tmp_path / "stack"
    image_args = [a for i in images for a in ("--image", str(i))]
    proc = run_migrate("generate", str(plan_file), *image_args, "-o", str(stack))
    assert proc.returncode == 0, proc.stderr
    assert "to provide" not in proc.stdout + proc.stderr
    compose = yaml.safe_load((stack / "compose.yaml").read_text())
    assert compose["services"][replicas_of]["deploy"]["replicas"] == 3
    published = {p["published"] for s in compose["services"].values() for p in s.get("ports", [])}
    assert publish_port in published
    assert yaml.safe_load((stack / "plan.yaml").read_text()) == yaml.safe_load(plan_file.read_text())
    readme = (stack / "README.md").read_text()
    assert "no guest to read it from" not in readme and "migrate build ." in readme
    steps = [line for line in proc.stderr.splitlines() if line.startswith("next: migrate")]
    assert [s.split()[2] for s in steps] == ["build", "data", "data", "up", "verify"]
    assert all(str(i) in steps[1] for i in images)

    converted = tmp_path / "converted"
    proc = run_migrate("convert", *map(str, images), "-o", str(converted))
    assert proc.returncode == 0, proc.stderr
    got, want = _tree(stack), _tree(converted)
    assert sorted(got) == sorted(want)
    assert got == want
    assert sum(1 for k in got if "/rootfs/" in k) >= 5

    if not positional:
        return
    # the images may also follow the plan on the command line
    again = tmp_path / "again"
    proc = run_migrate("generate", str(plan_file), *map(str, images), "-o", str(again))
    assert proc.returncode == 0, proc.stderr
    assert _tree(again) == got


def test_flagship_plan_edit_generate(tmp_path):
    flagship = _sample("flagship")
    image = flagship.files["qcow2"]
    _round_trip(tmp_path, [image], replicas_of="nginx", publish_port=5432, positional=True)
    stack = tmp_path / "stack"
    assert (stack / "shop/rootfs/opt/shop/app.py").is_file()

    # an edit naming a file the VM does not have: refused by name, the stack already there stays as it was
    before = {str(p.relative_to(stack)): p.read_bytes() for p in stack.rglob("*") if p.is_file()}
    plan_file = tmp_path / "plan.yaml"
    data = yaml.safe_load(plan_file.read_text())
    shop = next(c for c in data["containers"] if c["name"] == "shop")
    shop["files"].append({"reason": "added by hand", "source": "/etc/shop/added-by-hand.conf", "kind": "config"})
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_migrate("generate", str(plan_file), "--image", str(image), "-o", str(stack))
    assert proc.returncode == 47, proc.stderr
    assert "1 file(s) the plan needs could not be taken from the guest" in proc.stderr
    assert "shop: /etc/shop/added-by-hand.conf" in proc.stderr
    assert {str(p.relative_to(stack)): p.read_bytes() for p in stack.rglob("*") if p.is_file()} == before


def test_corpus_guest_plan_edit_generate(tmp_path):
    lamp = _sample("corpus-lamp")
    plan = tmp_path / "probe.yaml"
    proc = run_migrate("plan", str(lamp.files["vmdk"]), "-o", str(plan))
    assert proc.returncode == 0, proc.stderr
    containers = yaml.safe_load(plan.read_text())["containers"]
    web = next(c["name"] for c in containers if any(p["publish"] for p in c["ports"]))
    db_port = next(p["port"] for c in containers for p in c["ports"] if not p["publish"])
    _round_trip(tmp_path, [lamp.files["vmdk"]], replicas_of=web, publish_port=db_port)
