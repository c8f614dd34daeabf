"""OpenSSH server: its ports, and the service marked VM-only (containers are entered with
``docker exec``, not ssh)."""

from __future__ import annotations

from migrate.analyzers._support import (
    PORT,
    config_file,
    enrich,
    guest_number,
    pick_service,
    read_text,
    split_host_port,
)
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Port

REASON = "remote shell access to the VM; containers are reached with docker exec"


class SshdAnalyzer(Analyzer):
    name = "sshd"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = "/etc/ssh/sshd_config"
        f = Findings()
        service = pick_service(ctx, ["ssh", "sshd", "openssh", "openssh-server"], "sshd")
        text = read_text(ctx, self, main, f)
        if text is None:
            raise NotApplicable("no sshd_config")
        ports: list[tuple[int, str]] = []
        listens: list[tuple[str, str]] = []
        files = [(main, text)]
        i = 0
        while i < len(files):
            path, body = files[i]
            i += 1
            f.configs.append(config_file(ctx, self, path, service=service, kind="sshd_config", content=body))
            for lineno, line in enumerate(body.splitlines(), 1):
                parts = line.split("#", 1)[0].split()
                if len(parts) < 2:
                    continue
                key = parts[0].lower()
                if key == "match":
                    break
                if key == "include" and len(files) < 32:
                    for pattern in parts[1:]:
                        pattern = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
                        for inc in ctx.rootfs.glob(pattern):
                            inc_text = read_text(ctx, self, inc, f)
                            if inc_text is not None:
                                files.append((inc, inc_text))
                elif key == "port":
                    number = guest_number(self, f, parts[1], PORT, path=path, what="Port", line=lineno)
                    if number is not None:
                        ports.append((number, path))
                elif key == "listenaddress":
                    listens.append((parts[1], path))
        if not ports:
            ports = [(22, main)]
        seen = set()
        for port, path in ports:
            addrs = [split_host_port(a) for a, _ in listens] or [(None, None)]
            for addr, lport in addrs:
                key = (addr, lport or port)
                if key in seen:
                    continue
                seen.add(key)
                f.ports.append(Port(service=service, port=lport or port, address=addr,
                                    evidence=self.evidence(path, f"Port {port}")))
        f.services.append(enrich(ctx, self, service, main, role="sshd", vm_only=True, vm_only_reason=REASON))
        return f
