"""Prometheus: in the foreground already, as its own user; GET /-/ready answers once the TSDB is open."""

from __future__ import annotations

from migrate.kinds.base import Kind


class Prometheus(Kind):
    name = "prometheus"
    roles = ("prometheus",)
    executables = (r"prometheus",)
    container = "prometheus"
    packages = (r"prometheus",)
    user = "prometheus"
    weight = 2
    start_period = "30s"
    http = True
    schemes = {"prometheus": 9090}


class Exporter(Kind):
    """prometheus-*-exporter / *_exporter: a metrics endpoint over HTTP, in the foreground."""

    name = "prometheus-exporter"
    roles = ("prometheus-exporter",)
    executables = (r"prometheus-[\w-]+-exporter", r"\w+_exporter")
    packages = (r"prometheus-[\w-]+-exporter",)
    weight = 1
    start_period = "10s"
    http = True


KIND = Prometheus()
EXPORTER = Exporter()
