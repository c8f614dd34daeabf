"""The one table of services that belong to the virtual machine rather than to the application.

Analyzers mark such services ``vm_only`` with the reason (inventory); the planner leaves them out of
the stack with the same reason. Kind modules add patterns of their own through ``Kind.vm_only``.
"""

from __future__ import annotations

import re
from functools import cache

RULES: list[tuple[str, str]] = [
    (r"(ssh|sshd|dropbear|openssh.*)(@.*)?", "remote shell access to the VM; containers are reached with docker exec"),
    (r"(getty|serial-getty|console-getty|container-getty|autovt|agetty)(@.*)?", "login console of the VM"),
    (r"systemd-udevd|udev|systemd-udev-.*", "device manager of the VM"),
    (r"cron|crond|cronie|anacron|atd|fcron", "job scheduler of the VM; its jobs are reported as scheduled jobs"),
    (r"systemd-timesyncd|chrony|chronyd|ntp|ntpd|ntpsec|openntpd", "time synchronisation is the host's job"),
    (r"systemd-journald.*|journald", "the journal; containers log to stdout"),
    (r"cloud-init|cloud-init-local|cloud-config|cloud-final|cloud-init-hotplugd|cloud-.*", "VM provisioning"),
    (r"rsyslog|syslog|syslog-ng|sysklogd|klogd|inetutils-syslogd", "system logger; containers log to stdout"),
    (r"networking|network|NetworkManager.*|systemd-networkd.*|systemd-resolved|ifup@.*|ifupdown-.*|wpa_supplicant.*"
     r"|dhcpcd|dhclient|networkd-dispatcher|netplan-.*", "network configuration of the VM"),
    (r"dbus|dbus-broker|dbus-org\..*|polkit|accounts-daemon|logind", "system message bus and logins of the VM"),
    (r"qemu-guest-agent|open-vm-tools|vmtoolsd|vgauth|hv-kvp-daemon|hv-vss-daemon|waagent|walinuxagent"
     r"|google-guest-agent|amazon-ssm-agent|xe-linux-distribution", "hypervisor guest agent"),
    (r"lvm2-.*|mdmonitor|mdadm.*|multipathd|blk-availability|dm-event|iscsid|open-iscsi|smartd|smartmontools"
     r"|e2scrub.*|fstrim|nfs-.*|rpcbind|zfs-.*", "storage management of the VM"),
    (r"apparmor|auditd|selinux-.*|firewalld|ufw|iptables|ip6tables|nftables|netfilter-persistent|fail2ban",
     "host security and firewall"),
    (r"kmod.*|keyboard-setup|console-setup|setvtrgb|plymouth.*|irqbalance|haveged|rng-tools.*|rngd|acpid|thermald"
     r"|lm-sensors|procps|sysstat|cpufrequtils|tuned|microcode.*|emergency|rescue|kexec.*|kdump|grub-.*"
     r"|user@.*|user-runtime-dir@.*|debug-shell|quotaon|pppd-dns", "boot and hardware management of the VM"),
    (r"apt-daily.*|unattended-upgrades|dpkg-db-backup|man-db|logrotate|packagekit|snapd.*|dnf-makecache"
     r"|yum-cron|motd-news|update-notifier.*|ua-.*|ubuntu-advantage|landscape-.*",
     "package and housekeeping automation of the VM; rebuild images instead"),
    (r"initrd-.*|modprobe@.*|pam_namespace|system-update-cleanup|ldconfig|getty-static|postfix-instance-generator",
     "boot and hardware management of the VM"),
    (r"rc-local", "runs /etc/rc.local, which is reported as its own rc.local service"),
    (r"systemd-.*", "part of systemd itself"),
]


@cache
def _compiled() -> list[tuple[re.Pattern[str], str]]:
    from migrate.kinds import builtin_kinds

    rules = [(p, r) for k in builtin_kinds() for p, r in k.vm_only] + RULES
    return [(re.compile(p), r) for p, r in rules]


def vm_only_reason(name: str, role: str | None = None) -> str | None:
    """Why the service ``name`` (unit name, ``.service`` optional; or its analyzer role) is VM
    plumbing, or None when it may be part of the application."""
    base = name.removesuffix(".service")
    for pattern, reason in _compiled():
        if pattern.fullmatch(base) or (role and pattern.fullmatch(role)):
            return reason
    return None
