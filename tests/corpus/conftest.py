"""Fixtures of the corpus tests: each corpus guest as a session fixture (built once, cached by recipe
hash), plus the shared harness in tests/corpus/harness.py. Docker fixtures come from tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.images_fixtures import _sample


@pytest.fixture(scope="session")
def corpus_lamp_images():
    """Apache + mod_php 8.2 + MariaDB + memcached on MBR + LVM: vmdk (monolithicSparse), vdi."""
    return _sample("corpus-lamp")


@pytest.fixture(scope="session")
def corpus_tomcat_images():
    """Tomcat 10 + WAR + JDBC DataSource → PostgreSQL 15 on a second whole-disk xfs: vhdx, vhdx-2."""
    return _sample("corpus-tomcat")


@pytest.fixture(scope="session")
def corpus_nginx_tls_images():
    """nginx-light + echo module + TLS → Flask/gunicorn → PostgreSQL 15 + Redis on GPT: compressed qcow2."""
    return _sample("corpus-nginx-tls")


@pytest.fixture(scope="session")
def corpus_lemp_images():
    """nginx + PHP-FPM 8.2 + MariaDB, lighttpd static site; MBR ext4 + whole-disk xfs data disk: vhdx, vhdx-data."""
    return _sample("corpus-lemp")


@pytest.fixture(scope="session")
def corpus_edge_images():
    """Varnish → HAProxy → two Node.js app servers → Redis; GPT + LVM with an xfs root: vdi."""
    return _sample("corpus-edge")


@pytest.fixture(scope="session")
def corpus_infra_images():
    """BIND 9, OpenLDAP (slapd), Mosquitto, Prometheus + node exporter; MBR + LVM (ext4, xfs): vhd, ova."""
    return _sample("corpus-infra")
