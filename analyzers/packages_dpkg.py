"""Debian packages from /var/lib/dpkg/status, every state (installed, config-files, half-installed...)
and the desired action (install, deinstall, purge, hold). Conffiles carry the md5 dpkg shipped: a
conffile whose content differs is reported as a modified ConfigFile, and the md5 map is kept for the
application analyzers so their config records say whether the file was changed from the package."""

from __future__ import annotations

import hashlib

from migrate.analyzers._support import cache, config_file, read_bytes, read_text, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Package

STATUS = "/var/lib/dpkg/status"
# The three words of dpkg's Status field ("want flag status"), as dpkg's lib/dpkg/parsehelp.c knows them.
WANTS = {"unknown", "install", "hold", "deinstall", "purge"}
FLAGS = {"ok", "reinstreq", "hold", "hold-reinstreq"}
STATES = {"not-installed", "config-files", "half-installed", "unpacked", "half-configured", "triggers-awaited",
          "triggers-pending", "installed"}


def parse_status(value: str) -> tuple[str | None, str | None]:
    """(desired action, state) from a Status field. dpkg writes "want flag status"; a field in another
    order or with words missing (libguestfs's phony Debian guest says "installed ok") is read by the
    words it holds, as libguestfs does (it takes any Status that mentions "installed"). None for the
    state when no word is a dpkg state."""
    words = value.split()
    if len(words) == 3 and words[0] in WANTS and words[1] in FLAGS and words[2] in STATES:
        return words[0], words[2]
    want = next((w for w in words if w in WANTS), None)
    state = next((w for w in words if w in STATES), None)
    return want, state


def paragraphs(text: str) -> list[dict[str, str]]:
    """RFC822-style stanzas; continuation lines are joined with newlines."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, key = {}, None
            continue
        if line[0] in " \t" and key is not None:
            current[key] += "\n" + line.strip()
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            current[key] = value.strip()
    if current:
        out.append(current)
    return out


class DpkgAnalyzer(Analyzer):
    name = "packages_dpkg"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        if ctx.rootfs.lstat(STATUS) is None:
            raise NotApplicable("no dpkg status database")
        text = read_text(ctx, self, STATUS, f, max_bytes=256 * 1024 * 1024)
        if text is None:
            return f
        conffiles: dict[str, tuple[str, str]] = {}
        for n, para in enumerate(paragraphs(text), 1):
            name = para.get("Package")
            desired, state = parse_status(para.get("Status", ""))
            if not name or state is None:
                f.unknowns.append(unknown(self, STATUS, f"stanza {n}: no Package or no dpkg state in Status"))
                continue
            if state == "not-installed":
                continue
            f.packages.append(Package(
                name=name, version=para.get("Version", ""), arch=para.get("Architecture"), manager="dpkg",
                state=state, desired=desired, source=(para.get("Source") or "").split(" ")[0] or None,
                evidence=self.evidence(STATUS)))
            if state not in ("installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending"):
                continue
            for line in para.get("Conffiles", "").splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0].startswith("/") and "obsolete" not in parts[2:]:
                    conffiles[parts[0]] = (name, parts[1] if len(parts[1]) == 32 else "")
        cache(ctx)["dpkg_conffiles"] = conffiles
        for path, (pkg, md5) in sorted(conffiles.items()):
            if not md5 or not ctx.rootfs.is_file(path):
                continue
            data = read_bytes(ctx, self, path, f)
            if data is None or hashlib.md5(data).hexdigest() == md5:
                continue
            f.configs.append(config_file(ctx, self, path, service=None, kind="conffile", content=data,
                                         detail=f"conffile of {pkg}, changed from the packaged version"))
        return f
