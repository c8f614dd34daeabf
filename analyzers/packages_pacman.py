"""Arch packages from /var/lib/pacman/local/*/desc."""

from __future__ import annotations

from migrate.analyzers._support import read_text
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Package


class PacmanAnalyzer(Analyzer):
    name = "packages_pacman"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        descs = ctx.rootfs.glob("/var/lib/pacman/local/*/desc")
        if not descs:
            raise NotApplicable("no pacman database")
        for path in descs:
            text = read_text(ctx, self, path, f) or ""
            fields: dict[str, list[str]] = {}
            key = None
            for line in text.splitlines():
                if line.startswith("%") and line.endswith("%"):
                    key = line.strip("%")
                    fields[key] = []
                elif line and key:
                    fields[key].append(line)
            if fields.get("NAME"):
                f.packages.append(Package(name=fields["NAME"][0], version=(fields.get("VERSION") or [""])[0],
                                          arch=(fields.get("ARCH") or [None])[0], manager="pacman",
                                          source=(fields.get("BASE") or [None])[0], evidence=self.evidence(path)))
        return f
