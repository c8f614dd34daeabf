"""Built-in analyzers: an explicit, greppable list. Third-party analyzers come in through the
``migrate.analyzers`` entry-point group (see ``builtin_analyzers``)."""

from __future__ import annotations

if __name__ != "migrate.analyzers":  # the source folder is `analyzers/`, the package is migrate.analyzers
    raise ImportError("import migrate.analyzers, not analyzers: two copies of one module break isinstance checks")

from importlib.metadata import entry_points

from migrate.analyzers.apache import ApacheAnalyzer
from migrate.analyzers.app import AppAnalyzer
from migrate.analyzers.app_config import AppConfigAnalyzer
from migrate.analyzers.base import Analyzer
from migrate.analyzers.bind import BindAnalyzer
from migrate.analyzers.cron import CronAnalyzer
from migrate.analyzers.fstab import FstabAnalyzer
from migrate.analyzers.haproxy import HaproxyAnalyzer
from migrate.analyzers.iis import IISAnalyzer
from migrate.analyzers.lighttpd import LighttpdAnalyzer
from migrate.analyzers.memcached import MemcachedAnalyzer
from migrate.analyzers.mosquitto import MosquittoAnalyzer
from migrate.analyzers.mssql import MssqlAnalyzer
from migrate.analyzers.mysql import MysqlAnalyzer
from migrate.analyzers.network import NetworkAnalyzer
from migrate.analyzers.nginx import NginxAnalyzer
from migrate.analyzers.os_release import OSReleaseAnalyzer
from migrate.analyzers.packages_apk import ApkAnalyzer
from migrate.analyzers.packages_dpkg import DpkgAnalyzer
from migrate.analyzers.packages_pacman import PacmanAnalyzer
from migrate.analyzers.packages_rpm import RpmAnalyzer
from migrate.analyzers.php_fpm import PhpFpmAnalyzer
from migrate.analyzers.postgresql import PostgresqlAnalyzer
from migrate.analyzers.prometheus import PrometheusAnalyzer
from migrate.analyzers.rc_local import RcLocalAnalyzer
from migrate.analyzers.redis import RedisAnalyzer
from migrate.analyzers.slapd import SlapdAnalyzer
from migrate.analyzers.sshd import SshdAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer
from migrate.analyzers.sysv import SysVAnalyzer
from migrate.analyzers.tomcat import TomcatAnalyzer
from migrate.analyzers.users_groups import UsersGroupsAnalyzer
from migrate.analyzers.varnish import VarnishAnalyzer
from migrate.analyzers.windows_programs import WindowsProgramsAnalyzer
from migrate.analyzers.windows_registry import WindowsRegistryAnalyzer
from migrate.analyzers.windows_services import WindowsServicesAnalyzer

BUILTIN: list[type[Analyzer]] = [
    # the guest itself
    OSReleaseAnalyzer,
    DpkgAnalyzer,
    RpmAnalyzer,
    ApkAnalyzer,
    PacmanAnalyzer,
    UsersGroupsAnalyzer,
    FstabAnalyzer,
    NetworkAnalyzer,
    # what runs
    SystemdAnalyzer,
    SysVAnalyzer,
    RcLocalAnalyzer,
    CronAnalyzer,
    # per application
    NginxAnalyzer,
    ApacheAnalyzer,
    PostgresqlAnalyzer,
    MysqlAnalyzer,
    RedisAnalyzer,
    MemcachedAnalyzer,
    TomcatAnalyzer,
    PhpFpmAnalyzer,
    LighttpdAnalyzer,
    HaproxyAnalyzer,
    VarnishAnalyzer,
    BindAnalyzer,
    SlapdAnalyzer,
    MosquittoAnalyzer,
    PrometheusAnalyzer,
    SshdAnalyzer,
    AppAnalyzer,
    AppConfigAnalyzer,
    # Windows guests (the registry identifies them; the rest apply to family windows only)
    WindowsRegistryAnalyzer,
    WindowsServicesAnalyzer,
    WindowsProgramsAnalyzer,
    IISAnalyzer,
    MssqlAnalyzer,
]


def builtin_analyzers(*, include_plugins: bool = True) -> list[Analyzer]:
    classes = list(BUILTIN)
    if include_plugins:
        for ep in sorted(entry_points(group="migrate.analyzers"), key=lambda e: e.name):
            classes.append(ep.load())
    instances = [cls() for cls in classes]
    names = [a.name for a in instances]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate analyzer names: {', '.join(dupes)}")
    return instances
