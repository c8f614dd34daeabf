"""corpus-edge: Varnish → HAProxy → two Node.js app servers → Redis.

The Node.js servers are Debian's nodejs running a small HTTP server script that speaks the Redis
protocol itself (no npm in the VM); two units start the same script on two ports, with the Redis
URL (and its password) in a shared EnvironmentFile. HAProxy balances them, Varnish caches in front
of HAProxy on port 80 through a systemd drop-in that overrides Debian's ExecStart. The Redis data
is written by the real redis-server, started in the build chroot. GPT + LVM with an xfs root; VDI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrate.samples import _corpus, _corpus_b, _corpus_disk, export
from migrate.samples._common import Progress, SampleBuildError, _noop
from migrate.samples._corpus import base_identity, corpus_recipe, write
from migrate.samples._corpus_b import CORPUS_B_PACKAGES, chroot_daemon, keep_only
from migrate.samples._corpus_disk import Volume
from migrate.samples.debootstrap import chroot, chroot_mounts

HOSTNAME = "edge-lb01"
REDIS_PASSWORD = "Rd-3dge-S3cret-42"
APP_UID = APP_GID = 981
DISK_BYTES = 3 * 1024**3
BOOT_UUID = "3c7d9e42-6f3d-4b20-9c53-8e4fa02b9c21"
REDIS_UUID = "4d8eaf53-7a4e-4c31-ad64-9f5ab13cad22"
VOLUMES = [
    Volume("/boot", "ext4", 200, "edge-boot", BOOT_UUID),
    Volume("/", "xfs", 2300, "edge-root", lv="root"),
    Volume("/var/lib/redis", "ext4", 64, "edge-redis", REDIS_UUID, lv="redis"),
]
PACKAGES = ["haproxy", "nodejs", "redis-server", "varnish"]
KEEP = {"varnish.service", "haproxy.service", "redis-server.service", "edge-app1.service", "edge-app2.service",
        "ssh.service", "cron.service"}  # fmt: skip
APP_PORTS = {"edge-app1": 3001, "edge-app2": 3002}
HAPROXY_PORT = 8000

GREETING = "Hello from the edge"
PRODUCTS = ["lamp", "kettle", "toaster", "blender", "fan", "heater", "radio"]

SERVER_JS = r"""'use strict';
// edge catalogue: GET /catalogue answers the greeting and products kept in Redis.
const http = require('http');
const net = require('net');

const PORT = Number(process.env.PORT || 3000);
const NAME = process.env.APP_NAME || 'edge';
const url = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379/0');

function encode(args) {
  return '*' + args.length + '\r\n' + args.map((a) => '$' + Buffer.byteLength(a) + '\r\n' + a + '\r\n').join('');
}

// one connection per request: AUTH, then the commands; replies are parsed just enough for strings and arrays
function redis(commands) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port || 6379), url.hostname);
    const all = url.password ? [['AUTH', decodeURIComponent(url.password)], ...commands] : commands;
    let buf = '';
    sock.on('connect', () => sock.write(all.map(encode).join('')));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const replies = parse(buf, all.length);
      if (replies) { sock.end(); resolve(url.password ? replies.slice(1) : replies); }
    });
    sock.on('error', reject);
    sock.setTimeout(3000, () => { sock.destroy(); reject(new Error('redis timeout')); });
  });
}

function parse(text, count) {
  const out = [];
  let pos = 0;
  function line() {
    const e = text.indexOf('\r\n', pos); if (e < 0) throw 0; const l = text.slice(pos, e); pos = e + 2; return l;
  }
  function value() {
    const l = line();
    if (l[0] === '+' || l[0] === ':') return l.slice(1);
    if (l[0] === '-') throw new Error(l.slice(1));
    if (l[0] === '$') { const n = Number(l.slice(1)); if (n < 0) return null; if (text.length < pos + n + 2) throw 0;
      const s = text.slice(pos, pos + n); pos += n + 2; return s; }
    if (l[0] === '*') {
      const n = Number(l.slice(1)); const a = []; for (let i = 0; i < n; i++) a.push(value()); return a;
    }
    throw new Error('bad reply');
  }
  try { for (let i = 0; i < count; i++) out.push(value()); } catch (e) { if (e === 0) return null; throw e; }
  return out;
}

http.createServer(async (req, res) => {
  res.setHeader('X-Served-By', NAME);
  try {
    if (req.url === '/healthz') { res.end('ok\n'); return; }
    if (req.url === '/catalogue') {
      const [greeting, products] = await redis([['GET', 'edge:greeting'], ['LRANGE', 'edge:products', '0', '-1']]);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ greeting, products }) + '\n');
      return;
    }
    res.statusCode = 404; res.end('not found\n');
  } catch (err) {
    res.statusCode = 502; res.end('redis: ' + err.message + '\n');
  }
}).listen(PORT, '0.0.0.0');
"""

APP_UNIT = """[Unit]
Description=edge catalogue app server ({name})
After=network.target redis-server.service
Wants=redis-server.service

[Service]
Type=simple
User=edge
Group=edge
WorkingDirectory=/opt/edge
EnvironmentFile=/etc/edge/app.env
Environment=PORT={port} APP_NAME={name}
ExecStart=/usr/bin/node /opt/edge/server.js
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

HAPROXY_CFG = f"""global
\tlog /dev/log local0
\tchroot /var/lib/haproxy
\tstats socket /run/haproxy/admin.sock mode 660 level admin
\tuser haproxy
\tgroup haproxy
\tdaemon

defaults
\tlog global
\tmode http
\toption httplog
\ttimeout connect 5s
\ttimeout client 30s
\ttimeout server 30s

frontend fe_catalogue
\tbind *:{HAPROXY_PORT}
\tdefault_backend be_apps

backend be_apps
\tbalance roundrobin
\toption httpchk GET /healthz
\tserver app1 127.0.0.1:{APP_PORTS['edge-app1']} check
\tserver app2 127.0.0.1:{APP_PORTS['edge-app2']} check
"""

VCL = f"""vcl 4.1;

backend haproxy {{
    .host = "127.0.0.1";
    .port = "{HAPROXY_PORT}";
}}

sub vcl_backend_response {{
    set beresp.ttl = 5s;
}}
"""

VARNISH_DROPIN = """[Service]
ExecStart=
ExecStart=/usr/sbin/varnishd -j unix,user=vcache -F -a :80 -T localhost:6082 -f /etc/varnish/default.vcl \
-S /etc/varnish/secret -s malloc,64m
"""


def expected_catalogue() -> str:
    return json.dumps({"greeting": GREETING, "products": PRODUCTS}, separators=(",", ":")) + "\n"


def _redis(tree: Path, progress: Progress) -> str:
    conf = tree / "etc/redis/redis.conf"
    out = []
    for line in conf.read_text().splitlines():
        s = line.strip()
        if s.startswith(("requirepass ", "# requirepass ")):
            continue
        if s.startswith("bind "):
            line = "bind 127.0.0.1 -::1"
        out.append(line)
    out.append(f"requirepass {REDIS_PASSWORD}")
    conf.write_text("\n".join(out) + "\n")
    progress("redis: loading the catalogue with the real server in the chroot")
    sock = "/tmp/redis-build.sock"
    with chroot_mounts(tree), chroot_daemon(
        tree, ["runuser", "-u", "redis", "--", "redis-server", "/etc/redis/redis.conf", "--port", "0",
               "--unixsocket", sock, "--daemonize", "no", "--supervised", "no", "--logfile", ""],
        ready=tree / sock.lstrip("/"),
    ):  # fmt: skip
        cli = ["redis-cli", "-s", sock, "--no-auth-warning", "-a", REDIS_PASSWORD]
        chroot(tree, [*cli, "SET", "edge:greeting", GREETING])
        chroot(tree, [*cli, "RPUSH", "edge:products", *PRODUCTS])
        answer = chroot(tree, [*cli, "LRANGE", "edge:products", "0", "-1"]).decode()
        chroot(tree, [*cli, "SAVE"])
    if answer.split() != PRODUCTS or not (tree / "var/lib/redis/dump.rdb").exists():
        raise SampleBuildError(f"redis did not keep the catalogue: {answer!r}")
    return answer


def customise(tree: Path, progress: Progress = _noop) -> dict[str, Any]:
    base_identity(tree, HOSTNAME, "ed9e0000c0ffee00000000000000b002",
                  f"/dev/mapper/edgevg-root /    xfs  defaults 0 1\nUUID={BOOT_UUID} /boot ext4 defaults,nodev 0 2\n"
                  "/dev/edgevg/redis /var/lib/redis ext4 defaults,noatime 0 2\n")  # fmt: skip
    chroot(tree, ["groupadd", "--system", "-g", str(APP_GID), "edge"])
    chroot(tree, ["useradd", "--system", "-u", str(APP_UID), "-g", str(APP_GID), "-d", "/opt/edge", "-s",
                  "/usr/sbin/nologin", "-c", "edge catalogue", "edge"])  # fmt: skip
    write(tree, "/opt/edge/server.js", SERVER_JS, 0o644)
    package = {"name": "edge-catalogue", "version": "1.4.0", "main": "server.js", "private": True}
    write(tree, "/opt/edge/package.json", json.dumps(package, indent=2) + "\n")
    write(tree, "/etc/edge/app.env", f"REDIS_URL=redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0\nNODE_ENV=production\n",
          0o640, 0, APP_GID)  # fmt: skip
    for name, port in APP_PORTS.items():
        write(tree, f"/etc/systemd/system/{name}.service", APP_UNIT.format(name=name, port=port))
        wants = tree / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / f"{name}.service").symlink_to(f"/etc/systemd/system/{name}.service")
    pruned = keep_only(tree, PACKAGES, KEEP, progress)
    write(tree, "/etc/haproxy/haproxy.cfg", HAPROXY_CFG)
    write(tree, "/etc/varnish/default.vcl", VCL)
    write(tree, "/etc/systemd/system/varnish.service.d/override.conf", VARNISH_DROPIN)
    answer = _redis(tree, progress)
    _corpus.finish_tree(tree)
    return {
        "hostname": HOSTNAME,
        "services": {
            "varnish": {"unit": "varnish.service", "ports": [80], "enabled": True,
                        "dropin": "/etc/systemd/system/varnish.service.d/override.conf"},
            "haproxy": {"unit": "haproxy.service", "ports": [HAPROXY_PORT], "enabled": True,
                        "backends": {"app1": f"127.0.0.1:{APP_PORTS['edge-app1']}",
                                     "app2": f"127.0.0.1:{APP_PORTS['edge-app2']}"}},
            **{name: {"unit": f"{name}.service", "ports": [port], "enabled": True, "user": "edge",
                      "exec_start": "/usr/bin/node /opt/edge/server.js", "environment_file": "/etc/edge/app.env"}
               for name, port in APP_PORTS.items()},
            "redis-server": {"unit": "redis-server.service", "ports": [6379], "enabled": True,
                             "dir": "/var/lib/redis"},
        },  # fmt: skip
        "kinds": ["varnish", "haproxy", "nodejs", "redis"],
        "ports": {"varnish": 80, "haproxy": HAPROXY_PORT, **APP_PORTS, "redis-server": 6379},
        "users": {"edge": {"uid": APP_UID, "gid": APP_GID}},
        **pruned,
        "packages": sorted(PACKAGES),
        "passwords": {"redis": REDIS_PASSWORD},
        "secrets": [REDIS_PASSWORD],
        "redis": {"keys": {"edge:greeting": GREETING, "edge:products": PRODUCTS}, "build_answer": answer.split()},
        "probes": {
            "http_catalogue": {"service": "varnish", "port": 80, "path": "/catalogue", "body": expected_catalogue(),
                               "served_by": sorted(APP_PORTS)},
        },  # fmt: skip
        "partition_table": "gpt",
        "lvm": {"vg": "edgevg", "lvs": {v.lv: v.size_mb * 1024 * 1024 for v in VOLUMES if v.lv}},
        "fstab": {"/": "/dev/mapper/edgevg-root", "/boot": f"UUID={BOOT_UUID}", "/var/lib/redis": "/dev/edgevg/redis"},
        "filesystems": {v.mountpoint: v.fstype for v in VOLUMES},
    }


def make_disks(tree: Path, out: Path, progress: Progress = _noop) -> dict[str, Any]:
    parts = _corpus_disk.fill_trees(tree, VOLUMES, out / "work" / "parts")
    layout = _corpus_disk.partitioned_disk(parts, out / "disk.raw", DISK_BYTES, VOLUMES, table="gpt", vg="edgevg",
                                           progress=progress)  # fmt: skip
    return {"raw": out / "disk.raw", "layout": layout}


def export_disks(out: Path, disks: dict[str, Any], progress: Progress = _noop) -> dict[str, Path]:
    progress("exporting VDI")
    files = export.convert_many(disks["raw"], {"vdi": (out / "edge-lb01.vdi", ["-O", "vdi"])})
    files["raw"] = disks["raw"]
    return files


RECIPE = corpus_recipe(
    "corpus-edge",
    "Debian 12: Varnish -> HAProxy -> 2 Node.js app servers -> Redis; GPT + LVM, xfs root; VDI",
    PACKAGES, union=CORPUS_B_PACKAGES, plumbing=(_corpus_b, _corpus_disk), customise=customise,
    make_disks=make_disks, export=export_disks, disk=DISK_BYTES,
)  # fmt: skip
