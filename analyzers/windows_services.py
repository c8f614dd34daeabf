"""Windows services from the live control set: SYSTEM\\<CurrentControlSet>\\Services.

Each sub-key whose Type says "Win32 service" (own or shared process) is a service: its ImagePath is
the command line, Start its start type, ObjectName the account it runs as, DependOnService what it
needs first. Kernel and file-system drivers (Type 1, 2) live in the same key; they are not services
(a driver never becomes a container): windows_registry counts them. Start values: 0 boot, 1 system,
2 automatic, 3 manual, 4 disabled (services.msc's names).
"""

from __future__ import annotations

from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.analyzers.windows_hive import Key, current_control_set, readable_hive
from migrate.model.inventory import Findings, Service, ServiceState, Unknown, WindowsStartType

SERVICE_WIN32 = 0x30  # SERVICE_WIN32_OWN_PROCESS | SERVICE_WIN32_SHARE_PROCESS (0x50/0x60: per-user too)
SERVICE_DRIVER = 0x0B  # kernel, file-system and recognizer drivers
START_TYPES: dict[int, WindowsStartType] = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}
# how each start type reads in the inventory's common service states: manual services start when
# something asks for them (like a systemd unit without [Install], "static")
STATES: dict[WindowsStartType, ServiceState] = {"boot": "enabled", "system": "enabled", "automatic": "enabled",
                                                "manual": "static", "disabled": "disabled", "unknown": "unknown"}


def split_command_line(line: str) -> list[str]:
    """A Windows command line split as CommandLineToArgvW does for the program and plain arguments:
    a quoted first token keeps its spaces; quotes group later arguments (no backslash escapes)."""
    argv: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    for ch in line.strip():
        if ch == '"':
            quoted, started = not quoted, True
        elif ch in " \t" and not quoted:
            if started:
                argv.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        argv.append("".join(current))
    return argv


class WindowsServicesAnalyzer(Analyzer):
    name = "windows_services"
    os_families = ("windows",)

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        system = readable_hive(ctx, "SYSTEM", self.name, f, required=True)
        if system is None:
            return f
        with system:
            ccs = current_control_set(system)
            services = system.key(f"{ccs}\\Services") if ccs else None
            if services is None:
                raise NotApplicable("no Services key in the live control set")
            keys, more = services.subkeys()
            if more:
                f.unknowns.append(Unknown(analyzer=self.name, path=system.path,
                                          message=f"{services.path}: {more} more service keys not read (limit)"))
            if services.looped:
                f.unknowns.append(Unknown(analyzer=self.name, path=system.path,
                                          message=f"{services.path}: {services.looped} sub-key entries point back at "
                                                  "an enclosing key (a corrupt or crafted hive); skipped"))
            for key in keys:
                kind = key.number("Type")
                if kind is not None and kind & SERVICE_WIN32:
                    f.services.append(self._service(key, kind))
        return f

    def _service(self, key: Key, kind: int) -> Service:
        start = key.number("Start")
        start_type: WindowsStartType = START_TYPES.get(start, "unknown") if start is not None else "unknown"
        image = key.text("ImagePath")
        argv = split_command_line(image) if image else []
        depends = key.value("DependOnService")
        display = key.text("DisplayName")
        if display and display.startswith("@"):  # a resource string (@%SystemRoot%\...dll,-100): not a name
            display = None
        return Service(
            name=key.name, manager="windows", state=STATES[start_type], windows_start=start_type,
            description=display, exec_start=argv, exec_start_raw=image, executable=argv[0] if argv else None,
            user=key.text("ObjectName"), requires=[d for d in depends if d] if isinstance(depends, list) else [],
            unit_type="share-process" if kind & 0x20 and not kind & 0x10 else "own-process",
            evidence=[self.evidence(key.hive, key.path)],
        )
