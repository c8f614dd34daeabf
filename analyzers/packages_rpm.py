"""RPM packages from rpm's sqlite database (rpm >= 4.16). The database is read through RootFS and
opened in memory (sqlite3 deserialize): nothing is written to the host. A BerkeleyDB or ndb
database cannot be read without librpm and is reported as an unknown."""

from __future__ import annotations

import sqlite3
import struct

from migrate.analyzers._support import read_bytes, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Package
from migrate.pkgdb import rpm_header

SQLITE_PATHS = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
LEGACY_PATHS = ("/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages.db")
TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1022: "arch", 1044: "sourcerpm"}


def parse_header(blob: bytes) -> dict[str, str | int]:
    """The tags we need from an rpm header blob, each as one value (the first of an array)."""
    return {key: value[0] if isinstance(value, list | tuple) else value  # type: ignore[misc]
            for key, value in rpm_header(blob, TAGS, errors="replace").items()
            if not isinstance(value, list | tuple) or value}


class RpmAnalyzer(Analyzer):
    name = "packages_rpm"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        path = next((p for p in SQLITE_PATHS if ctx.rootfs.is_file(p)), None)
        if path is None:
            legacy = next((p for p in LEGACY_PATHS if ctx.rootfs.is_file(p)), None)
            if legacy is None:
                raise NotApplicable("no rpm database")
            f.unknowns.append(unknown(self, legacy, "rpm database is BerkeleyDB/ndb, which cannot be read without "
                                                    "librpm; packages not listed"))
            return f
        data = read_bytes(ctx, self, path, f, max_bytes=1024 * 1024 * 1024)
        if data is None:
            return f
        if data[:16] == b"SQLite format 3\0" and data[18:20] == b"\x02\x02":
            data = data[:18] + b"\x01\x01" + data[20:]  # rpm's WAL mode: an in-memory copy reads it as rollback
        conn = sqlite3.connect(":memory:")
        try:
            conn.deserialize(data)
            rows = conn.execute("SELECT hnum, blob FROM Packages").fetchall()
        except sqlite3.DatabaseError as exc:
            f.unknowns.append(unknown(self, path, f"not a readable rpm sqlite database: {exc}"))
            return f
        finally:
            conn.close()
        for hnum, blob in rows:
            try:
                h = parse_header(bytes(blob))
            except (ValueError, struct.error) as exc:
                f.unknowns.append(unknown(self, path, f"package header {hnum}: {exc}"))
                continue
            if "name" not in h or h["name"] == "gpg-pubkey":
                continue
            version = f"{h.get('version', '')}-{h.get('release', '')}".rstrip("-")
            if "epoch" in h:
                version = f"{h['epoch']}:{version}"
            source = str(h["sourcerpm"]).rsplit("-", 2)[0] if h.get("sourcerpm") else None
            f.packages.append(Package(name=str(h["name"]), version=version, arch=str(h.get("arch")) or None,
                                      manager="rpm", source=source, evidence=self.evidence(path)))
        return f
