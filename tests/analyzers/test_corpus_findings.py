"""Analyzer rules added because a corpus stack failed without them (docs/fidelity.md): each on a
small guest tree, so the rule is checked without building the corpus VM."""

from __future__ import annotations

from migrate.analyzers.nginx import NginxAnalyzer
from migrate.analyzers.tomcat import TomcatAnalyzer

CATALINA_PROPERTIES = ('common.loader="${catalina.base}/lib","${catalina.base}/lib/*.jar","${catalina.home}/lib",'
                       '"${catalina.home}/lib/*.jar"\nserver.loader=\n')


def test_tomcat_jars_of_catalina_base_lib_are_used_files(tree, run):
    """corpus-tomcat: postgresql.jar linked into CATALINA_BASE/lib was left out of the image and the
    DataSource failed with ClassNotFoundException org.postgresql.Driver."""
    tree.write("/etc/tomcat10/server.xml", '<Server><Service name="Catalina"><Connector port="8080"/>'
                                           '<Engine name="Catalina"><Host name="localhost" appBase="webapps"/>'
                                           "</Engine></Service></Server>")
    tree.write("/etc/tomcat10/catalina.properties", CATALINA_PROPERTIES)
    tree.link("/var/lib/tomcat10/conf", "/etc/tomcat10")
    tree.write("/usr/share/java/postgresql-42.5.5.jar", b"PK\x03\x04jar")
    tree.link("/usr/share/java/postgresql.jar", "postgresql-42.5.5.jar")
    tree.link("/var/lib/tomcat10/lib/postgresql.jar", "/usr/share/java/postgresql.jar")
    tree.link("/var/lib/tomcat10/lib/dangling.jar", "/usr/share/java/gone.jar")
    tree.write("/usr/share/tomcat10/lib/catalina.jar", b"PK")  # CATALINA_HOME: the package's, not listed
    f, _ = run(tree, TomcatAnalyzer())
    svc = f.services[0]
    assert "/var/lib/tomcat10/lib/postgresql.jar" in svc.uses_files
    assert "/var/lib/tomcat10/lib/dangling.jar" not in svc.uses_files, "a dangling link is nothing to carry"
    assert not any(p.startswith("/usr/share/tomcat10/") for p in svc.uses_files)
    libs = [c for c in f.configs if c.kind == "tomcat-lib"]
    assert [c.path for c in libs] == ["/var/lib/tomcat10/lib/postgresql.jar"]


def test_tomcat_without_catalina_properties_has_no_libs(tree, run):
    tree.write("/etc/tomcat10/server.xml", '<Server><Service name="C"><Connector port="8080"/></Service></Server>')
    tree.write("/var/lib/tomcat10/lib/x.jar", b"PK")
    f, _ = run(tree, TomcatAnalyzer())
    assert not [c for c in f.configs if c.kind == "tomcat-lib"]


def test_nginx_certificates_are_configs_not_secrets(tree, run):
    """corpus-nginx-tls: nginx exited with 'cannot load certificate' since only the key was carried."""
    tree.write("/etc/nginx/nginx.conf", "events {}\nhttp {\n include sites-enabled/*;\n}\n")
    tree.write("/etc/nginx/sites-enabled/tls", """server {
    listen 443 ssl;
    ssl_certificate     /etc/ssl/certs/site.crt;
    ssl_certificate_key /etc/ssl/private/site.key;
    ssl_dhparam         dhparam.pem;
    ssl_trusted_certificate /etc/ssl/certs/$host.pem;
}
""")
    tree.write("/etc/ssl/certs/site.crt", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n")
    tree.write("/etc/ssl/private/site.key", "-----BEGIN PRIVATE KEY-----\nMIIKEY\n-----END PRIVATE KEY-----\n")
    f, _ = run(tree, NginxAnalyzer())
    kinds = {c.path: c.kind for c in f.configs}
    assert kinds["/etc/ssl/certs/site.crt"] == "ssl-certificate"
    assert kinds["/etc/ssl/private/site.key"] == "ssl-certificate-key"
    assert not any("$" in p for p in kinds), "a certificate named per request ($host) is not one file"
    assert not any(p.endswith("dhparam.pem") for p in kinds), "a file that does not exist is not carried"
    assert {s.evidence.path for s in f.secrets} == {"/etc/ssl/private/site.key"}, "a certificate is no secret"
