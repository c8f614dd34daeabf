"""Apache: conditional configuration evaluated the way httpd reads it.

The Debian tests use the real /etc/apache2 tree of Debian 12's apache2 package, the real module .so files
of apache2-bin, libapache2-mod-php8.2 and php8.2-mysql (tests/analyzers/debs.py fetches them from the
Debian mirror). The links the packages' postinst scripts make with a2enmod/a2ensite/a2enconf/phpenmod are
made here by ``a2enmod`` & co., which follow the same rules (``# Depends:`` lines of .load files).
"""

from __future__ import annotations

import re

import pytest

from migrate.analyzers.apache import ApacheAnalyzer, module_names
from migrate.analyzers.systemd import SystemdAnalyzer
from tests.analyzers.debs import debian_package, install

# what apache2's postinst enables on a fresh install (Debian 12)
DEFAULT_MODULES = ("mpm_event", "authz_host", "auth_basic", "access_compat", "authn_file", "authz_user", "alias",
                   "dir", "autoindex", "env", "mime", "negotiation", "setenvif", "filter", "deflate", "status",
                   "reqtimeout")
DEFAULT_CONF = ("charset", "localized-error-pages", "other-vhosts-access-log", "security", "serve-cgi-bin")


def a2enmod(tree, name: str) -> None:
    """Enable a module like a2enmod: its .load and .conf linked into mods-enabled, dependencies first."""
    load = tree.host(f"/etc/apache2/mods-available/{name}.load")
    m = re.search(r"^# Depends:\s*(.+)$", load.read_text(), re.M)
    for dep in (m.group(1).split() if m else []):
        if not tree.host(f"/etc/apache2/mods-enabled/{dep}.load").is_symlink():
            a2enmod(tree, dep)
    for ext in ("load", "conf"):
        if tree.host(f"/etc/apache2/mods-available/{name}.{ext}").exists():
            tree.link(f"/etc/apache2/mods-enabled/{name}.{ext}", f"../mods-available/{name}.{ext}")


@pytest.fixture(scope="module")
def apache_pkgs():
    return {name: debian_package(f"{name}/bookworm") for name in
            ("apache2", "apache2-bin", "libapache2-mod-php8.2", "php8.2-mysql", "php8.2-common")}


def debian_apache(tree, pkgs) -> None:
    """A guest with Debian 12's apache2 as installed: default modules, confs and site enabled."""
    install(tree, pkgs["apache2"], "/etc/apache2", "/lib/systemd/system/apache2.service", "/var/www/html")
    install(tree, pkgs["apache2-bin"], "/usr/lib/apache2/modules")
    tree.mkdir("/var/www/html")
    tree.write("/var/www/html/index.html", "<h1>It works</h1>")
    for mod in DEFAULT_MODULES:
        a2enmod(tree, mod)
    for conf in DEFAULT_CONF:
        tree.link(f"/etc/apache2/conf-enabled/{conf}.conf", f"../conf-available/{conf}.conf")
    tree.link("/etc/apache2/sites-enabled/000-default.conf", "../sites-available/000-default.conf")
    tree.enable("apache2.service")


def test_debian_default_install_listens_on_80_only(tree, run, apache_pkgs):
    debian_apache(tree, apache_pkgs)
    f, _ = run(tree, ApacheAnalyzer(), SystemdAnalyzer())
    # ports.conf has `Listen 443` twice, inside <IfModule ssl_module> and <IfModule mod_gnutls.c>: neither loaded
    assert [(p.port, p.address, p.tls) for p in f.ports] == [(80, None, False)]
    assert f.ports[0].evidence.path == "/etc/apache2/ports.conf"
    svc = f.services[0]
    mods = {m.name: m for m in svc.modules}
    assert "ssl_module" not in mods and "php_module" not in mods
    assert mods["mpm_event_module"].path == "/usr/lib/apache2/modules/mod_mpm_event.so"
    assert mods["authz_core_module"].evidence.path == "/etc/apache2/mods-enabled/authz_core.load"  # a dependency
    assert "/usr/lib/apache2/modules/mod_mpm_event.so" in svc.uses_files
    assert "/etc/apache2/mods-enabled/ssl.load" not in svc.uses_files
    assert "/etc/apache2/sites-enabled/000-default.conf" in svc.uses_files
    # DocumentRoot /var/www/html is the site; <Directory /var/www/> around it and /usr/share are not
    assert [(p.path, p.kind) for p in f.persistent_paths] == [("/var/www/html", "webroot")]
    assert "DocumentRoot" in f.persistent_paths[0].reason
    assert not f.unknowns


def test_debian_with_mod_ssl_listens_on_443_with_tls(tree, run, apache_pkgs):
    debian_apache(tree, apache_pkgs)
    a2enmod(tree, "ssl")
    tree.link("/etc/apache2/sites-enabled/default-ssl.conf", "../sites-available/default-ssl.conf")
    f, _ = run(tree, ApacheAnalyzer(), SystemdAnalyzer())
    assert sorted((p.port, p.tls) for p in f.ports) == [(80, False), (443, True)]
    mods = {m.name: m for m in f.services[0].modules}
    assert mods["ssl_module"].path == "/usr/lib/apache2/modules/mod_ssl.so"
    assert mods["socache_shmcb_module"].path  # a2enmod's dependency of ssl


def test_debian_mod_php_with_mysqli(tree, run, apache_pkgs):
    debian_apache(tree, apache_pkgs)
    for link in tree.host("/etc/apache2/mods-enabled").glob("mpm_event.*"):
        link.unlink()
    install(tree, apache_pkgs["libapache2-mod-php8.2"], "/etc/apache2/mods-available/php8.2.load",
            "/etc/apache2/mods-available/php8.2.conf", "/usr/lib/apache2/modules/libphp8.2.so")
    a2enmod(tree, "mpm_prefork")
    a2enmod(tree, "php8.2")
    # phpenmod (php8.2-mysql's postinst): the module's ini into mods-available, linked from the SAPI's conf.d
    install(tree, apache_pkgs["php8.2-mysql"], "/usr/lib/php/20220829/mysqli.so", "/usr/lib/php/20220829/pdo_mysql.so")
    install(tree, apache_pkgs["php8.2-common"], "/usr/lib/php/20220829/pdo.so")
    for name, pkg in (("mysqli", "php8.2-mysql"), ("pdo_mysql", "php8.2-mysql"), ("pdo", "php8.2-common")):
        sub = "mysql" if pkg == "php8.2-mysql" else "common"
        src = apache_pkgs[pkg] / f"usr/share/{pkg}/{sub}/{name}.ini"
        tree.write(f"/etc/php/8.2/mods-available/{name}.ini", src.read_text())
        prio = re.search(r"priority=(\d+)", src.read_text()).group(1)
        tree.link(f"/etc/php/8.2/apache2/conf.d/{prio}-{name}.ini", f"/etc/php/8.2/mods-available/{name}.ini")
    tree.write("/etc/php/8.2/apache2/php.ini", "[PHP]\nengine = On\n;extension=bz2\n")
    f, _ = run(tree, ApacheAnalyzer(), SystemdAnalyzer())
    svc = f.services[0]
    mods = {(m.kind, m.name): m for m in svc.modules}
    assert mods[("apache", "php_module")].path == "/usr/lib/apache2/modules/libphp8.2.so"
    assert ("apache", "mpm_event_module") not in mods and ("apache", "mpm_prefork_module") in mods
    assert mods[("php", "mysqli")].path == "/usr/lib/php/20220829/mysqli.so"
    assert mods[("php", "mysqli")].evidence.path == "/etc/php/8.2/apache2/conf.d/20-mysqli.ini"
    assert ("php", "bz2") not in mods  # commented out
    for used in ("/usr/lib/apache2/modules/libphp8.2.so", "/usr/lib/php/20220829/mysqli.so",
                 "/etc/php/8.2/mods-available/mysqli.ini", "/etc/php/8.2/apache2/php.ini"):
        assert used in svc.uses_files
    assert [(p.port, p.tls) for p in f.ports] == [(80, False)]


def test_ifdefine_ifmodule_negation_and_defines(tree, run):
    tree.write("/lib/systemd/system/apache2.service",
               "[Service]\nEnvironment=APACHE_STARTED_BY_SYSTEMD=true\nExecStart=/usr/sbin/apachectl -D TLSOFF start\n")
    tree.write("/etc/apache2/apache2.conf", """\
Define SITE_ROOT /srv/site
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
<IfModule !mod_proxy.c>
    Listen 81
</IfModule>
<IfModule proxy_module>
    <IfDefine !TLSOFF>
        Listen 8443 https
    </IfDefine>
    <IfDefine TLSOFF>
        Listen 127.0.0.1:8080
        Include extra/*.conf
    </IfDefine>
</IfModule>
<IfModule mod_nothere.c>
    Include never/*.conf
</IfModule>
DocumentRoot ${SITE_ROOT}
<Directory /srv/other>
</Directory>
""")
    tree.write("/etc/apache2/extra/a.conf", "Listen [::1]:9090\nListen [::]:8080\nListen 0.0.0.0:8080\n"
                                            "Alias /files /data/files\n")
    tree.write("/etc/apache2/never/b.conf", "Listen 7777\n")
    for d in ("/srv/site", "/srv/other", "/data/files"):
        tree.mkdir(d)
    f, _ = run(tree, ApacheAnalyzer(), SystemdAnalyzer())
    assert sorted((p.address or "*", p.port) for p in f.ports) == [("*", 8080), ("127.0.0.1", 8080), ("::1", 9090)]
    assert sorted(p.path for p in f.persistent_paths) == ["/data/files", "/srv/other", "/srv/site"]
    assert "/etc/apache2/never/b.conf" not in f.services[0].uses_files
    assert "/etc/apache2/extra/a.conf" in f.services[0].uses_files


def test_module_spellings():
    assert module_names("ssl_module", "/usr/lib/apache2/modules/mod_ssl.so") >= {"ssl_module", "mod_ssl.c"}
    assert "mod_php.c" in module_names("php_module", "/usr/lib/apache2/modules/libphp8.2.so")


def test_debian_layout_proxies(tree, run):
    tree.write("/lib/systemd/system/apache2.service", "[Service]\nExecStart=/usr/sbin/apachectl start\n")
    tree.write("/etc/apache2/envvars",
               "export APACHE_LOG_DIR=/var/log/apache2$SUFFIX\nexport APACHE_RUN_USER=www-data\n")
    tree.write("/etc/apache2/apache2.conf", "ServerRoot \"/etc/apache2\"\nUser ${APACHE_RUN_USER}\n"
                                            "IncludeOptional mods-enabled/*.load\nInclude ports.conf\n"
                                            "IncludeOptional sites-enabled/*.conf\n")
    tree.write("/etc/apache2/ports.conf", "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n")
    tree.write("/etc/apache2/sites-available/shop.conf", """
<VirtualHost *:80>
    ServerName shop.example.com
    DocumentRoot /var/www/shop
    ProxyPass /api http://127.0.0.1:8000/api \\
        retry=0
    ProxyPass /static !
    ProxyPass /lb balancer://pool/
    <Proxy balancer://pool>
        BalancerMember http://10.0.0.2:8080
        BalancerMember http://10.0.0.3:8080
    </Proxy>
</VirtualHost>
""")
    tree.link("/etc/apache2/sites-enabled/shop.conf", "../sites-available/shop.conf")
    tree.mkdir("/var/www/shop")
    f, _ = run(tree, ApacheAnalyzer(), SystemdAnalyzer())
    assert {p.port for p in f.ports} == {80}
    assert {(c.host, c.port) for c in f.connections} == {("127.0.0.1", 8000), ("10.0.0.2", 8080), ("10.0.0.3", 8080)}
    assert [p.path for p in f.persistent_paths] == ["/var/www/shop"]
    assert f.services[0].name == "apache2" and f.services[0].role == "apache"
    assert not f.unknowns


def test_rhel_layout_modules_relative_to_server_root(tree, run):
    tree.write("/etc/httpd/conf/httpd.conf", "ServerRoot \"/etc/httpd\"\nInclude conf.modules.d/*.conf\n"
                                             "<IfModule mod_ssl.c>\nListen 443 https\n</IfModule>\nListen 80\n")
    tree.write("/etc/httpd/conf.modules.d/00-ssl.conf", "LoadModule ssl_module modules/mod_ssl.so\n")
    tree.write("/usr/lib64/httpd/modules/mod_ssl.so", b"\x7fELF")
    tree.link("/etc/httpd/modules", "../../usr/lib64/httpd/modules")
    f, _ = run(tree, ApacheAnalyzer())
    assert sorted((p.port, p.tls) for p in f.ports) == [(80, False), (443, True)]
    mod = f.services[0].modules[0]
    assert (mod.name, mod.path) == ("ssl_module", "/etc/httpd/modules/mod_ssl.so")
    assert "/usr/lib64/httpd/modules/mod_ssl.so" in f.services[0].uses_files


def test_rhel_layout_and_missing_include(tree, run):
    tree.write("/etc/httpd/conf/httpd.conf", "ServerRoot /etc/httpd\nListen 0.0.0.0:8080\nInclude conf.d/missing.conf\n"
                                             "IncludeOptional conf.d/*.conf\nDocumentRoot \"/var/www/html\"\n")
    f, _ = run(tree, ApacheAnalyzer())
    assert [(p.address, p.port) for p in f.ports] == [(None, 8080)]
    assert f.services[0].name == "httpd" and "missing" in f.unknowns[0].message


def test_unreadable_included_file_is_one_unknown(tree, run):
    tree.write("/etc/apache2/apache2.conf", "Listen 80\nIncludeOptional conf.d/*.conf\n")
    tree.write("/etc/apache2/conf.d/a.conf", b"Listen 81\nServerName \xff\xfe\n")
    tree.write("/etc/apache2/conf.d/b.conf", "Listen 82\n")
    tree.link("/etc/apache2/conf.d/c.conf", "c.conf")  # a link loop
    f, _ = run(tree, ApacheAnalyzer())
    assert {p.port for p in f.ports} >= {80, 82}
    assert [u.path for u in f.unknowns] == ["/etc/apache2/conf.d/c.conf"]
