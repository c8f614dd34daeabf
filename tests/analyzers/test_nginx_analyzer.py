import pytest

from migrate.analyzers.nginx import NginxAnalyzer, NginxSyntaxError, parse
from migrate.analyzers.systemd import SystemdAnalyzer
from tests.analyzers.debs import debian_package, install


def test_parser_handles_comments_quotes_and_nesting():
    tree = parse('http { # comment }\n  log_format x "a;b{c}" \'d\\\'e\';\n  server { location ~ "^/(a|b)" '
                 '{ return 200 "${host}"; } }\n}\n', "/x")
    http = tree[0]
    assert http.name == "http" and http.block[0].args == ["x", "a;b{c}", "d'e"]
    loc = http.block[1].block[0]
    assert loc.args == ["~", "^/(a|b)"] and loc.block[0].args == ["200", "${host}"]


@pytest.mark.parametrize("text", ["http {\n server {\n", "http { listen 80 }", "}", "server_name 'abc;\n",
                                  "events {} worker 1"])
def test_parser_rejects_broken_configs(text):
    with pytest.raises(NginxSyntaxError):
        parse(text, "/x")


def test_listen_forms_upstreams_and_targets(tree, run):
    tree.write("/etc/nginx/nginx.conf", "events {}\nhttp {\n include conf.d/*.conf;\n include sites-enabled/*;\n}\n"
                                        "stream {\n server { listen 5433; proxy_pass 10.0.0.5:5432; }\n}\n")
    tree.write("/etc/nginx/conf.d/api.conf", """
upstream api { server 10.0.0.7:9000; server backend.local:9001 backup; }
server {
    listen 127.0.0.1:8443 ssl http2;
    listen [::1]:8443 ssl;
    listen unix:/run/nginx-api.sock;
    server_name api.example.com;
    ssl_certificate_key /etc/ssl/private/api.key;
    location / { proxy_pass https://api/v1/; }
    location /php { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }
    location /dyn { proxy_pass http://$backend; }
}
""")
    tree.write("/etc/ssl/private/api.key", "-----BEGIN PRIVATE KEY-----\nMIIKEYDATA\n-----END PRIVATE KEY-----\n")
    tree.write("/etc/nginx/sites-available/plain", "server { server_name plain; root /srv/www/; }\n")
    tree.link("/etc/nginx/sites-enabled/plain", "../sites-available/plain")
    f, _ = run(tree, NginxAnalyzer())
    ports = {(p.proto, p.address, p.port, p.path) for p in f.ports}
    assert ports == {("tcp", "127.0.0.1", 8443, None), ("tcp", "::1", 8443, None), ("unix", None, None,
                     "/run/nginx-api.sock"), ("tcp", None, 80, None), ("tcp", None, 5433, None)}
    conns = {(c.scheme, c.host, c.port) for c in f.connections}
    assert conns == {("https", "10.0.0.7", 9000), ("https", "backend.local", 9001),
                     ("fastcgi", "unix:/run/php/php8.2-fpm.sock", None), ("http", "10.0.0.5", 5432)}
    assert any("variables" in u.message for u in f.unknowns)
    assert [p.path for p in f.persistent_paths] == ["/srv/www"]
    assert [s.kind for s in f.secrets] == ["private-key"] and "MIIKEYDATA" not in f.model_dump_json()
    assert f.services[0].role == "nginx" and f.services[0].name == "nginx"


def test_broken_site_is_an_unknown_naming_the_file(flagship, run):
    flagship.write("/etc/nginx/sites-available/broken", "server {\n  listen 8081;\n  location / {\n")
    flagship.link("/etc/nginx/sites-enabled/broken", "/etc/nginx/sites-available/broken")
    f, _ = run(flagship, NginxAnalyzer(), SystemdAnalyzer())
    assert [u.path for u in f.unknowns] == ["/etc/nginx/sites-enabled/broken"]
    assert "line 3" in f.unknowns[0].message and "/etc/nginx/sites-available/broken" in f.unknowns[0].message
    assert {p.port for p in f.ports} == {80}  # the good site is still read
    assert f.services[0].role == "nginx"


def test_broken_main_config_does_not_crash(tree, run):
    tree.write("/etc/nginx/nginx.conf", "http {\n  server { listen 80; }\n")
    f, _ = run(tree, NginxAnalyzer())
    assert f.unknowns[0].path == "/etc/nginx/nginx.conf" and "expecting" in f.unknowns[0].message
    assert not f.ports and f.services[0].role == "nginx"


def test_oversized_config_is_an_unknown(tree, run):
    tree.write("/etc/nginx/nginx.conf", "# " + "x" * (5 * 1024 * 1024))
    f, _ = run(tree, NginxAnalyzer())
    assert f.unknowns[0].path == "/etc/nginx/nginx.conf" and "read limit" in f.unknowns[0].message


def test_debian_nginx_light_with_dynamic_module_tls_and_loopback(tree, run):
    """Debian 12's real nginx configuration (nginx-common), nginx-light's binary package layout and
    libnginx-mod-http-echo, whose postinst links its conf into modules-enabled (done here the same way)."""
    common, echo = debian_package("nginx-common/bookworm"), debian_package("libnginx-mod-http-echo/bookworm")
    install(tree, common, "/etc/nginx", "/lib/systemd/system/nginx.service", "/usr/share/nginx/html",
            "/usr/share/nginx/modules")
    install(tree, echo, "/usr/share/nginx/modules-available/mod-http-echo.conf",
            "/usr/lib/nginx/modules/ngx_http_echo_module.so")
    tree.link("/etc/nginx/modules-enabled/50-mod-http-echo.conf",
              "/usr/share/nginx/modules-available/mod-http-echo.conf")
    tree.link("/etc/nginx/sites-enabled/default", "/etc/nginx/sites-available/default")
    tree.write("/etc/nginx/conf.d/tls.conf", """\
server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name shop.example.com;
    ssl_certificate /etc/ssl/certs/shop.pem;
    root /srv/shop/public;
    location /static/ { alias /srv/shop/public/static/; }
    location /media/ { alias /srv/media/; }
}
server {
    listen 127.0.0.1:8081;
    location /status { echo "ok"; }
}
""")
    for d in ("/srv/shop/public/static", "/srv/media"):
        tree.mkdir(d)
    tree.enable("nginx.service")
    f, _ = run(tree, NginxAnalyzer(), SystemdAnalyzer())
    ports = sorted((p.port, p.address or "*", p.tls) for p in f.ports)
    assert ports == [(80, "*", False), (443, "*", True), (8081, "127.0.0.1", False)]
    svc = f.services[0]
    assert [(m.kind, m.name, m.path) for m in svc.modules] == [
        ("nginx", "ngx_http_echo_module", "/usr/share/nginx/modules/ngx_http_echo_module.so")]
    assert svc.modules[0].evidence.path == "/etc/nginx/modules-enabled/50-mod-http-echo.conf"
    # the module as named and as resolved (/usr/share/nginx/modules is a link to /usr/lib/nginx/modules)
    assert {"/usr/share/nginx/modules/ngx_http_echo_module.so", "/usr/lib/nginx/modules/ngx_http_echo_module.so",
            "/etc/nginx/modules-enabled/50-mod-http-echo.conf", "/etc/nginx/mime.types",
            "/etc/nginx/conf.d/tls.conf"} <= set(svc.uses_files)
    # Debian's default site serves /var/www/html (missing here: recorded as such); /usr/share/nginx/html is
    # package data; the alias inside /srv/shop/public ships with it
    roots = {p.path: p for p in f.persistent_paths}
    assert set(roots) == {"/srv/shop/public", "/srv/media", "/var/www/html"}
    assert all(p.kind == "webroot" for p in roots.values())
    assert "alias" in roots["/srv/media"].reason and roots["/srv/media"].evidence.path == "/etc/nginx/conf.d/tls.conf"
