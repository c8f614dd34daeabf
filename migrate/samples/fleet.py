"""The benchmark fleet: 101 VM images made cheaply from the built-in samples, with known answers.

Issue 9 asks for a fleet of at least 100 images for the fleet tests and benchmarks. Building 100 real
guests would take hours, so each member is a qcow2 overlay (``qemu-img create -b``) over one of the
samples already cached (flagship, classic, units, corpus-nginx-tls, corpus-lamp, corpus-infra,
corpus-edge). The bases are hard-linked into the fleet's ``images/.backing/`` folder: a disk chain may
only read files inside its image's folder (migrate.image.confine), and a hard link costs nothing.

Each overlay then gets its own identity and wiring, written natively into its ext4 root filesystem
(migrate.samples._fleet_write: FUSE export + debugfs, about half a second per image): hostname,
/etc/hosts with its FQDN and address, and connection strings aimed at other members by hostname,
FQDN or IP (an app's DATABASE_URL, an nginx upstream, a PHP mysqli host). Some members are
standalone, some carry a blocker (a service bound to one specific address), a few are exported to
other formats (vmdk, vhdx, vdi, raw, OVA) and a few are broken (truncated, a chain that escapes its
folder, a missing extent). Beside the images: a manifest CSV (names, owners, environments, wave
hints), an RVTools-style vInfo export (.xlsx and .csv, with rows for VMs whose disks are not
exported) and ``expectations.json``: per VM its OS, kinds, readiness, blockers, the cross-VM edges and
the migration waves, all derived from the roster below (what was put in), never from running the tool.

What each base contributes (roles of its services, blockers) is declared in ``BASES``: the fleet
tests check these declarations against a real inspection of the members.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.samples._common import Progress, Recipe, SampleBuildError, _noop, qemu_img_info, run

DOMAIN = "corp.example"
OS = {"family": "debian", "distro": "debian", "version": "12"}
OS_RVTOOLS = "Debian GNU/Linux 12 (64-bit)"


@dataclass(frozen=True)
class Base:
    """A cached sample used as a backing file. ``files`` are (sample file key, name in .backing/<sample>/);
    the first is the one overlays point at (others: its own backing chain)."""

    sample: str
    files: tuple[tuple[str, str], ...]
    fmt: str
    roles: tuple[str, ...]  # roles of its application services (what inspection finds in the base)
    blockers: tuple[str, ...] = ()  # blocker kinds its plan has as built
    editable: bool = True  # ext4 root: identity and wiring can be written
    # connection templates: role of the link -> (guest file, text in the base, replacement with {host})
    links: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # where the analyzers see the connection when it is not the file written (a constant used elsewhere)
    evidence: dict[str, str] = field(default_factory=dict)
    specific_bind: tuple[str, str, str] | None = None  # (file, text, replacement with {addr})


BASES: dict[str, Base] = {
    "flagship": Base(
        "flagship", (("qcow2", "shop-vm01.qcow2"),), "qcow2", ("app", "nginx", "postgresql", "redis"),
        links={"db": ("/etc/shop/shop.env", "@localhost:5432/", "@{host}:5432/"),
               "cache": ("/etc/shop/shop.env", "@127.0.0.1:6379/", "@{host}:6379/"),
               "upstream": ("/etc/nginx/sites-available/shop", "server 127.0.0.1:8080;", "server {host}:8080;")},
        evidence={"upstream": "/etc/nginx/sites-enabled/shop"},  # the enabled name links to the file written
        specific_bind=("/etc/redis/redis.conf", "\nbind 127.0.0.1 -::1\n", "\nbind {addr}\n")),
    "nginx-tls": Base(
        "corpus-nginx-tls", (("qcow2", "notes-vm03.qcow2"),), "qcow2", ("app", "nginx", "postgresql", "redis"),
        links={"db": ("/etc/notes/notes.env", "@localhost:5432/", "@{host}:5432/")}),
    "classic": Base(
        "classic", (("qcow2", "classic.qcow2"),), "qcow2", ("apache", "memcached", "mysql"),
        links={"db": ("/var/www/classic/config.php", "define('DB_HOST', '127.0.0.1');",
                      "define('DB_HOST', '{host}');")},
        evidence={"db": "/var/www/classic/index.php"}),  # new mysqli(DB_HOST, ...) with config.php's constant
    "lamp": Base("corpus-lamp", (("vmdk", "lamp-vm02.vmdk"),), "vmdk", ("apache", "memcached", "mysql", "postgresql")),
    "infra": Base("corpus-infra", (("raw", "disk.raw"),), "raw",
                  ("bind", "lighttpd", "mosquitto", "nginx", "php-fpm", "prometheus", "prometheus-exporter", "slapd")),
    "units": Base("units", (("overlay", "overlay.qcow2"), ("base", "base.qcow2")), "qcow2", (),
                  blockers=("no-package",)),
    "edge": Base("corpus-edge", (("raw", "disk.raw"),), "raw", ("app", "haproxy", "redis", "varnish"),
                 editable=False),  # XFS root: kept as built (hostname edge-lb01)
}


@dataclass
class Link:
    """A connection this member's guest makes to another member, and how its address is written."""

    kind: str  # a key of the base's links
    target: str
    by: str  # hostname | fqdn | ip
    via: str  # what the inventory calls it (DATABASE_URL, proxy_pass upstream ...)
    port: int


@dataclass
class Spec:
    name: str
    base: str
    fmt: str = "qcow2"  # the exported format: qcow2 overlay, vmdk, vhdx, vdi, raw, ova
    group: str | None = None
    links: list[Link] = field(default_factory=list)
    external: str | None = None  # a DATABASE_URL host outside the fleet (no edge)
    blocked: bool = False  # bind a service to the member's own address (specific-bind blocker)
    wave: str | None = None
    owner: str = "team-a"
    environment: str = "prod"
    broken: str | None = None  # truncated | escape | missing-extent: expected error class
    address: str = ""

    @property
    def hostname(self) -> str:
        return self.name if BASES[self.base].editable else "edge-lb01"

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"


BROKEN = {"truncated": ("CorruptImage", 12), "escape": ("ChainMemberOutside", 30),
          "missing-extent": ("MissingExtent", 13)}
NO_IMAGE = ("mainframe-gw01", "citrix-xa01", "win-dc01", "win-dc02", "exchange01", "sap-erp01")
FORMATS = {"vmdk": ("vmdk", ["-o", "subformat=monolithicSparse"]), "vhdx": ("vhdx", []), "vdi": ("vdi", []),
           "raw": ("raw", [])}


def roster() -> list[Spec]:
    """Every member of the benchmark fleet, deterministic."""
    out: list[Spec] = []
    for n in range(1, 9):  # three-tier groups: web (nginx upstream + app) -> api -> db
        g = f"shop{n:02d}"
        out.append(Spec(f"{g}-web", "flagship", group=g, wave="1" if n == 1 else None, links=[
            Link("upstream", f"{g}-api", "fqdn", "proxy_pass upstream", 8080),
            Link("db", f"{g}-db", "hostname", "DATABASE_URL", 5432),
            Link("cache", f"{g}-db", "ip", "REDIS_URL", 6379)]))
        out.append(Spec(f"{g}-api", "flagship", group=g, wave="1" if n == 1 else None, blocked=(n == 7),
                        links=[Link("db", f"{g}-db", "fqdn", "DATABASE_URL", 5432)]))
        out.append(Spec(f"{g}-db", "nginx-tls", group=g, wave="1" if n == 1 else None))
    pg_formats = {1: "vmdk", 2: "vmdk", 3: "vhdx", 4: "vhdx", 5: "vdi", 6: "vdi"}
    for n in range(1, 9):  # app -> database by IP; some databases exported in other formats
        g = f"orders{n:02d}"
        out.append(Spec(f"{g}-app", "flagship", group=g, wave="2" if n == 1 else None, owner="team-b",
                        links=[Link("db", f"{g}-pg", "ip", "DATABASE_URL", 5432)]))
        out.append(Spec(f"{g}-pg", "nginx-tls", fmt=pg_formats.get(n, "qcow2"), group=g, owner="team-b",
                        wave="2" if n == 1 else None))
    for n in range(1, 7):  # PHP page -> MariaDB on another VM, by FQDN
        g = f"php{n:02d}"
        out.append(Spec(f"{g}-web", "classic", group=g, owner="team-c", environment="test" if n > 4 else "prod",
                        links=[Link("db", f"{g}-mysql", "fqdn", "new mysqli", 3306)]))
        out.append(Spec(f"{g}-mysql", "lamp", group=g, owner="team-c", environment="test" if n > 4 else "prod"))
    standalone = ([("app", "flagship", 10), ("notes", "nginx-tls", 8), ("guestbook", "classic", 6),
                   ("inventory", "lamp", 5), ("dns", "infra", 5)])
    for prefix, base, count in standalone:
        for n in range(1, count + 1):
            out.append(Spec(f"{prefix}{n:02d}", base, owner="team-d", environment="test" if n % 3 == 0 else "prod",
                            external="legacy-db.partner.example" if (prefix, n) == ("app", 5) else None))
    out.append(Spec("edge-lb01", "edge", owner="team-d"))
    for n in range(1, 5):
        out.append(Spec(f"legacy{n:02d}", "flagship", blocked=True, owner="team-e", wave="1" if n == 1 else None))
    for n in range(1, 6):
        out.append(Spec(f"batch{n:02d}", "units", fmt="raw" if n <= 2 else "qcow2", owner="team-e"))
    out += [Spec("kb01", "nginx-tls", fmt="ova", owner="team-f"), Spec("kb02", "nginx-tls", fmt="ova", owner="team-f")]
    out += [Spec("broken01", "units", broken="truncated", owner="team-e"),
            Spec("broken02", "units", broken="escape", owner="team-e"),
            Spec("broken03", "units", fmt="vmdk", broken="missing-extent", owner="team-e")]
    for i, s in enumerate(out):
        s.address = f"10.40.{i // 200}.{10 + i % 200}"
    return out


# --------------------------------------------------------------------------------------------------
# expectations: derived from the roster


def _address_as(spec: Spec, by: str) -> str:
    return {"hostname": spec.hostname, "fqdn": spec.fqdn, "ip": spec.address}[by]


def expected_readiness(s: Spec) -> str:
    if s.broken:
        return "failed"
    return "blocked" if s.blocked or BASES[s.base].blockers else "ready"


def expectations(specs: list[Spec]) -> dict[str, Any]:
    """What the fleet tools must find: per VM, the edges and the waves (the rule of migrate.fleet.waves:
    connected groups move together; hinted ready groups first in hint order, then ready standalone VMs,
    then ready groups, then groups held back by a blocked member, then failed, then not inspected)."""
    by_name = {s.name: s for s in specs}
    vms: dict[str, Any] = {}
    edges: list[dict[str, Any]] = []
    for s in specs:
        b = BASES[s.base]
        ready = expected_readiness(s)
        blockers = sorted(({"specific-bind"} if s.blocked else set()) | set(b.blockers)) if not s.broken else []
        vms[s.name] = {
            "image": _image_name(s), "format": s.fmt,
            "os": None if s.broken else OS, "hostname": None if s.broken else s.hostname,
            "fqdn": None if s.broken or not b.editable else s.fqdn,
            "address": None if s.broken or not b.editable else s.address,
            "kinds": [] if s.broken else sorted(b.roles), "readiness": ready, "blocker_kinds": blockers,
            "error": dict(zip(("error_class", "exit_code"), BROKEN[s.broken], strict=True)) if s.broken else None,
            "group": s.group, "wave_hint": s.wave, "owner": s.owner, "environment": s.environment,
        }
        for ln in s.links:
            t = by_name[ln.target]
            edges.append({"source": s.name, "target": t.name, "matched_by": ln.by, "address": _address_as(t, ln.by),
                          "port": ln.port, "via": ln.via,
                          "evidence": b.evidence.get(ln.kind, b.links[ln.kind][0])})
    for name in NO_IMAGE:
        vms[name] = {"image": None, "format": None, "os": None, "hostname": None, "fqdn": None, "address": None,
                     "kinds": [], "readiness": "not-inspected", "blocker_kinds": [], "error": None, "group": None,
                     "wave_hint": None, "owner": None, "environment": None}
    return {"domain": DOMAIN, "vms": vms, "edges": sorted(edges, key=lambda e: (e["source"], e["target"], e["via"])),
            "waves": expected_waves(specs),
            "counts": {"images": len(specs), "vms": len(vms),
                       "readiness": {r: sum(v["readiness"] == r for v in vms.values())
                                     for r in ("ready", "blocked", "failed", "not-inspected")}}}


def expected_waves(specs: list[Spec]) -> list[dict[str, Any]]:
    groups: dict[str, list[Spec]] = {}
    for s in specs:
        groups.setdefault(s.group or f"~{s.name}", []).append(s)
    hinted: dict[str, list[str]] = {}
    singles: list[str] = []
    joined: list[str] = []
    held: list[str] = []
    failed = sorted(s.name for s in specs if s.broken)
    for members in groups.values():
        names = sorted(m.name for m in members)
        states = {expected_readiness(m) for m in members}
        if states != {"ready"}:  # a blocked or failed member holds back the rest of its group
            held += [m.name for m in members if expected_readiness(m) != "failed"]
            continue
        hints = sorted({m.wave for m in members if m.wave})
        if hints:
            hinted.setdefault(hints[-1], []).extend(names)
        elif len(members) == 1:
            singles += names
        else:
            joined += names
    waves: list[list[str]] = [sorted(hinted[h]) for h in sorted(hinted, key=_hint_key)]
    waves += [sorted(x) for x in (singles, joined, held, failed, list(NO_IMAGE)) if x]
    return [{"number": i, "members": w} for i, w in enumerate(waves, 1)]


def _hint_key(h: str) -> tuple[int, int | str]:
    return (0, int(h)) if h.isdigit() else (1, h)


def _image_name(s: Spec) -> str:
    ext = {"qcow2": "qcow2", "vmdk": "vmdk", "vhdx": "vhdx", "vdi": "vdi", "raw": "raw", "ova": "ova"}[s.fmt]
    return f"images/{s.name}.{ext}"


# --------------------------------------------------------------------------------------------------
# building


def _hosts(s: Spec) -> bytes:
    return (f"127.0.0.1\tlocalhost\n{s.address}\t{s.fqdn} {s.name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n").encode()


def _write_guest(s: Spec, overlay: Path, work: Path, by_name: dict[str, Spec], offsets: dict[str, int]) -> None:
    from migrate.samples._fleet_write import OverlayEditor

    b = BASES[s.base]
    with OverlayEditor(overlay, work, root_offset=offsets.get(s.base)) as ed:
        offsets.setdefault(s.base, ed.root_offset or 0)
        ed.write("/etc/hostname", f"{s.name}\n".encode(), mode=0o644, uid=0, gid=0)
        ed.write("/etc/hosts", _hosts(s), mode=0o644, uid=0, gid=0)
        edits: dict[str, list[tuple[str, str]]] = {}
        for ln in s.links:
            path, old, new = b.links[ln.kind]
            edits.setdefault(path, []).append((old, new.format(host=_address_as(by_name[ln.target], ln.by))))
        if s.external:
            path, old, new = b.links["db"]
            edits.setdefault(path, []).append((old, new.format(host=s.external)))
        if s.blocked:
            assert b.specific_bind is not None
            path, old, new = b.specific_bind
            edits.setdefault(path, []).append((old, new.format(addr=s.address)))
        for path, repl in edits.items():
            ed.edit(path, repl)


def _broken(s: Spec, images: Path, tmp: Path) -> None:
    from migrate.samples.bad import _det

    dest = images / Path(_image_name(s)).name
    if s.broken == "truncated":  # a real qcow2 cut at 40 %: its tables point past the end
        src = tmp / f"{s.name}.raw"
        src.write_bytes(_det(s.name, 4 << 20))
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, dest])
        src.unlink()
        with open(dest, "r+b") as fh:
            fh.truncate(dest.stat().st_size * 2 // 5)
    elif s.broken == "escape":  # backing file named by absolute path outside the folder
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "/etc/passwd", "-F", "raw", dest, "64M"])
    elif s.broken == "missing-extent":
        run(["qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", dest, "64M"])
        (images / f"{s.name}-flat.vmdk").unlink()
    else:
        raise SampleBuildError(f"unknown broken kind {s.broken}")


RVTOOLS_COLUMNS = ("VM", "Powerstate", "Template", "Config status", "DNS Name", "Connection state", "Guest state",
                   "Heartbeat", "CPUs", "Memory", "NICs", "Disks", "Provisioned MiB", "In Use MiB", "Unshared MiB",
                   "Primary IP Address", "Annotation", "Datacenter", "Cluster", "Host", "Folder",
                   "OS according to the configuration file", "OS according to the VMware Tools", "VM ID", "VM UUID")


def _rvtools_rows(specs: list[Spec], sizes: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    names = [s.name for s in specs] + list(NO_IMAGE)
    for i, name in enumerate(names):
        spec = next((s for s in specs if s.name == name), None)
        mib = sizes.get(name, 40960)
        cpus = (1, 2, 2, 4, 8)[i % 5]
        windows = name.startswith(("win-", "exchange", "citrix"))
        os_name = "Microsoft Windows Server 2016 (64-bit)" if windows else OS_RVTOOLS
        rows.append({
            "VM": name, "Powerstate": "poweredOff" if i % 11 == 0 else "poweredOn", "Template": "False",
            "Config status": "green", "DNS Name": f"{name}.{DOMAIN}", "Connection state": "connected",
            "Guest state": "running", "Heartbeat": "green", "CPUs": cpus, "Memory": 1024 * (1, 2, 4, 2, 8)[i % 5],
            "NICs": 1, "Disks": 1, "Provisioned MiB": mib, "In Use MiB": round(mib * (0.25 + (i % 7) / 20), 1),
            "Unshared MiB": round(mib * 0.2, 1), "Primary IP Address": spec.address if spec else "",
            "Annotation": "", "Datacenter": "DC1" if i % 2 == 0 else "DC2",
            "Cluster": f"CL-{'AB'[i % 2]}{1 + i % 3}", "Host": f"esx{1 + i % 6:02d}.{DOMAIN}",
            "Folder": "/vm/migrate", "OS according to the configuration file": os_name,
            "OS according to the VMware Tools": os_name if spec and not spec.broken else "",
            "VM ID": f"vm-{1000 + i}", "VM UUID": f"4201{i:04x}-0000-4000-8000-{i:012x}"})
    return rows


def _write_rvtools(root: Path, rows: list[dict[str, Any]]) -> None:
    from openpyxl import Workbook

    (root / "rvtools").mkdir()
    wb = Workbook()
    ws = wb.active
    ws.title = "vInfo"
    ws.append(list(RVTOOLS_COLUMNS))
    for r in rows:
        ws.append([r[c] for c in RVTOOLS_COLUMNS])
    for title in ("vCPU", "vMemory", "vDisk"):  # RVTools writes many sheets; only vInfo matters here
        wb.create_sheet(title).append(["VM"])
    wb.save(root / "rvtools" / "RVTools_export_all.xlsx")
    with open(root / "rvtools" / "vInfo.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(RVTOOLS_COLUMNS))
        w.writeheader()
        w.writerows(rows)


def _build(tmp: Path, cache: Path, say: Progress) -> dict[str, str]:
    from migrate.samples import build_sample
    from migrate.samples.export import make_ova

    t0 = time.monotonic()
    specs = roster()
    by_name = {s.name: s for s in specs}
    images = tmp / "images"
    backing = images / ".backing"
    work = tmp / ".work"
    work.mkdir(parents=True)
    base_paths: dict[str, Path] = {}
    for key, b in BASES.items():
        sample = build_sample(b.sample, cache, progress=say)
        d = backing / b.sample
        d.mkdir(parents=True, exist_ok=True)
        for file_key, name in b.files:
            try:
                os.link(sample.files[file_key], d / name)
            except OSError:
                shutil.copyfile(sample.files[file_key], d / name)
        base_paths[key] = d / b.files[0][1]
    t_bases = time.monotonic() - t0
    offsets: dict[str, int] = {}
    sizes: dict[str, int] = {}
    timing = {"overlay_create": 0.0, "guest_writes": 0.0, "format_exports": 0.0}
    for i, s in enumerate(specs):
        if s.broken:
            _broken(s, images, work)
            continue
        b = BASES[s.base]
        direct = s.fmt == "qcow2"
        overlay = images / f"{s.name}.qcow2" if direct else work / f"{s.name}.qcow2"
        t = time.monotonic()
        rel = os.path.relpath(base_paths[s.base], overlay.parent) if direct else os.fspath(base_paths[s.base])
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", rel, "-F", b.fmt, overlay])
        timing["overlay_create"] += time.monotonic() - t
        t = time.monotonic()
        if b.editable:
            _write_guest(s, overlay, work, by_name, offsets)
        timing["guest_writes"] += time.monotonic() - t
        sizes[s.name] = int(qemu_img_info(overlay)["virtual-size"]) // (1 << 20)
        t = time.monotonic()
        if s.fmt in FORMATS:
            fmt, opts = FORMATS[s.fmt]
            run(["qemu-img", "convert", "-f", "qcow2", "-O", fmt, *opts, overlay, images / Path(_image_name(s)).name])
            overlay.unlink()
        elif s.fmt == "ova":
            vmdk = work / f"{s.name}-disk1.vmdk"
            run(["qemu-img", "convert", "-f", "qcow2", "-O", "vmdk", "-o", "subformat=streamOptimized", overlay, vmdk])
            make_ova(images / f"{s.name}.ova", vm_name=s.name, vmdk=vmdk, capacity=sizes[s.name] << 20,
                     cpus=(1, 2, 2, 4, 8)[i % 5], memory_mb=1024 * (1, 2, 4, 2, 8)[i % 5], os_description=OS_RVTOOLS)
            vmdk.unlink()
            overlay.unlink()
        timing["format_exports"] += time.monotonic() - t
        if i % 10 == 0:
            say(f"fleet: {i + 1}/{len(specs)} images ({time.monotonic() - t0:.0f}s)")
    shutil.rmtree(work)
    with open(tmp / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "name", "owner", "environment", "wave"])
        for s in specs:
            w.writerow([_image_name(s), s.name, s.owner, s.environment, s.wave or ""])
    _write_rvtools(tmp, _rvtools_rows(specs, sizes))
    exp = expectations(specs)
    exp["build_seconds"] = {"bases": round(t_bases, 1), **{k: round(v, 1) for k, v in timing.items()},
                            "total": round(time.monotonic() - t0, 1)}
    (tmp / "expectations.json").write_text(json.dumps(exp, indent=1, sort_keys=True))
    (tmp / "facts.json").write_text(json.dumps(exp, indent=1, sort_keys=True))
    return {"images": "images", "manifest": "manifest.csv", "rvtools-xlsx": "rvtools/RVTools_export_all.xlsx",
            "rvtools-csv": "rvtools/vInfo.csv", "expectations": "expectations.json"}


def recipe(samples: dict[str, Recipe]) -> Recipe:
    """The fleet's recipe; its key covers the keys of the samples it is made from."""
    import migrate.samples._fleet_write as writer
    import migrate.samples.fleet as me

    bases = {b.sample: samples[b.sample].key() for b in BASES.values()}
    return Recipe("fleet", "101 images (qcow2 overlays over the samples, every format, 3 broken) + manifest, "
                           "RVTools vInfo (+6 VMs without disks) and expectations.json", _build, {"bases": bases},
                  (me, writer))


@dataclass
class FleetManifest:
    """A built benchmark fleet: where its files are and what the tools must find."""

    dir: Path
    images: Path
    manifest: Path
    rvtools_xlsx: Path
    rvtools_csv: Path
    expectations: dict[str, Any]

    def image_paths(self) -> list[Path]:
        return sorted(p for p in self.images.iterdir() if p.is_file())


def build_fleet(dest: Path | None = None, *, progress: Progress | None = None) -> FleetManifest:
    """The benchmark fleet, built into the samples cache ``dest`` (default: the usual cache) or found there."""
    from migrate.samples import build_sample

    s = build_sample("fleet", dest, progress=progress or _noop)
    return FleetManifest(dir=s.dir, images=s.files["images"], manifest=s.files["manifest"],
                         rvtools_xlsx=s.files["rvtools-xlsx"], rvtools_csv=s.files["rvtools-csv"],
                         expectations=json.loads(s.files["expectations"].read_text()))
