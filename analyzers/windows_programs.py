"""Installed Windows programs: the Uninstall keys Programs and Features lists (libguestfs reads the same
two for its applications: SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall, and the same under
Wow6432Node for 32-bit programs on 64-bit Windows)."""

from __future__ import annotations

from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.analyzers.windows_hive import readable_hive
from migrate.model.inventory import Findings, Unknown, WindowsProgram

UNINSTALL_KEYS = (("Microsoft\\Windows\\CurrentVersion\\Uninstall", False),
                  ("Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall", True))


class WindowsProgramsAnalyzer(Analyzer):
    name = "windows_programs"
    os_families = ("windows",)

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        software = readable_hive(ctx, "SOFTWARE", self.name, f, required=True)
        if software is None:
            return f
        with software:
            for path, wow64 in UNINSTALL_KEYS:
                uninstall = software.key(path)
                if uninstall is None:
                    continue
                keys, more = uninstall.subkeys()
                if more:
                    f.unknowns.append(Unknown(analyzer=self.name, path=software.path,
                                              message=f"{uninstall.path}: {more} more entries not read (limit)"))
                if uninstall.looped:
                    f.unknowns.append(Unknown(analyzer=self.name, path=software.path,
                                              message=f"{uninstall.path}: {uninstall.looped} entries point back at an "
                                                      "enclosing key (a corrupt or crafted hive); skipped"))
                for key in keys:
                    f.windows_programs.append(WindowsProgram(
                        name=key.name, display_name=key.text("DisplayName"), version=key.text("DisplayVersion"),
                        publisher=key.text("Publisher"), install_location=key.text("InstallLocation"),
                        url=key.text("URLInfoAbout"), description=key.text("Comments"), wow64=wow64,
                        evidence=self.evidence(software.path, key.path)))
        if not f.windows_programs and not f.unknowns:
            raise NotApplicable("no Uninstall entries")
        return f
