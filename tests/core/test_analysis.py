"""The runner: order by requirements, isolation of failures, merging of services, secret redaction
in failure messages. Fake analyzers here test the runner's logic; the real analyzers run through
the same runner in tests/analyzers and on real images in tests/test_inspect_flagship.py."""

import pytest

from migrate.analysis import order_analyzers, run_analyzers
from migrate.analyzers.base import Analyzer, NotApplicable, redact_url
from migrate.model.base import Evidence
from migrate.model.inventory import Findings, OSInfo, Service
from migrate.rootfs import RootFS


class OS(Analyzer):
    name = "os"

    def run(self, ctx):
        return Findings(os=OSInfo(family="debian", distro="debian", version="12"))


class Units(Analyzer):
    name = "units"
    requires = ("os",)

    def run(self, ctx):
        return Findings(services=[Service(name="web", manager="systemd", state="enabled",
                                          evidence=[Evidence(analyzer=self.name, path="/etc/x")])])


class Role(Analyzer):
    name = "role"
    requires = ("units",)

    def run(self, ctx):
        assert ctx.findings("units").services[0].name == "web"
        return Findings(services=[Service(name="web", manager="systemd", role="nginx")])


class Boom(Analyzer):
    name = "boom"
    requires = ("units",)

    def run(self, ctx):
        secret = ctx.secrets.record("hunter2-very-secret", id="x", kind="password", redacted="****",
                                    evidence=Evidence(analyzer=self.name, path="/etc/secret"))
        raise ValueError(f"parse error near hunter2-very-secret ({secret.value_ref})")


class Skip(Analyzer):
    name = "skip"

    def run(self, ctx):
        raise NotApplicable


class RedHatOnly(Analyzer):
    name = "rhel-only"
    os_families = ("rhel",)

    def run(self, ctx):  # pragma: no cover - must not run on a Debian guest
        raise AssertionError("ran on the wrong family")


@pytest.fixture
def rootfs(tmp_path):
    return RootFS.from_directory(tmp_path)


def test_order_follows_requirements():
    names = [a.name for a in order_analyzers([Role(), Units(), OS()])]
    assert names.index("os") < names.index("units") < names.index("role")


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="two analyzers"):
        order_analyzers([OS(), OS()])


def test_failures_are_isolated_and_redacted(rootfs):
    result, ctx = run_analyzers(rootfs, analyzers=[Boom(), Role(), Units(), OS(), Skip(), RedHatOnly()])
    status = {r.name: r.status for r in result.runs}
    assert status == {"os": "ok", "units": "ok", "role": "ok", "boom": "failed", "skip": "not-applicable",
                      "rhel-only": "skipped"}
    [unknown] = result.merged.unknowns
    assert unknown.analyzer == "boom" and "ValueError" in unknown.message
    assert "hunter2" not in unknown.message and "****" in unknown.message
    [web] = result.merged.services
    assert (web.role, web.state) == ("nginx", "enabled")  # enriched, not duplicated


def test_secret_vault_ties_equal_values(rootfs):
    from migrate.analyzers.base import SecretVault

    vault = SecretVault()
    ev = Evidence(analyzer="t", path="/p")
    a = vault.record("pw1", id="a", kind="password", redacted="****", evidence=ev)
    b = vault.record("pw1", id="b", kind="password", redacted="****", evidence=ev)
    c = vault.record("pw2", id="c", kind="password", redacted="****", evidence=ev)
    assert a.value_ref == b.value_ref != c.value_ref
    assert "pw1" not in a.model_dump_json()


def test_redact_url():
    assert redact_url("postgresql://shop:p%40ss@localhost:5432/shop") == (
        "postgresql://shop:****@localhost:5432/shop", "p%40ss")
    assert redact_url("redis://:pw@127.0.0.1:6379/0")[0] == "redis://:****@127.0.0.1:6379/0"
    assert redact_url("http://example/x") == ("http://example/x", None)


def test_family_filtered_analyzers_run_after_the_os_analyzer():
    class OsRelease(OS):
        name = "os_release"

    class Zeta(RedHatOnly):
        name = "a-rhel-first-by-name"

    names = [a.name for a in order_analyzers([Zeta(), OsRelease()])]
    assert names == ["os_release", "a-rhel-first-by-name"]
