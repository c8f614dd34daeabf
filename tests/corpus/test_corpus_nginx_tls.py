"""corpus-nginx-tls (nginx-light + the echo dynamic module + TLS → Flask under gunicorn → PostgreSQL 15
+ Redis; GPT, compressed qcow2), issue 13's third failed stack. Through TLS, /notes must answer the
rows and the Redis key the recipe seeded, /echo the echo module's line, with the VM's certificate."""

from __future__ import annotations

import pytest

from migrate.deploy import read_secrets_file
from migrate.inspect import inspect_images
from tests.corpus.harness import (
    CorpusRun,
    Expectations,
    by_role,
    containers_with_role,
    convert_guest,
    endpoint,
    files_holding,
    get_body,
    http_get,
    package_names,
    peer_cert_pem,
    plan_of,
    ports_of,
    run_chain,
    workdir,
)

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def notes(corpus_nginx_tls_images, tmp_path_factory):
    return convert_guest([corpus_nginx_tls_images["qcow2"]], workdir(tmp_path_factory, "corpus-nginx-tls-convert"))


def test_nginx_tls_inventory(corpus_nginx_tls_images):
    facts = corpus_nginx_tls_images.facts
    inv = inspect_images([corpus_nginx_tls_images["qcow2"]], "auto")
    assert inv.network.hostname == facts["hostname"]
    web = by_role(inv, "nginx")
    ports = ports_of(inv, web.name)
    assert {80, 443} <= set(ports) and ports[443].tls
    # nginx resolves load_module against its prefix (/usr/share/nginx/modules, a link to /usr/lib/nginx/modules)
    loaded = {m.path.rsplit("/", 1)[-1] for m in web.modules}
    assert {p.rsplit("/", 1)[-1] for p in facts["services"]["nginx"]["modules"]} <= loaded, web.modules
    app = by_role(inv, "app")
    assert app.user == "notes" and facts["services"]["notes"]["environment_file"] in app.environment_files
    assert 8000 in ports_of(inv, app.name)
    assert 5432 in ports_of(inv, by_role(inv, "postgresql").name)
    assert 6379 in ports_of(inv, by_role(inv, "redis").name)
    mounts = {f.mountpoint: f.fstype for f in inv.filesystems if f.mountpoint}
    assert mounts == facts["filesystems"]
    assert facts["tls"]["cert"] in {c.path for c in inv.configs if c.service == web.name}, \
        "nginx refuses to start without the certificate ssl_certificate names"
    kinds = {s.kind for s in inv.secrets}
    assert "private-key" in kinds, kinds
    assert not any(v in inv.to_json() for v in facts["secrets"])


def test_nginx_tls_convert_fast(notes):
    assert notes.cpu_seconds < 2.0, f"convert used {notes.cpu_seconds:.2f} s CPU ({notes.seconds:.2f} s wall)"


def test_nginx_tls_plan_fixes_issue13(notes, corpus_nginx_tls_images):
    facts = corpus_nginx_tls_images.facts
    web = containers_with_role(notes.plan, "nginx")[0]
    e = Expectations()
    e.expect("libnginx-mod-http-echo" in package_names(web),
             f"modules-enabled loads ngx_http_echo_module.so; packages: {sorted(package_names(web))}")
    names = [s.name for s in notes.plan.secrets]
    key_secrets = [n for n in names if "key" in n or "tls" in n]
    e.expect(bool(key_secrets) and not any("password" in n for n in key_secrets),
             f"the TLS key secret is not named for what it is: {names}")
    values = read_secrets_file(notes.secrets_file)  # the multi-line PEM key round-trips
    e.expect(any(v.startswith("-----BEGIN PRIVATE KEY-----") for v in values.values()),
             f"the PEM key does not round-trip through --secrets-out/--secrets-file: {sorted(values)}")
    leaks = files_holding(notes.out, facts["secrets"])
    e.expect(leaks == [], f"a guest password is in generated files: {leaks}")
    e.expect({443, 80} <= {p.port for p in web.ports if p.publish}, f"nginx ports: {web.ports}")
    e.check()


@pytest.mark.docker
def test_nginx_tls_end_to_end(corpus_nginx_tls_images, tmp_path_factory, docker_engine, base_image):
    facts = corpus_nginx_tls_images.facts
    probe = facts["probe"]

    def through_tls(run, engine, project):
        assert get_body(engine, run, project, "nginx", probe["port"], probe["path"], tls=True) == probe["body"]
        echo = get_body(engine, run, project, "nginx", probe["port"], probe["echo"]["path"], tls=True, attempts=1)
        assert echo == probe["echo"]["body"]
        service = containers_with_role(plan_of(run), "nginx")[0].name
        assert peer_cert_pem(*endpoint(engine, run, project, service, probe["port"])).strip() == \
            facts["tls"]["cert_pem"].strip()
        status, _ = http_get(*endpoint(engine, run, project, service, 80), "/")
        assert status == 301

    run = CorpusRun("corpus-nginx-tls", [corpus_nginx_tls_images["qcow2"]], facts,
                    workdir(tmp_path_factory, "corpus-nginx-tls-compose"))
    run_chain(run, docker_engine, base_image, probe=through_tls)
    run.conclude()
