from migrate.analyzers.apache import ApacheAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer


def test_debian_layout(tree, run):
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
    assert {p.port for p in f.ports} == {80, 443}
    assert {(c.host, c.port) for c in f.connections} == {("127.0.0.1", 8000), ("10.0.0.2", 8080), ("10.0.0.3", 8080)}
    assert [p.path for p in f.persistent_paths] == ["/var/www/shop"]
    assert f.services[0].name == "apache2" and f.services[0].role == "apache"
    assert not f.unknowns


def test_rhel_layout_and_missing_include(tree, run):
    tree.write("/etc/httpd/conf/httpd.conf", "ServerRoot /etc/httpd\nListen 0.0.0.0:8080\nInclude conf.d/missing.conf\n"
                                             "IncludeOptional conf.d/*.conf\nDocumentRoot \"/var/www/html\"\n")
    f, _ = run(tree, ApacheAnalyzer())
    assert [(p.address, p.port) for p in f.ports] == [(None, 8080)]
    assert f.services[0].name == "httpd" and "missing" in f.unknowns[0].message
