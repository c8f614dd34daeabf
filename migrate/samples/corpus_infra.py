"""corpus-infra: BIND 9 serving a zone, OpenLDAP (slapd) with entries, Mosquitto with a password file
and a retained message, Prometheus scraping prometheus-node-exporter.

slapd is configured the way Debian's postinst does it (its own slapd.init.ldif template, a
slappasswd hash, ``slapadd -n0`` then ``slapadd -n1`` for the entries) and then started in the
build chroot on an ldapi:// socket only, so the facts hold what ldapsearch really answered. Mosquitto
is started the same way on a Unix-socket listener to publish a retained message, which it writes to
its persistence file on shutdown. BIND's zone is checked with named-checkzone. MBR with /boot and an
LVM PV (ext4 root, xfs /var); exported as a dynamic VHD and as an OVA.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from migrate.samples import _corpus, _corpus_b, _corpus_disk, export
from migrate.samples._common import Progress, SampleBuildError, _noop
from migrate.samples._corpus import base_identity, corpus_recipe, ids, write
from migrate.samples._corpus_b import CORPUS_B_PACKAGES, chroot_daemon, keep_only
from migrate.samples._corpus_disk import Volume
from migrate.samples.debootstrap import chroot, chroot_mounts

HOSTNAME = "infra-dns01"
LDAP_ADMIN_PASSWORD = "Ld-1nfra-Adm1n-S3cret"
MQTT_USER, MQTT_PASSWORD = "sensor", "Mq-s3nsor-S3cret"
DISK_BYTES = 3 * 1024**3
BOOT_UUID = "5e9fb064-8b5f-4d42-be75-af6bc24dbe31"
ROOT_UUID = "6fa0c175-9c60-4e53-8f86-b07cd35ecf32"
VOLUMES = [
    Volume("/boot", "ext4", 200, "infra-boot", BOOT_UUID),
    Volume("/", "ext4", 1900, "infra-root", ROOT_UUID, lv="root"),
    Volume("/var", "xfs", 700, "infra-var", lv="var"),
]
PACKAGES = ["bind9", "bind9-dnsutils", "slapd", "ldap-utils", "mosquitto", "mosquitto-clients", "prometheus",
            "prometheus-node-exporter"]  # fmt: skip
KEEP = {"named.service", "slapd.service", "mosquitto.service", "prometheus.service",
        "prometheus-node-exporter.service", "ssh.service", "cron.service"}  # fmt: skip

ZONE = "corp.example"
SERIAL = 2024120101
RECORDS = {"ns1": "10.30.0.2", "www": "10.30.0.10", "ldap": "10.30.0.11", "mqtt": "10.30.0.12",
           "metrics": "10.30.0.13"}  # fmt: skip
ZONE_FILE = f"""$TTL 3600
@\tIN\tSOA\tns1.{ZONE}. hostmaster.{ZONE}. ( {SERIAL} 3600 900 604800 300 )
@\tIN\tNS\tns1.{ZONE}.
@\tIN\tTXT\t"corp directory and telemetry"
""" + "".join(f"{name}\tIN\tA\t{addr}\n" for name, addr in RECORDS.items()) + "intranet\tIN\tCNAME\twww\n"

SUFFIX = "dc=corp,dc=example"
PEOPLE = [("adupont", "Alice", "Dupont"), ("bmartin", "Bruno", "Martin"), ("cleroy", "Chloe", "Leroy"),
          ("dmoreau", "David", "Moreau"), ("egarnier", "Emma", "Garnier")]  # fmt: skip
MQTT_TOPIC, MQTT_MESSAGE = "corp/status", "infra-dns01 online"

PROMETHEUS_YML = """global:
  scrape_interval: 5s
  evaluation_interval: 15s

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
  - job_name: node
    static_configs:
      - targets: ['localhost:9100']
"""


def _data_ldif() -> str:
    out = [f"dn: {SUFFIX}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: Corp\ndc: corp\n",
           f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n"]  # fmt: skip
    for i, (uid, given, sn) in enumerate(PEOPLE):
        out.append(f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {sn}\n"
                   f"givenName: {given}\nsn: {sn}\nmail: {uid}@corp.example\nemployeeNumber: {1001 + i}\n")  # fmt: skip
    return "\n".join(out)


def _bind(tree: Path) -> str:
    write(tree, f"/etc/bind/db.{ZONE}", ZONE_FILE)
    write(tree, "/etc/bind/named.conf.local",
          f'// corp zone, primary\nzone "{ZONE}" {{\n\ttype master;\n\tfile "/etc/bind/db.{ZONE}";\n'
          '\tallow-transfer { none; };\n};\n')  # fmt: skip
    opts = tree / "etc/bind/named.conf.options"
    text = opts.read_text()
    if "recursion" not in text:
        text = text.replace("listen-on-v6 { any; };", "listen-on-v6 { any; };\n\trecursion no;")
    opts.write_text(text)
    return chroot(tree, ["named-checkzone", ZONE, f"/etc/bind/db.{ZONE}"]).decode()


def _slapd(tree: Path, progress: Progress) -> str:
    progress("slapd: cn=config from Debian's template, entries with slapadd, ldapsearch over ldapi://")
    hashed = chroot(tree, ["slappasswd", "-s", LDAP_ADMIN_PASSWORD]).decode().strip()
    if not hashed.startswith("{SSHA}"):
        raise SampleBuildError("slappasswd did not return an {SSHA} hash")
    init = (tree / "usr/share/slapd/slapd.init.ldif").read_text()
    write(tree, "/tmp/config.ldif", init.replace("@SUFFIX@", SUFFIX).replace("@PASSWORD@", hashed))
    write(tree, "/tmp/data.ldif", _data_ldif())
    for d in ("etc/ldap/slapd.d", "var/lib/ldap"):
        shutil.rmtree(tree / d, ignore_errors=True)
        (tree / d).mkdir()
    chroot(tree, ["slapadd", "-n0", "-F", "/etc/ldap/slapd.d", "-l", "/tmp/config.ldif"])
    chroot(tree, ["slapadd", "-n1", "-F", "/etc/ldap/slapd.d", "-l", "/tmp/data.ldif"])
    chroot(tree, ["chown", "-R", "openldap:openldap", "/etc/ldap/slapd.d", "/var/lib/ldap"])
    sock = "/tmp/slapd-build.sock"
    uri = "ldapi://" + sock.replace("/", "%2F")
    (tree / "run/slapd").mkdir(parents=True, exist_ok=True)
    chroot(tree, ["chown", "openldap:openldap", "/run/slapd"])
    with chroot_mounts(tree), chroot_daemon(
        tree, ["slapd", "-d", "0", "-h", uri, "-u", "openldap", "-g", "openldap", "-F", "/etc/ldap/slapd.d"],
        ready=tree / sock.lstrip("/"),
    ):  # fmt: skip
        answer = chroot(tree, ["ldapsearch", "-x", "-LLL", "-H", uri, "-b", f"ou=people,{SUFFIX}",
                               "(objectClass=inetOrgPerson)", "uid"]).decode()  # fmt: skip
    for p in ("tmp/config.ldif", "tmp/data.ldif", sock.lstrip("/")):
        (tree / p).unlink(missing_ok=True)
    uids = sorted(re.findall(r"^uid: (\S+)$", answer, re.M))
    if uids != sorted(u for u, _, _ in PEOPLE):
        raise SampleBuildError(f"ldapsearch in the build chroot found {uids}")
    return answer


def _mosquitto(tree: Path, progress: Progress) -> None:
    progress("mosquitto: password file, retained message through the real broker")
    write(tree, "/etc/mosquitto/conf.d/corp.conf",
          "per_listener_settings false\nlistener 1883\nallow_anonymous false\npassword_file /etc/mosquitto/passwd\n")
    write(tree, "/etc/mosquitto/passwd", "", 0o640)
    chroot(tree, ["mosquitto_passwd", "-b", "/etc/mosquitto/passwd", MQTT_USER, MQTT_PASSWORD])
    chroot(tree, ["chown", "root:mosquitto", "/etc/mosquitto/passwd"])
    sock = "/tmp/mosquitto-build.sock"
    write(tree, "/tmp/mosquitto-build.conf",
          f"per_listener_settings false\nlistener 0 {sock}\nallow_anonymous false\n"
          "password_file /etc/mosquitto/passwd\n"
          "persistence true\npersistence_location /var/lib/mosquitto/\nuser mosquitto\nlog_dest stderr\n")  # fmt: skip
    with chroot_mounts(tree), chroot_daemon(tree, ["mosquitto", "-c", "/tmp/mosquitto-build.conf"],
                                            ready=tree / sock.lstrip("/")):  # fmt: skip
        chroot(tree, ["mosquitto_pub", "--unix", sock, "-u", MQTT_USER, "-P", MQTT_PASSWORD, "-q", "1", "-r",
                      "-t", MQTT_TOPIC, "-m", MQTT_MESSAGE])  # fmt: skip
    for p in ("tmp/mosquitto-build.conf", sock.lstrip("/")):
        (tree / p).unlink(missing_ok=True)
    if not (tree / "var/lib/mosquitto/mosquitto.db").exists():
        raise SampleBuildError("mosquitto wrote no persistence file")


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    base_identity(tree, HOSTNAME, "1f4a0000c0ffee00000000000000c003",
                  "/dev/mapper/infravg-root /     ext4 errors=remount-ro 0 1\n"
                  f"UUID={BOOT_UUID} /boot ext4 defaults 0 2\n"
                  "LABEL=infra-var /var xfs defaults 0 2\n")  # fmt: skip
    pruned = keep_only(tree, PACKAGES, KEEP, progress)
    zone_check = _bind(tree)
    ldap_answer = _slapd(tree, progress)
    _mosquitto(tree, progress)
    write(tree, "/etc/prometheus/prometheus.yml", PROMETHEUS_YML)
    write(tree, "/etc/default/prometheus",
          'ARGS="--config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/metrics2/ '
          '--storage.tsdb.retention.time=15d"\n')  # fmt: skip
    _corpus.finish_tree(tree)
    uid, _ = ids(tree, "prometheus")
    return {
        "hostname": HOSTNAME,
        "services": {
            "named": {"unit": "named.service", "ports": [53], "enabled": True, "zone": ZONE},
            "slapd": {"unit": "slapd.service", "ports": [389], "enabled": True, "manager": "sysv",
                      "suffix": SUFFIX, "data": "/var/lib/ldap"},
            "mosquitto": {"unit": "mosquitto.service", "ports": [1883], "enabled": True,
                          "password_file": "/etc/mosquitto/passwd", "data": "/var/lib/mosquitto"},
            "prometheus": {"unit": "prometheus.service", "ports": [9090], "enabled": True, "user": "prometheus",
                           "data": "/var/lib/prometheus/metrics2"},
            "prometheus-node-exporter": {"unit": "prometheus-node-exporter.service", "ports": [9100],
                                         "enabled": True},
        },  # fmt: skip
        "kinds": ["bind9", "slapd", "mosquitto", "prometheus", "prometheus-node-exporter"],
        "ports": {"named": 53, "slapd": 389, "mosquitto": 1883, "prometheus": 9090, "prometheus-node-exporter": 9100},
        "users": {"prometheus": {"uid": uid}},
        **pruned,
        "packages": sorted(PACKAGES),
        "passwords": {"slapd": LDAP_ADMIN_PASSWORD, "mosquitto": MQTT_PASSWORD},
        "secrets": [LDAP_ADMIN_PASSWORD, MQTT_PASSWORD],
        "probes": {
            "dns": {"service": "named", "port": 53, "zone": ZONE, "serial": SERIAL,
                    "a": {f"{k}.{ZONE}": v for k, v in RECORDS.items()}, "build_check": zone_check},
            "ldap": {"service": "slapd", "port": 389, "base": f"ou=people,{SUFFIX}",
                     "uids": sorted(u for u, _, _ in PEOPLE),
                     "cn": {u: f"{g} {s}" for u, g, s in PEOPLE}, "build_answer": ldap_answer},
            "mqtt": {"service": "mosquitto", "port": 1883, "user": MQTT_USER, "password": MQTT_PASSWORD,
                     "retained": {MQTT_TOPIC: MQTT_MESSAGE}},
            "prometheus": {"service": "prometheus", "port": 9090, "jobs": ["node", "prometheus"],
                           "node_target": "localhost:9100"},
        },  # fmt: skip
        "partition_table": "dos",
        "lvm": {"vg": "infravg", "lvs": {v.lv: v.size_mb * 1024 * 1024 for v in VOLUMES if v.lv}},
        "fstab": {"/": "/dev/mapper/infravg-root", "/boot": f"UUID={BOOT_UUID}", "/var": "LABEL=infra-var"},
        "filesystems": {v.mountpoint: v.fstype for v in VOLUMES},
        "vm": {"name": HOSTNAME, "cpus": 2, "memory_mb": 1536},
    }


def make_disks(tree: Path, out: Path, progress: Progress = _noop) -> dict[str, Any]:
    parts = _corpus_disk.fill_trees(tree, VOLUMES, out / "work" / "parts")
    layout = _corpus_disk.partitioned_disk(parts, out / "disk.raw", DISK_BYTES, VOLUMES, table="dos", vg="infravg",
                                           progress=progress)  # fmt: skip
    return {"raw": out / "disk.raw", "layout": layout}


def export_disks(out: Path, disks: dict[str, Any], progress: Progress = _noop) -> dict[str, Path]:
    progress("exporting a dynamic VHD and an OVA (streamOptimized VMDK)")
    files = export.convert_many(disks["raw"], {
        "vhd": (out / "infra-dns01.vhd", ["-O", "vpc", "-o", "subformat=dynamic,force_size=on"]),
        "vmdk-stream": (out / "infra-dns01-disk1.vmdk", ["-O", "vmdk", "-o", "subformat=streamOptimized"]),
    })  # fmt: skip
    files["ova"] = export.make_ova(out / "infra-dns01.ova", vm_name=HOSTNAME, vmdk=files.pop("vmdk-stream"),
                                   capacity=DISK_BYTES, cpus=2, memory_mb=1536,
                                   os_description="Debian GNU/Linux 12 (bookworm) 64-bit")  # fmt: skip
    (out / "infra-dns01-disk1.vmdk").unlink()
    files["raw"] = disks["raw"]
    return files


RECIPE = corpus_recipe(
    "corpus-infra",
    "Debian 12: BIND 9 zone, OpenLDAP entries, Mosquitto (password file, retained message), "
                "Prometheus + node exporter; MBR + LVM (ext4, xfs); VHD and OVA",
    PACKAGES, union=CORPUS_B_PACKAGES, plumbing=(_corpus_b, _corpus_disk), customise=customise,
    make_disks=make_disks, export=export_disks, disk=DISK_BYTES,
)  # fmt: skip
