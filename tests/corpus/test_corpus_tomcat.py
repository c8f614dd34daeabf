"""corpus-tomcat (Tomcat 10 + a WAR with a JDBC DataSource → PostgreSQL 15 whose data is on a second,
whole-disk xfs; two VHDX disks), issue 13's second failed stack. The JSP, compiled by Tomcat at
run time, must list the rows the recipe seeded, through the context's DataSource, exactly as in the VM."""

from __future__ import annotations

import pytest

from migrate.inspect import inspect_images
from tests.corpus.harness import (
    CorpusRun,
    Expectations,
    by_role,
    containers_with_role,
    convert_guest,
    files_holding,
    get_body,
    package_names,
    ports_of,
    run_chain,
    workdir,
)

pytestmark = pytest.mark.image


def _disks(images):
    return [images["vhdx"], images["vhdx-2"]]


@pytest.fixture(scope="module")
def tomcat(corpus_tomcat_images, tmp_path_factory):
    return convert_guest(_disks(corpus_tomcat_images), workdir(tmp_path_factory, "corpus-tomcat-convert"))


def test_tomcat_inventory(corpus_tomcat_images):
    """Two disks, one guest: the PostgreSQL data on the second disk's xfs, Tomcat's context password."""
    facts = corpus_tomcat_images.facts
    inv = inspect_images(_disks(corpus_tomcat_images), "auto")
    assert inv.network.hostname == facts["hostname"]
    tc, pg = by_role(inv, "tomcat"), by_role(inv, "postgresql")
    assert 8080 in ports_of(inv, tc.name)
    assert 5432 in ports_of(inv, pg.name)
    mounts = {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint}
    assert mounts == facts["filesystems"]
    paths = {p.path for p in inv.persistent_paths}
    assert facts["services"]["postgresql"]["data_directory"] in paths
    assert any(s.evidence.path == facts["services"]["tomcat"]["context"] for s in inv.secrets), \
        [s.evidence.path for s in inv.secrets]
    assert not any(v in inv.to_json() for v in facts["secrets"])
    # the JDBC driver linked into CATALINA_BASE/lib (common.loader) is part of what Tomcat runs with
    assert "/var/lib/tomcat10/lib/postgresql.jar" in tc.uses_files


def test_tomcat_convert_fast(tomcat):
    assert tomcat.cpu_seconds < 2.0, f"convert used {tomcat.cpu_seconds:.2f} s CPU ({tomcat.seconds:.2f} s wall)"


def test_tomcat_plan_fixes_issue13(tomcat, corpus_tomcat_images):
    facts = corpus_tomcat_images.facts
    tc = containers_with_role(tomcat.plan, "tomcat")[0]
    pg = containers_with_role(tomcat.plan, "postgresql")[0]
    pkgs = package_names(tc)
    e = Expectations()
    e.expect("tomcat10" in pkgs, f"the tomcat image installs no Tomcat: packages {sorted(pkgs)}")
    e.expect("libpostgresql-jdbc-java" in pkgs, "lib/postgresql.jar points into libpostgresql-jdbc-java, not installed")
    e.expect(not any(a == "start" for a in tc.command.argv), f"a daemonising command as PID 1: {tc.command.argv}")
    leaks = files_holding(tomcat.out, facts["secrets"])
    e.expect(leaks == [], f"the JDBC password is in generated files: {leaks}")
    e.expect(not any(p.publish for p in pg.ports), "PostgreSQL listened on localhost only in the VM but is published")
    e.check()


@pytest.mark.docker
def test_tomcat_end_to_end(corpus_tomcat_images, tmp_path_factory, docker_engine, base_image):
    facts = corpus_tomcat_images.facts
    probe = facts["probe"]

    def page(run, engine, project):  # Tomcat compiles the JSP on the first request: allow for it
        body = get_body(engine, run, project, "tomcat", probe["port"], probe["path"], attempts=40)
        assert body == probe["body"]

    run = CorpusRun("corpus-tomcat", _disks(corpus_tomcat_images), facts,
                    workdir(tmp_path_factory, "corpus-tomcat-compose"))
    run_chain(run, docker_engine, base_image, probe=page)
    run.conclude()
