"""/etc/fstab entries as Mounts; ``mounted`` says whether the image layer mounted that mountpoint."""

from __future__ import annotations

from migrate.analyzers._support import guest_number, read_text, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Mount
from migrate.rootfs import normalize

FSTAB = "/etc/fstab"
FIELD = (0, 255)  # dump and fsck pass: 0, 1, 2 in practice; an absurd one is an unknown, not a fact


class FstabAnalyzer(Analyzer):
    name = "fstab"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        text = read_text(ctx, self, FSTAB, f)
        if text is None:
            raise NotApplicable("no /etc/fstab")
        mounted = ctx.rootfs.mountpoints
        for lineno, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = s.split()
            if len(parts) < 3:
                f.unknowns.append(unknown(self, FSTAB, f"line {lineno}: fewer than three fields"))
                continue
            spec, mp, fstype = (p.replace("\\040", " ") for p in parts[:3])
            if not mp.startswith("/") and mp not in ("none", "swap"):
                # mount(8) refuses such a line: it is not a mount, and its text is not quoted (issue 8)
                f.unknowns.append(unknown(self, FSTAB, f"line {lineno}: the mount point is not an absolute path"))
                continue
            options = parts[3].split(",") if len(parts) > 3 else []
            dump, passno = (guest_number(self, f, parts[i], FIELD, path=FSTAB, what=what, line=lineno) or 0
                            if len(parts) > i else 0 for i, what in ((4, "the dump field"), (5, "the pass number")))
            mp_norm = normalize(mp) if mp.startswith("/") else mp
            f.mounts.append(Mount(spec=spec, mountpoint=mp, fstype=fstype, options=options, dump=dump,
                                  passno=passno, mounted=mp_norm in mounted,
                                  evidence=self.evidence(FSTAB, f"line {lineno}")))
        return f
