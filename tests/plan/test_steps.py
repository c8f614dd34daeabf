"""Planner steps on inventories changed in one respect each (issue 13 items 2, 3, 4, 5, 10): the plan
follows the evidence, and what cannot run is a blocker in the plan before anything is built."""

from __future__ import annotations

from migrate.model.base import Evidence
from migrate.model.inventory import Connection, Inventory, Port, Secret, Service
from migrate.model.plan import Plan
from migrate.plan import make_plan
from tests.graph.conftest import load_fixture


def flagship() -> Inventory:
    return load_fixture("flagship-debian12")


def service(inv: Inventory, name: str) -> Service:
    return next(s for s in inv.services if s.name == name)


def blockers(plan: Plan, container: str) -> dict[str, str]:
    return {b.kind: b.detail for b in plan.container(container).fitness.blockers}


def test_unix_socket_client_shares_the_socket_directory() -> None:
    inv = flagship()
    inv.connections.append(Connection(
        from_service="shop", scheme="postgresql", host="localhost", port=5432, database="shop", username="shop",
        url_redacted="postgresql://shop@localhost:5432/shop", via="psycopg2.connect()",
        unix_socket="/var/run/postgresql/.s.PGSQL.5432", evidence=Evidence(analyzer="t", path="/opt/shop/app.py")))
    plan = make_plan(inv)
    vol = next(v for v in plan.volumes if v.name == "postgres-socket")
    assert vol.path == "/run/postgresql" and "nothing to export" in vol.reason
    pg, shop = plan.container("postgres"), plan.container("shop")
    assert [(m.target, m.uid) for m in pg.volumes if m.volume == vol.name] == [("/run/postgresql", pg.user.uid)]
    assert [m.target for m in shop.volumes if m.volume == vol.name] == ["/run/postgresql"]
    assert "Unix socket" in next(m for m in shop.volumes if m.volume == vol.name).reason
    # one local volume is shared on one node only: the client is placed with the server
    assert "node.role == manager" in shop.deploy.placement_constraints
    assert not shop.forwarders
    assert not plan.check()


def test_hard_coded_loopback_tcp_gets_a_forwarder() -> None:
    inv = flagship()
    inv.connections.append(Connection(
        from_service="shop", scheme="redis", host="127.0.0.1", port=6379, url_redacted="redis://127.0.0.1:6379",
        via="redis.Redis(host=...)", evidence=Evidence(analyzer="t", path="/opt/shop/app.py")))
    shop = make_plan(inv).container("shop")
    assert [(f.listen, f.service, f.port) for f in shop.forwarders] == [(6379, "redis", 6379)]
    assert "/opt/shop/app.py" in shop.forwarders[0].reason
    socat = next(p for p in shop.packages.items if p.name == "socat")
    assert socat.spec == "socat" and "forwarder" in socat.reason


def test_rewritable_connections_get_no_bridge() -> None:
    """The flagship's own connections (environment, copied nginx config) are rewritten by name."""
    plan = make_plan(flagship())
    assert all(not c.forwarders for c in plan.containers)
    assert not any(v.name.endswith("-socket") for v in plan.volumes)


def test_daemonising_command_without_foreground_form_is_a_blocker() -> None:
    inv = flagship()
    shop = service(inv, "shop")
    shop.unit_type = "forking"
    plan = make_plan(inv)
    assert "no-foreground" in blockers(plan, "shop")
    assert "Type=forking" in blockers(plan, "shop")["no-foreground"]
    assert plan.container("shop").fitness.score <= 65
    # a kind that knows its foreground form: no blocker (nginx is Type=forking in the VM)
    assert "no-foreground" not in blockers(plan, "nginx")
    assert plan.container("nginx").command.argv[-2:] == ["-g", "daemon off;"]


def test_apachectl_start_runs_in_the_foreground() -> None:
    inv = flagship()
    web = service(inv, "nginx")
    web.role, web.exec_start, web.unit_type = "apache", ["/usr/sbin/apachectl", "start"], "forking"
    plan = make_plan(inv)
    c = next(c for c in plan.containers if c.source_service == "nginx")
    assert c.command.argv[:2] == ["/bin/sh", "-c"]
    assert c.command.argv[2].endswith("&& exec /usr/sbin/apache2 -DFOREGROUND")
    assert "no-foreground" not in {b.kind for b in c.fitness.blockers}


def test_no_command_and_no_package_are_blockers() -> None:
    inv = flagship()
    inv.services.append(Service(name="mystery", manager="systemd", state="enabled",
                                exec_start=["/usr/local/sbin/mysteryd"], evidence=[Evidence(analyzer="t", path="/x")]))
    inv.ports.append(Port(service="mystery", port=7000, evidence=Evidence(analyzer="t", path="/x")))
    plan = make_plan(inv)
    assert "no-package" in blockers(plan, "mystery")
    assert "/usr/local/sbin/mysteryd" in blockers(plan, "mystery")["no-package"]
    assert "no-package" not in blockers(plan, "shop")  # python3 comes from a package


def test_loopback_only_port_is_never_published() -> None:
    inv = flagship()
    inv.ports = [p for p in inv.ports if p.service != "nginx"]
    inv.ports.append(Port(service="nginx", port=80, address="127.0.0.1", evidence=Evidence(analyzer="t", path="/x")))
    plan = make_plan(inv)
    nginx = plan.container("nginx")
    assert [(p.port, p.publish) for p in nginx.ports] == [(80, False)]
    assert "loopback-only" in nginx.ports[0].reason
    assert all(not p.publish for c in plan.containers for p in c.ports)


def test_secret_names_say_what_they_are() -> None:
    inv = flagship()
    inv.secrets.append(Secret(id="nginx-tls", kind="private-key", service="nginx", key="ssl_certificate_key",
                              redacted="-----BEGIN PRIVATE KEY----- ****", value_ref="secret-9",
                              evidence=Evidence(analyzer="t", path="/etc/nginx/ssl/shop.key")))
    inv.secrets.append(Secret(id="redis-admin", kind="password", service="redis-server", key="admin.password",
                              redacted="****", value_ref="secret-10",
                              evidence=Evidence(analyzer="t", path="/etc/redis/users.acl")))
    names = {s.name for s in make_plan(inv).secrets}
    assert {"nginx_tls_key", "redis_admin_password", "redis_password", "postgres_shop_password"} <= names
    assert not any(n.endswith("_ssl_certificate_key") for n in names)


def test_web_roots_come_from_the_analyzers_facts() -> None:
    inv = flagship()  # the real VM's inventory: the nginx analyzer reported the document root of the site
    webroot = next(p for p in inv.persistent_paths if p.kind == "webroot")
    assert (webroot.path, webroot.evidence.path) == ("/var/www/shop", "/etc/nginx/sites-enabled/shop")
    plan = make_plan(inv)
    nginx = plan.container("nginx")
    tree = next(f for f in nginx.files if f.source == "/var/www/shop")
    assert tree.kind == "tree" and "/etc/nginx/sites-enabled/shop" in tree.reason
    assert not any(v.path == "/var/www/shop" for v in plan.volumes)  # content ships in the image


def test_services_started_by_a_timer_are_jobs_not_containers() -> None:
    from migrate.model.inventory import ScheduledJob

    inv = flagship()
    inv.services.append(Service(name="sessionclean", manager="systemd", state="static", unit_type="oneshot",
                                exec_start=["/usr/lib/php/sessionclean"], evidence=[Evidence(analyzer="t", path="/x")]))
    inv.jobs.append(ScheduledJob(source="systemd-timer", schedule="OnCalendar=*-*-* *:09,39:00",
                                 command="/usr/lib/php/sessionclean", unit="sessionclean.timer",
                                 evidence=Evidence(analyzer="t", path="/lib/systemd/system/sessionclean.timer")))
    plan = make_plan(inv)
    assert "sessionclean" not in {c.name for c in plan.containers}
    assert "systemd timer" in next(d.reason for d in plan.dropped if d.service == "sessionclean")


def test_init_script_daemon_without_foreground_form_is_a_warning() -> None:
    inv = flagship()
    inv.services.append(Service(name="legacyd", manager="sysv", state="enabled", unit_path="/etc/init.d/legacyd",
                                exec_start=["/usr/sbin/legacyd", "--config", "/etc/legacyd.conf"],
                                evidence=[Evidence(analyzer="t", path="/etc/init.d/legacyd")]))
    inv.ports.append(Port(service="legacyd", port=7001, evidence=Evidence(analyzer="t", path="/etc/legacyd.conf")))
    plan = make_plan(inv)
    warning = next(b for b in plan.container("legacyd").fitness.blockers if b.kind == "may-daemonise")
    assert warning.severity == "warning" and "/etc/init.d/legacyd" in warning.detail


def test_loopback_bind_on_the_command_line_listens_everywhere_in_the_container() -> None:
    inv = flagship()
    shop = service(inv, "shop")
    shop.exec_start = ["/usr/bin/gunicorn", "--bind", "127.0.0.1:8080", "--workers", "2", "app:app"]
    inv.ports = [p for p in inv.ports if p.service != "shop"]
    inv.ports.append(Port(service="shop", port=8080, address="127.0.0.1",
                          evidence=Evidence(analyzer="t", path="/etc/systemd/system/shop.service")))
    plan = make_plan(inv)
    c = plan.container("shop")
    assert c.command.argv[:3] == ["/usr/bin/gunicorn", "--bind", "0.0.0.0:8080"]
    assert "127.0.0.1:8080 -> 0.0.0.0:8080" in c.command.reason
    assert [(p.port, p.publish) for p in c.ports] == [(8080, False)]
    assert "loopback-bind" not in blockers(plan, "shop")


def test_working_directory_is_judged_as_the_guest_resolves_it(tmp_path) -> None:
    """`/opt/../etc` is /etc: never an application tree to copy (it once put the guest's /etc/shadow in a
    build context), and the container's workdir is the normalised path."""
    from migrate.rootfs import RootFS

    guest = tmp_path / "guest"
    (guest / "etc").mkdir(parents=True)
    (guest / "etc/shadow").write_text("root:$6$planted-hash:19000:0:99999:7:::\n")
    inv = flagship()
    shop = service(inv, "shop")
    shop.working_directory = "/opt/../etc"
    shop.script = None
    with RootFS.from_directory(guest) as fs:
        plan = make_plan(inv, reader=fs)
    c = plan.container("shop")
    assert c.command.workdir == "/etc"
    assert not [f for f in c.files if f.source == "/etc" or f.source.startswith("/opt/..")]
