"""Passwords and database connections in applications' own configuration files.

The WordPress case uses the real /etc/wordpress config template of Debian 12's wordpress package
(config-default.php from /usr/share/doc/wordpress/examples), filled in the way its setup-mysql helper
does; the other formats are small files written as their frameworks document them.
"""

from __future__ import annotations

from migrate.analysis import run_analyzers
from tests.analyzers.debs import debian_package

DB_PW = "Wp-db-S3cret-41"
SALT = "k#8Zq!salt-value-Xy"
LAMP_PW = "Lamp-S3cret-99"


def _apache_site(tree, root: str) -> None:
    tree.write("/etc/apache2/apache2.conf", f"Listen 80\nDocumentRoot {root}\n"
                                            "LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so\n")
    tree.write("/usr/lib/apache2/modules/libphp8.2.so", b"\x7fELF")
    tree.write("/lib/systemd/system/apache2.service", "[Service]\nExecStart=/usr/sbin/apachectl start\n"
                                                      "[Install]\nWantedBy=multi-user.target\n")
    tree.enable("apache2.service")


def _mariadb(tree) -> None:
    tree.write("/etc/mysql/my.cnf", "[mysqld]\nbind-address = 127.0.0.1\nsocket = /run/mysqld/mysqld.sock\n")
    tree.write("/usr/sbin/mariadbd", b"\x7fELF")
    tree.write("/lib/systemd/system/mariadb.service", "[Service]\nExecStart=/usr/sbin/mariadbd\n"
                                                      "[Install]\nWantedBy=multi-user.target\n")
    tree.enable("mariadb.service")


def test_php_mysqli_localhost_is_the_unix_socket(tree):
    _apache_site(tree, "/var/www/html")
    _mariadb(tree)
    tree.write("/var/www/html/index.php", f"""<?php
// $old = new mysqli("10.9.9.9", "x", "commented-out", "y");
$db_pass = '{LAMP_PW}';
$link = new mysqli("localhost", "lamp", $db_pass, "lampdb");
$r = $link->query("SELECT name FROM items");
$cfg = array('host' => '127.0.0.1', 'password' => 'Arr-S3cret-12');
""")
    # the corpus-lamp layout: constants in config.php, used by a page that requires it
    tree.write("/var/www/html/app/config.php", "<?php\ndefine('DB_NAME', 'inventory');\n"
                                               "define('DB_USER', 'inv');\ndefine('DB_PASSWORD', 'Inv-S3cret-5');\n"
                                               "define('CACHE_HOST', '127.0.0.1');\ndefine('CACHE_PORT', 11211);\n")
    tree.write("/var/www/html/app/page.php", "<?php\nrequire __DIR__ . '/config.php';\n"
                                             "$db = new mysqli('localhost', DB_USER, DB_PASSWORD, DB_NAME);\n"
                                             "$mc = new Memcached();\n$mc->addServer(CACHE_HOST, CACHE_PORT);\n")
    # the corpus-lemp layout: a config array with a PDO DSN and the credentials beside it
    tree.write("/var/www/html/notes/config.php",
               "<?php\nreturn ['dsn' => 'mysql:host=127.0.0.1;port=3306;dbname=notes',"
               " 'user' => 'notes', 'password' => 'Notes-S3cret'];\n")
    tree.write("/var/www/html/pdo.php", "<?php\n$pdo = new PDO('pgsql:host=db.internal;port=5433;dbname=shop', "
                                        "'shop', getenv('PW'));\n")
    inv, _ = run_analyzers(tree.rootfs())
    conns = {(c.scheme, c.host, c.port, c.database): c for c in inv.merged.connections
             if c.evidence.analyzer == "app_config"}
    mysqli = conns[("mysql", "localhost", 3306, "lampdb")]
    assert mysqli.unix_socket == "/run/mysqld/mysqld.sock" and mysqli.from_service == "apache2"
    assert mysqli.username == "lamp" and mysqli.url_redacted == "mysql://lamp:****@localhost:3306/lampdb"
    assert mysqli.secret_id and mysqli.evidence.path == "/var/www/html/index.php"
    assert ("postgresql", "db.internal", 5433, "shop") in conns and ("mysql", "10.9.9.9", 3306, "y") not in conns
    notes = conns[("mysql", "127.0.0.1", 3306, "notes")]
    assert notes.username == "notes" and notes.unix_socket is None and notes.secret_id
    assert [s.key for s in inv.merged.secrets if s.id == notes.secret_id] == ["password"]
    inv_conn = conns[("mysql", "localhost", 3306, "inventory")]
    assert inv_conn.username == "inv" and inv_conn.evidence.path == "/var/www/html/app/page.php"
    assert inv_conn.unix_socket == "/run/mysqld/mysqld.sock"
    assert conns[("memcached", "127.0.0.1", 11211, None)].from_service == "apache2"
    pw = [s for s in inv.merged.secrets if s.key == "DB_PASSWORD"]
    assert [s.evidence.path for s in pw] == ["/var/www/html/app/config.php"]  # found once, where it is written
    assert inv_conn.secret_id == pw[0].id  # the connection points at the file that holds the value
    assert mysqli.secret_id == next(s.id for s in inv.merged.secrets if s.key == "$db_pass")
    secrets = {(s.evidence.path, s.key) for s in inv.merged.secrets}
    assert {("/var/www/html/index.php", "$db_pass"), ("/var/www/html/index.php", "password")} <= secrets
    dump = inv.merged.model_dump_json()
    for value in (LAMP_PW, "Arr-S3cret-12", "Inv-S3cret-5", "Notes-S3cret"):
        assert value not in dump
    cfg = next(c for c in inv.merged.configs if c.path == "/var/www/html/index.php")
    assert cfg.contains_secrets and cfg.kind == "app-config-php"


def test_debian_wordpress_config(tree):
    wp = debian_package("wordpress/bookworm")
    template = (wp / "usr/share/doc/wordpress/examples/config-default.php").read_text()
    config = (template.replace("database_name_here", "wordpress").replace("username_here", "wpuser")
              .replace("password_here", DB_PW).replace("put your unique phrase here", SALT, 1))
    tree.write("/etc/wordpress/config-blog.example.com.php", config)
    _apache_site(tree, "/var/www/html")
    tree.mkdir("/var/www/html")
    _mariadb(tree)
    inv, _ = run_analyzers(tree.rootfs())
    conn = next(c for c in inv.merged.connections if c.via == "DB_HOST (WordPress)")
    assert (conn.scheme, conn.host, conn.database, conn.username) == ("mysql", "localhost", "wordpress", "wpuser")
    assert conn.unix_socket == "/run/mysqld/mysqld.sock" and conn.from_service == "apache2"
    secrets = {s.key: s for s in inv.merged.secrets if s.evidence.path == "/etc/wordpress/config-blog.example.com.php"}
    assert secrets["DB_PASSWORD"].kind == "password" and secrets["AUTH_KEY"].kind == "signing-key"
    dump = inv.merged.model_dump_json()
    assert DB_PW not in dump and SALT not in dump


def test_env_spring_and_django(tree):
    tree.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1001:1001::/srv/app:/bin/sh\n")
    tree.write("/etc/group", "root:x:0:\napp:x:1001:\n")
    tree.write("/usr/bin/python3", b"\x7fELF")
    tree.write("/usr/bin/java", b"\x7fELF")
    tree.write("/etc/systemd/system/web.service", "[Service]\nUser=app\nWorkingDirectory=/srv/app\n"
                                                  "ExecStart=/usr/bin/python3 /srv/app/manage.py runserver 8000\n"
                                                  "[Install]\nWantedBy=multi-user.target\n")
    tree.write("/etc/systemd/system/api.service", "[Service]\nUser=app\nWorkingDirectory=/opt/api\n"
                                                  "ExecStart=/usr/bin/java -jar /opt/api/api.jar\n"
                                                  "[Install]\nWantedBy=multi-user.target\n")
    tree.enable("web.service", unit_dir="/etc/systemd/system")
    tree.enable("api.service", unit_dir="/etc/systemd/system")
    tree.write("/srv/app/manage.py", "import os\n")
    tree.write("/srv/app/mysite/settings.py", """
import os
SECRET_KEY = 'dj-secret-key-123456'
DEBUG = False
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'mysite', 'USER': 'mysite', 'PASSWORD': 'Dj-db-S3cret',
        'HOST': 'localhost', 'PORT': '5432',
    },
    'legacy': {'ENGINE': 'django.db.backends.mysql', 'NAME': 'old', 'USER': 'old', 'PASSWORD': os.environ['X']},
}
""")
    tree.write("/srv/app/.env", "DB_CONNECTION=mysql\nDB_HOST=127.0.0.1\nDB_PORT=3307\nDB_DATABASE=laravel\n"
                                "DB_USERNAME=lara\nDB_PASSWORD=Lara-S3cret\nMAIL_PASSWORD=Mail-S3cret\n")
    tree.write("/opt/api/api.jar", b"PK")
    tree.write("/opt/api/config/application.properties",
               "spring.datasource.url=jdbc:postgresql://db:5432/orders\nspring.datasource.username=orders\n"
               "spring.datasource.password=Spring-S3cret\nserver.port=8081\n")
    tree.write("/opt/api/application.yml", "spring:\n  datasource:\n    url: jdbc:mysql://10.0.0.9:3306/inv\n"
                                           "    password: Yaml-S3cret\n")
    inv, _ = run_analyzers(tree.rootfs())
    conns = {(c.from_service, c.scheme, c.host, c.port, c.database) for c in inv.merged.connections}
    assert ("web", "postgresql", "localhost", 5432, "mysite") in conns
    assert ("web", "mysql", "localhost", 3306, "old") in conns  # HOST unset: the socket
    assert ("web", "mysql", "127.0.0.1", 3307, "laravel") in conns
    assert ("api", "jdbc:postgresql", "db", 5432, "orders") in conns
    assert ("api", "jdbc:mysql", "10.0.0.9", 3306, "inv") in conns
    keys = {(s.service, s.key) for s in inv.merged.secrets}
    assert {("web", "SECRET_KEY"), ("web", "DATABASES.default.PASSWORD"), ("web", "DB_PASSWORD"),
            ("web", "MAIL_PASSWORD"), ("api", "spring.datasource.password"),
            ("api", "spring.datasource.password")} <= keys
    dump = inv.merged.model_dump_json()
    for value in ("dj-secret-key-123456", "Dj-db-S3cret", "Lara-S3cret", "Mail-S3cret", "Spring-S3cret",
                  "Yaml-S3cret"):
        assert value not in dump


def test_one_bad_file_is_one_unknown(tree):
    _apache_site(tree, "/var/www/html")
    tree.write("/var/www/html/settings.py", "DATABASES = {\n")  # does not parse
    tree.write("/var/www/html/application.yml", "a: [unclosed\n")
    tree.write("/var/www/html/.env", "DB_PASSWORD=Env-S3cret\n")
    tree.link("/var/www/html/loop.php", "loop.php")
    inv, _ = run_analyzers(tree.rootfs())
    bad = sorted(u.path for u in inv.merged.unknowns if u.analyzer == "app_config")
    assert bad == ["/var/www/html/application.yml", "/var/www/html/settings.py"]
    assert any(s.key == "DB_PASSWORD" and s.evidence.path == "/var/www/html/.env" for s in inv.merged.secrets)


def test_large_site_reads_configuration_names_first(tree):
    _apache_site(tree, "/var/www/html")
    for i in range(450):
        tree.write(f"/var/www/html/pages/p{i:03}.php", f"<?php echo {i};\n")
    tree.write("/var/www/html/zz/deep/config.php", "<?php\ndefine('DB_PASSWORD', 'Deep-S3cret');\n")
    inv, _ = run_analyzers(tree.rootfs())
    assert any(s.key == "DB_PASSWORD" and s.evidence.path == "/var/www/html/zz/deep/config.php"
               for s in inv.merged.secrets)
    budget = [u for u in inv.merged.unknowns if u.analyzer == "app_config"]
    assert [u.path for u in budget] == ["/var/www/html"] and "451 candidate files" in budget[0].message


def test_project_directory_around_a_document_root(tree):
    """Laravel's layout: DocumentRoot /var/www/app/public, the .env one level up (read flat)."""
    _apache_site(tree, "/var/www/app/public")
    tree.write("/var/www/app/public/index.php", "<?php require __DIR__.'/../vendor/autoload.php';\n")
    tree.write("/var/www/app/.env", "APP_KEY=base64:abcdefghijkl\nDB_CONNECTION=pgsql\nDB_HOST=127.0.0.1\n"
                                    "DB_PORT=5432\nDB_DATABASE=app\nDB_USERNAME=app\nDB_PASSWORD=Lv-S3cret\n")
    tree.write("/var/www/app/storage/secret/.env", "DB_PASSWORD=Not-read-flat\n")
    inv, _ = run_analyzers(tree.rootfs())
    conn = next(c for c in inv.merged.connections if c.evidence.path == "/var/www/app/.env")
    assert (conn.scheme, conn.host, conn.port, conn.database, conn.from_service) == \
        ("postgresql", "127.0.0.1", 5432, "app", "apache2")
    assert {s.key for s in inv.merged.secrets if s.evidence.path == "/var/www/app/.env"} == {"APP_KEY", "DB_PASSWORD"}
    assert not any(s.evidence.path.startswith("/var/www/app/storage") for s in inv.merged.secrets)
