"""The whole built-in analyzer set on a flagship-like guest tree (see conftest.build_flagship)."""

from __future__ import annotations

from migrate.model.inventory import Inventory

PG_PASSWORD = "Pg-fl4gship-S3cret"
REDIS_PASSWORD = "Rd-fl4gship-S3cret"


def _inventory(result) -> Inventory:
    m = result.merged
    return Inventory(name="flagship", backend="directory", os=m.os, network=result.network, packages=m.packages,
                     users=m.users, groups=m.groups, services=m.services, ports=m.ports, configs=m.configs,
                     secrets=m.secrets, jobs=m.jobs, mounts=m.mounts, persistent_paths=m.persistent_paths,
                     connections=m.connections, unknowns=m.unknowns, analyzers=result.runs)


def test_flagship_inventory(flagship, analyze):
    result, ctx = analyze(flagship)
    inv = _inventory(result)
    failed = [r.name for r in result.runs if r.status == "failed"]
    assert not failed, inv.unknowns
    assert inv.os.family == "debian" and inv.os.version == "12" and inv.os.codename == "bookworm"
    assert inv.os.kernel_versions == ["6.1.0-18-amd64"]

    svc = {s.name: s for s in inv.services}
    assert svc["nginx"].role == "nginx" and svc["nginx"].state == "enabled"
    assert svc["postgresql"].role == "postgresql"
    assert svc["redis-server"].role == "redis" and svc["redis-server"].user == "redis"
    assert svc["ssh"].role == "sshd" and svc["ssh"].vm_only and svc["ssh"].vm_only_reason
    assert svc["cron"].vm_only and svc["systemd-journald"].vm_only
    shop = svc["shop"]
    assert shop.role == "app" and shop.state == "enabled" and shop.manager == "systemd"
    assert (shop.user, shop.uid, shop.gid) == ("shop", 1001, 1001)
    assert shop.interpreter == "python3" and shop.script == "/opt/shop/app.py" and shop.virtualenv is None
    assert shop.environment["DATABASE_URL"] == "postgresql://shop:****@localhost:5432/shop"
    assert shop.environment["REDIS_URL"] == "redis://:****@127.0.0.1:6379/0"
    assert shop.environment["SECRET_KEY"] == "****"
    assert shop.environment["SHOP_DATA_DIR"] == "/var/lib/shop"
    assert shop.environment["SHOP_GREETING"] == "hello world"
    assert shop.requires == ["postgresql.service"] and "redis-server.service" in shop.wants

    ports = {(p.service, p.proto, p.port) for p in inv.ports}
    assert {("nginx", "tcp", 80), ("shop", "tcp", 8080), ("postgresql", "tcp", 5432),
            ("redis-server", "tcp", 6379), ("ssh", "tcp", 22)} <= ports
    assert ("postgresql", "unix", None) in ports

    paths = {(p.path, p.service, p.kind) for p in inv.persistent_paths}
    assert ("/var/lib/postgresql/15/main", "postgresql", "database") in paths
    assert ("/var/lib/redis", "redis-server", "data") in paths
    assert ("/var/lib/shop", "shop", "data") in paths
    pg_data = next(p for p in inv.persistent_paths if p.path == "/var/lib/postgresql/15/main")
    assert (pg_data.uid, pg_data.gid, pg_data.mode) == (104, 107, 0o700)

    conns = {(c.from_service, c.scheme, c.host, c.port) for c in inv.connections}
    assert ("shop", "postgresql", "localhost", 5432) in conns
    assert ("shop", "redis", "127.0.0.1", 6379) in conns
    assert ("nginx", "http", "127.0.0.1", 8080) in conns
    shop_port = next(p for p in inv.ports if p.service == "shop")
    assert (shop_port.address, shop_port.evidence.detail) == (None, "default of SHOP_PORT in /opt/shop/app.py")
    db = next(c for c in inv.connections if c.scheme == "postgresql" and c.from_service == "shop")
    assert db.database == "shop" and db.username == "shop" and db.secret_id

    secrets = {(s.service, s.key, s.kind) for s in inv.secrets}
    assert ("shop", "DATABASE_URL", "connection-string") in secrets
    assert ("shop", "REDIS_URL", "connection-string") in secrets
    assert ("redis-server", "requirepass", "requirepass") in secrets
    assert ("shop", "SECRET_KEY", "password") in secrets
    # the same password in the app's REDIS_URL and redis.conf is one secret
    refs = {s.key: s.value_ref for s in inv.secrets}
    assert refs["REDIS_URL"] == refs["requirepass"]

    dump = inv.to_json()
    for value in (PG_PASSWORD, REDIS_PASSWORD, "flask-s3cret-key-value", "$6$salt"):
        assert value not in dump
    assert "postgresql://shop:****@localhost" in dump

