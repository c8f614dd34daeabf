from migrate.analyzers.memcached import MemcachedAnalyzer
from migrate.analyzers.php_fpm import PhpFpmAnalyzer
from migrate.analyzers.sshd import SshdAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer
from migrate.analyzers.tomcat import TomcatAnalyzer
from tests.analyzers.debs import debian_package, install


def test_memcached_debian(tree, run):
    tree.write("/etc/memcached.conf", "# memcached default config\n-d\n-m 64\n-p 11212\n-u memcache\n"
                                      "-l 127.0.0.1\n-U 11213\n")
    f, _ = run(tree, MemcachedAnalyzer())
    assert {(p.proto, p.address, p.port) for p in f.ports} == {("tcp", "127.0.0.1", 11212), ("udp", "127.0.0.1", 11213)}
    assert f.services[0].role == "memcached" and f.services[0].user == "memcache"


def test_memcached_rhel(tree, run):
    tree.write("/etc/sysconfig/memcached", 'PORT="11211"\nUSER="memcached"\nOPTIONS="-l 127.0.0.1,::1 -U 0"\n')
    f, _ = run(tree, MemcachedAnalyzer())
    assert {(p.address, p.port) for p in f.ports} == {("127.0.0.1", 11211), ("::1", 11211)}


def test_php_fpm_pools(tree, run):
    tree.write("/lib/systemd/system/php8.2-fpm.service", "[Service]\nExecStart=/usr/sbin/php-fpm8.2 --nodaemonize\n")
    tree.write("/etc/php/8.2/fpm/pool.d/www.conf", "[www]\nuser = www-data\ngroup = www-data\n"
                                                   "listen = /run/php/php8.2-fpm.sock\n")
    tree.write("/etc/php/8.2/fpm/pool.d/api.conf", "[api]\nuser = api\nlisten = 127.0.0.1:9001\n"
                                                   "env[DB_PASSWORD] = Php-S3cret\n"
                                                   "env[DATABASE_URL] = mysql://api:Php-S3cret@db/api\n")
    f, _ = run(tree, PhpFpmAnalyzer(), SystemdAnalyzer())
    assert {(p.proto, p.port, p.path) for p in f.ports} == {("unix", None, "/run/php/php8.2-fpm.sock"),
                                                            ("tcp", 9001, None)}
    assert [s.name for s in f.services] == ["php8.2-fpm"] and f.services[0].role == "php-fpm"
    assert {s.key for s in f.secrets} == {"DB_PASSWORD", "DATABASE_URL"}
    assert f.connections[0].host == "db" and "Php-S3cret" not in f.model_dump_json()


SERVER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="8080" protocol="HTTP/1.1" connectionTimeout="20000" redirectPort="8443" />
    <Connector port="8443" protocol="org.apache.coyote.http11.Http11NioProtocol" SSLEnabled="true" address="10.0.0.9"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true">
        <Context path="/shop" docBase="/srv/shop.war">
          <Resource name="jdbc/shop" type="javax.sql.DataSource" username="shop" password="Tc-S3cret"
                    url="jdbc:postgresql://db.internal:5432/shop"/>
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
"""


def test_tomcat_connectors_contexts_and_jdbc(tree, run):
    tree.write("/etc/tomcat10/server.xml", SERVER_XML)
    tree.write("/etc/tomcat10/context.xml", '<Context><Resource name="jdbc/rep" '
                                            'url="jdbc:mysql://rep:3306/r?user=u&amp;password=Q-S3cret"/></Context>')
    tree.mkdir("/var/lib/tomcat10/webapps")
    f, _ = run(tree, TomcatAnalyzer())
    assert {(p.port, p.address, p.tls) for p in f.ports} == {(8080, None, False), (8443, "10.0.0.9", True)}
    assert f.services[0].uses_files == ["/etc/tomcat10/context.xml", "/etc/tomcat10/server.xml"]
    conns = {(c.scheme, c.host, c.port, c.database) for c in f.connections}
    assert conns == {("jdbc:postgresql", "db.internal", 5432, "shop"), ("jdbc:mysql", "rep", 3306, "r")}
    assert {p.path for p in f.persistent_paths} == {"/var/lib/tomcat10/webapps", "/srv/shop.war"}
    assert f.services[0].name == "tomcat10" and f.services[0].role == "tomcat"
    dump = f.model_dump_json()
    assert "Tc-S3cret" not in dump and "Q-S3cret" not in dump
    assert "password=****" in dump


def test_tomcat_broken_xml_is_unknown(tree, run):
    tree.write("/opt/tomcat/conf/server.xml", "<Server><Service>")
    f, _ = run(tree, TomcatAnalyzer())
    assert f.unknowns[0].path == "/opt/tomcat/conf/server.xml"


def test_sshd_ports_and_vm_only(flagship, run):
    flagship.write("/etc/ssh/sshd_config.d/port.conf", "Port 2222\nPort 22\n")
    f, _ = run(flagship, SshdAnalyzer(), SystemdAnalyzer())
    assert {p.port for p in f.ports} == {2222, 22}
    svc = f.services[0]
    assert (svc.name, svc.role, svc.vm_only) == ("ssh", "sshd", True) and "docker exec" in svc.vm_only_reason


def test_debian_php_fpm_files_and_extensions(tree, run):
    """Debian 12's real php8.2-fpm (config and unit) with php8.2-mysql's mysqli enabled the way phpenmod
    does it (ini into mods-available, linked from the SAPI's conf.d); php.ini is what the postinst copies."""
    fpm, mysql = debian_package("php8.2-fpm/bookworm"), debian_package("php8.2-mysql/bookworm")
    install(tree, fpm, "/etc/php/8.2/fpm", "/lib/systemd/system/php8.2-fpm.service")
    tree.write("/etc/php/8.2/fpm/php.ini", (fpm / "usr/lib/php/8.2/php.ini-production").read_text()
               if (fpm / "usr/lib/php/8.2/php.ini-production").exists() else "[PHP]\n")
    install(tree, mysql, "/usr/lib/php/20220829/mysqli.so")
    ini = (mysql / "usr/share/php8.2-mysql/mysql/mysqli.ini").read_text()
    tree.write("/etc/php/8.2/mods-available/mysqli.ini", ini)
    tree.link("/etc/php/8.2/fpm/conf.d/20-mysqli.ini", "/etc/php/8.2/mods-available/mysqli.ini")
    tree.enable("php8.2-fpm.service")
    f, _ = run(tree, PhpFpmAnalyzer(), SystemdAnalyzer())
    svc = f.services[0]
    assert svc.name == "php8.2-fpm"
    assert [(m.kind, m.name, m.path) for m in svc.modules] == [("php", "mysqli", "/usr/lib/php/20220829/mysqli.so")]
    assert {"/etc/php/8.2/fpm/php-fpm.conf", "/etc/php/8.2/fpm/pool.d/www.conf", "/etc/php/8.2/fpm/php.ini",
            "/etc/php/8.2/fpm/conf.d/20-mysqli.ini", "/etc/php/8.2/mods-available/mysqli.ini",
            "/usr/lib/php/20220829/mysqli.so"} <= set(svc.uses_files)
    assert [(p.proto, p.path) for p in f.ports] == [("unix", "/run/php/php8.2-fpm.sock")]
