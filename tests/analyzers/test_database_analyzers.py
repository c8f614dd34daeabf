from migrate.analyzers.mysql import MysqlAnalyzer
from migrate.analyzers.postgresql import PostgresqlAnalyzer
from migrate.analyzers.redis import RedisAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer


def test_postgresql_debian_cluster(flagship, run):
    flagship.write("/etc/postgresql/15/main/conf.d/listen.conf", "listen_addresses = 'localhost,10.0.0.4'\n"
                                                                 "port = 5433  # moved\n")
    f, _ = run(flagship, PostgresqlAnalyzer(), SystemdAnalyzer())
    assert {(p.address, p.port) for p in f.ports if p.proto == "tcp"} == {("localhost", 5433), ("10.0.0.4", 5433)}
    assert [p.path for p in f.ports if p.proto == "unix"] == ["/var/run/postgresql/.s.PGSQL.5433"]
    pp = f.persistent_paths[0]
    assert (pp.path, pp.kind, pp.uid, pp.gid, pp.mode, pp.file_count) == (
        "/var/lib/postgresql/15/main", "database", 104, 107, 0o700, 1)
    assert f.services[0].name == "postgresql" and f.services[0].role == "postgresql"
    assert {c.kind for c in f.configs} == {"postgresql.conf", "pg_hba.conf"}


def test_postgresql_two_clusters_get_instance_names(flagship, run):
    flagship.write("/etc/postgresql/16/reports/postgresql.conf", "port = 5434\n")
    f, _ = run(flagship, PostgresqlAnalyzer(), SystemdAnalyzer())
    assert {s.name for s in f.services} == {"postgresql@15-main", "postgresql@16-reports"}
    assert all(s.manager == "systemd" for s in f.services)
    assert {(p.service, p.port) for p in f.ports if p.proto == "tcp"} == {("postgresql@15-main", 5432),
                                                                          ("postgresql@16-reports", 5434)}


def test_postgresql_rhel_layout(tree, run):
    tree.write("/var/lib/pgsql/data/postgresql.conf", "listen_addresses = '*'\n")
    tree.mkdir("/var/lib/pgsql/data")
    f, _ = run(tree, PostgresqlAnalyzer())
    assert [(p.address, p.port) for p in f.ports if p.proto == "tcp"] == [(None, 5432)]
    assert f.persistent_paths[0].path == "/var/lib/pgsql/data"
    assert {p.path for p in f.ports if p.proto == "unix"} == {"/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432"}


def test_mariadb_includes_and_debian_cnf_secret(tree, run):
    tree.write("/lib/systemd/system/mariadb.service", "[Service]\nExecStart=/usr/sbin/mariadbd\n")
    tree.write("/etc/mysql/mariadb.cnf", "[client-server]\nsocket = /run/mysqld/mysqld.sock\n"
                                         "!includedir /etc/mysql/conf.d/\n!includedir /etc/mysql/mariadb.conf.d/\n")
    tree.link("/etc/alternatives/my.cnf", "/etc/mysql/mariadb.cnf")
    tree.link("/etc/mysql/my.cnf", "/etc/alternatives/my.cnf")
    tree.mkdir("/etc/mysql/conf.d")
    tree.write("/etc/mysql/mariadb.conf.d/50-server.cnf", "[mysqld]\nuser = mysql\nbind-address = 127.0.0.1\n"
                                                          "port=3307\ndatadir = /srv/mysql\n")
    tree.write("/etc/mysql/debian.cnf",
               "[client]\nhost = localhost\nuser = debian-sys-maint\npassword = My5ql-S3cret\n")
    tree.mkdir("/srv/mysql")
    f, _ = run(tree, MysqlAnalyzer(), SystemdAnalyzer())
    assert [(p.address, p.port) for p in f.ports if p.proto == "tcp"] == [("127.0.0.1", 3307)]
    assert f.persistent_paths[0].path == "/srv/mysql" and f.persistent_paths[0].kind == "database"
    assert f.services[0].name == "mariadb" and f.services[0].role == "mysql"
    assert [s.key for s in f.secrets] == ["client.password"]
    assert "My5ql-S3cret" not in f.model_dump_json()
    assert any(c.path == "/etc/mysql/debian.cnf" and c.contains_secrets for c in f.configs)
    # the files the server reads, links and their targets (/etc/alternatives/my.cnf → mariadb.cnf)
    assert {"/etc/mysql/my.cnf", "/etc/mysql/mariadb.cnf", "/etc/mysql/mariadb.conf.d/50-server.cnf"} <= \
        set(f.services[0].uses_files)
    assert [p.path for p in f.ports if p.proto == "unix"] == ["/run/mysqld/mysqld.sock"]


def test_redis_conf_with_include_and_secrets(tree, run):
    tree.write("/etc/redis/redis.conf", "port 6380\nbind 0.0.0.0\ninclude /etc/redis/local.conf\n")
    tree.write("/etc/redis/local.conf", "requirepass \"pw with space\"\nmasterauth m4ster\ndir /data/redis\n"
                                        "user app on >app-pass ~* +@all\n")
    tree.mkdir("/data/redis")
    f, _ = run(tree, RedisAnalyzer())
    assert [(p.address, p.port) for p in f.ports] == [(None, 6380)]
    assert f.persistent_paths[0].path == "/data/redis"
    assert sorted(s.key for s in f.secrets) == ["masterauth", "requirepass", "user app"]
    dump = f.model_dump_json()
    assert "pw with space" not in dump and "m4ster" not in dump and "app-pass" not in dump
    assert f.services[0].name == "redis-server" and f.services[0].manager == "other"


def test_my_cnf_without_a_server_is_not_applicable(tree, run):
    import pytest

    from migrate.analyzers.base import NotApplicable
    tree.write("/etc/mysql/my.cnf", "[client-server]\n!includedir /etc/mysql/conf.d/\n")
    with pytest.raises(NotApplicable):
        run(tree, MysqlAnalyzer())
