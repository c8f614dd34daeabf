import pytest

from migrate.analyzers.base import NotApplicable
from migrate.analyzers.cron import CronAnalyzer
from migrate.analyzers.rc_local import RcLocalAnalyzer
from migrate.analyzers.systemd import SystemdAnalyzer
from migrate.analyzers.sysv import SysVAnalyzer

INIT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          legacyd
# Required-Start:    $network $remote_fs
# Default-Start:     2 3 4 5
# Short-Description: Legacy daemon
### END INIT INFO
DAEMON=/opt/legacy/bin/legacyd
DAEMON_ARGS="--port 7000 --password hunter22"
"""


def test_sysv_scripts_links_and_systemd_precedence(tree, run):
    tree.write("/etc/init.d/legacyd", INIT, mode=0o755)
    tree.write("/etc/init.d/offd", "#!/bin/sh\n", mode=0o755)
    tree.write("/etc/init.d/nginx", "#!/bin/sh\n", mode=0o755)
    tree.write("/etc/init.d/sshalias", "#!/bin/sh\n", mode=0o755)
    tree.write("/lib/systemd/system/nginx.service", "[Service]\nExecStart=/usr/sbin/nginx\n")
    tree.write("/lib/systemd/system/ssh.service", "[Service]\nExecStart=/usr/sbin/sshd\n[Install]\n"
                                                  "Alias=sshalias.service\n")
    tree.link("/etc/systemd/system/sshalias.service", "/lib/systemd/system/ssh.service")
    for level in "2345":
        tree.link(f"/etc/rc{level}.d/S01legacyd", "../init.d/legacyd")
        tree.link(f"/etc/rc{level}.d/K01offd", "../init.d/offd")
    f, _ = run(tree, SysVAnalyzer(), SystemdAnalyzer())
    svc = {s.name: s for s in f.services}
    assert set(svc) == {"legacyd", "offd"}
    legacy = svc["legacyd"]
    assert (legacy.manager, legacy.state, legacy.description) == ("sysv", "enabled", "Legacy daemon")
    assert legacy.exec_start == ["/opt/legacy/bin/legacyd", "--port", "7000", "--password", "****"]
    assert legacy.after == ["network", "remote_fs"]
    assert svc["offd"].state == "disabled"
    assert "hunter22" not in f.model_dump_json()


def test_rc_local(tree, run):
    tree.write("/etc/rc.local", "#!/bin/sh -e\n# boot stuff\n/opt/tool/start.sh --token abc123 &\nexit 0\n",
               mode=0o755)
    f, _ = run(tree, RcLocalAnalyzer())
    svc = f.services[0]
    assert (svc.name, svc.manager, svc.state) == ("rc.local", "rc.local", "enabled")
    assert svc.exec_start[:3] == ["/opt/tool/start.sh", "--token", "****"]
    assert "abc123" not in f.model_dump_json()


def test_rc_local_only_exit_is_not_applicable(tree, run):
    tree.write("/etc/rc.local", "#!/bin/sh\nexit 0\n")
    with pytest.raises(NotApplicable):
        run(tree, RcLocalAnalyzer())


def test_cron_everywhere(tree, run):
    tree.write("/etc/crontab", "SHELL=/bin/sh\nPATH=/usr/bin\n17 * * * * root cd / && run-parts --report "
                               "/etc/cron.hourly\n30 2 * * 0 root /usr/local/bin/weekly.sh\n")
    tree.write("/etc/cron.d/backup", "MAILTO=root\n@daily postgres pg_dump -d postgresql://app:Pw0rd@db/app "
                                     "> /srv/dump.sql\n0 4 * * * root mysqldump -uroot -pTopS3cret app\n")
    tree.write("/etc/cron.d/backup.dpkg-old", "* * * * * root /ignored\n")
    tree.write("/var/spool/cron/crontabs/shop", "# m h dom mon dow command\n*/5 * * * * /opt/shop/bin/tick\n")
    tree.write("/etc/cron.daily/logrotate", "#!/bin/sh\n", mode=0o755)
    tree.write("/etc/cron.daily/.placeholder", "")
    tree.write("/etc/anacrontab", "SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n"
                                  "7 10 shop.weekly /opt/shop/bin/weekly\n")
    f, _ = run(tree, CronAnalyzer())
    jobs = {(j.source, j.schedule, j.user, j.command) for j in f.jobs}
    assert ("crontab", "30 2 * * 0", "root", "/usr/local/bin/weekly.sh") in jobs
    assert ("user-crontab", "*/5 * * * *", "shop", "/opt/shop/bin/tick") in jobs
    assert ("cron-periodic", "@daily", "root", "/etc/cron.daily/logrotate") in jobs
    assert ("anacron", "period 7 delay 10", "root", "/opt/shop/bin/weekly") in jobs
    assert ("cron.d", "@daily", "postgres", "pg_dump -d postgresql://app:****@db/app > /srv/dump.sql") in jobs
    assert ("cron.d", "0 4 * * *", "root", "mysqldump -uroot -p**** app") in jobs
    assert len(f.jobs) == 6
    assert f.connections[0].from_service is None and f.connections[0].host == "db"
    dump = f.model_dump_json()
    assert "Pw0rd" not in dump and "TopS3cret" not in dump


def test_vendor_masked_units_hide_their_init_scripts(tree, run):
    tree.write("/etc/init.d/hwclock.sh", "#!/bin/sh\n", mode=0o755)
    tree.write("/etc/init.d/sudo", "#!/bin/sh\n", mode=0o755)
    tree.link("/lib/systemd/system/sudo.service", "/dev/null")
    sysd, ctx = run(tree, SystemdAnalyzer())
    assert not sysd.services
    f = SysVAnalyzer().run(ctx)
    assert not f.services
