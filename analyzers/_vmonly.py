"""Services that belong to the virtual machine rather than to the application: they are reported
with ``vm_only`` and a reason so the planner leaves them out of the container stack."""

from __future__ import annotations

import re

_RULES: list[tuple[str, str]] = [
    (r"^(ssh|sshd|dropbear)(@.*)?$", "remote shell access to the VM; containers are reached with docker exec"),
    (r"^(getty|serial-getty|console-getty|container-getty|autovt)@?.*$", "login console of the VM"),
    (r"^(systemd-udevd|udev|systemd-udev-.*)$", "device manager of the VM"),
    (r"^(cron|crond|cronie|anacron|atd|fcron)$",
     "job scheduler of the VM; its jobs are reported as scheduled jobs"),
    (r"^(systemd-timesyncd|chrony|chronyd|ntp|ntpd|ntpsec|openntpd)$", "time synchronisation is the host's job"),
    (r"^systemd-journald.*$", "the journal; containers log to stdout"),
    (r"^(cloud-init|cloud-init-local|cloud-config|cloud-final|cloud-init-hotplugd)$", "VM provisioning"),
    (r"^(rsyslog|syslog|syslog-ng|sysklogd|klogd|inetutils-syslogd)$", "system logger; containers log to stdout"),
    (r"^(networking|network|NetworkManager.*|systemd-networkd.*|systemd-resolved|ifup@.*|ifupdown-.*|wpa_supplicant.*"
     r"|dhcpcd|dhclient|networkd-dispatcher|netplan-.*)$", "network configuration of the VM"),
    (r"^(dbus|dbus-broker|dbus-org\..*|polkit|accounts-daemon)$", "system message bus of the VM"),
    (r"^(qemu-guest-agent|open-vm-tools|vmtoolsd|vgauth|hv-kvp-daemon|hv-vss-daemon|waagent|walinuxagent"
     r"|google-guest-agent|amazon-ssm-agent|xe-linux-distribution)$", "hypervisor guest agent"),
    (r"^(lvm2-.*|mdmonitor|mdadm.*|multipathd|blk-availability|dm-event|iscsid|open-iscsi|smartd|smartmontools"
     r"|e2scrub.*|fstrim|nfs-.*|rpcbind|zfs-.*)$", "storage management of the VM"),
    (r"^(apparmor|auditd|selinux-.*|firewalld|ufw|iptables|ip6tables|nftables|netfilter-persistent|fail2ban)$",
     "host security and firewall"),
    (r"^(kmod.*|keyboard-setup|console-setup|setvtrgb|plymouth.*|irqbalance|haveged|rng-tools.*|acpid|thermald"
     r"|lm-sensors|procps|sysstat|cpufrequtils|tuned|microcode.*|emergency|rescue|kexec.*|grub-.*"
     r"|user@.*|user-runtime-dir@.*|debug-shell|quotaon|pppd-dns)$", "boot and hardware management of the VM"),
    (r"^(apt-daily.*|unattended-upgrades|dpkg-db-backup|man-db|logrotate|packagekit|snapd.*|dnf-makecache"
     r"|yum-cron|motd-news|update-notifier.*|ua-.*|ubuntu-advantage|landscape-.*)$",
     "package and housekeeping automation of the VM"),
    (r"^(initrd-.*|modprobe@.*|pam_namespace|system-update-cleanup|ldconfig|getty-static)$",
     "boot and hardware management of the VM"),
    (r"^rc-local$", "runs /etc/rc.local, which is reported as its own rc.local service"),
    (r"^systemd-.*$", "part of systemd itself"),
]
_COMPILED = [(re.compile(p), r) for p, r in _RULES]


def vm_only_reason(name: str) -> str | None:
    base = name[:-8] if name.endswith(".service") else name
    for pattern, reason in _COMPILED:
        if pattern.match(base):
            return reason
    return None
