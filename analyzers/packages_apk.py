"""Alpine packages from /lib/apk/db/installed (one stanza per package, one-letter keys)."""

from __future__ import annotations

from migrate.analyzers._support import read_text
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Package

DB = "/lib/apk/db/installed"


class ApkAnalyzer(Analyzer):
    name = "packages_apk"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        if ctx.rootfs.lstat(DB) is None:
            raise NotApplicable("no apk database")
        text = read_text(ctx, self, DB, f, max_bytes=256 * 1024 * 1024) or ""
        current: dict[str, str] = {}
        for line in [*text.splitlines(), ""]:
            if not line.strip():
                if current.get("P"):
                    f.packages.append(Package(name=current["P"], version=current.get("V", ""),
                                              arch=current.get("A"), manager="apk", source=current.get("o"),
                                              evidence=self.evidence(DB)))
                current = {}
                continue
            if len(line) > 2 and line[1] == ":":
                current.setdefault(line[0], line[2:])
        return f
