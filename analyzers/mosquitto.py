"""Mosquitto (MQTT broker): mosquitto.conf and its include_dir. ``listener``/``port`` lines listen
(1883 when none, loopback-only in 2.x), ``password_file`` holds the users' password hashes (copied,
marked as holding secrets), ``persistence_location`` is data (retained messages, subscriptions)."""

from __future__ import annotations

import posixpath

from migrate.analyzers._support import (
    PORT_OR_ZERO,
    SecretSink,
    config_file,
    enrich,
    expand_glob,
    guest_number,
    main_config,
    persistent_path,
    pick_service,
    read_text,
)
from migrate.analyzers.base import REDACTED, Analyzer, Context
from migrate.model.inventory import Findings, Port

MAIN = ("/etc/mosquitto/mosquitto.conf", "/usr/local/etc/mosquitto/mosquitto.conf")


class MosquittoAnalyzer(Analyzer):
    name = "mosquitto"
    requires = ("systemd", "sysv", "users_groups", "packages_dpkg")

    def run(self, ctx: Context) -> Findings:
        main = main_config(ctx, MAIN, "mosquitto.conf")
        f = Findings()
        service = pick_service(ctx, ["mosquitto"], "mosquitto")
        settings: dict[str, tuple[str, str]] = {}
        listeners: list[tuple[int, str | None, str | None, str]] = []  # port, address, unix path, file
        files = [main]
        i = 0
        while i < len(files) and i < 64:
            path = files[i]
            i += 1
            text = read_text(ctx, self, path, f)
            if text is None:
                continue
            f.configs.append(config_file(ctx, self, path, service=service, kind="mosquitto.conf", content=text))
            for lineno, line in enumerate(text.splitlines(), 1):
                w = line.split("#", 1)[0].split()
                if not w:
                    continue
                key, args = w[0], w[1:]
                if key == "include_dir" and args:
                    files += [p for p in expand_glob(ctx, posixpath.join(args[0], "*.conf")) if p not in files]
                elif key in ("listener", "port") and args:
                    port = guest_number(self, f, args[0], PORT_OR_ZERO, path=path, what=f"the {key} port",
                                        line=lineno)
                    where = args[1] if key == "listener" and len(args) > 1 else None
                    if port is None:
                        continue
                    if port == 0 and where:  # listener 0 /run/mosquitto.sock: a Unix socket
                        listeners.append((0, None, where, path))
                    else:
                        listeners.append((port, where, None, path))
                elif args:
                    settings[key] = (args[0], path)
        if listeners:
            for port, addr, sock, path in listeners:
                f.ports.append(Port(service=service, proto="unix" if sock else "tcp", port=port or None,
                                    address=addr, path=sock, evidence=self.evidence(path, "listener")))
        else:
            f.ports.append(Port(service=service, port=1883, address="127.0.0.1",
                                evidence=self.evidence(main, "no listener: mosquitto 2 listens on loopback 1883")))
        sink = SecretSink(ctx, self, f, service)
        for key in ("password_file", "acl_file"):
            if key in settings:
                value, path = settings[key]
                text = read_text(ctx, self, value, f)
                if text is None:
                    continue
                before = len(f.secrets)
                if key == "password_file":
                    # user:hash lines the broker needs to start: each hash a secret the entrypoint fills in
                    # (not data that moves with a volume, so not left as a bare password-hash)
                    for line in text.splitlines():
                        user, sep, hashed = line.strip().partition(":")
                        if sep and hashed and not user.startswith("#"):
                            sink.secret(hashed, key=user, kind="password", redacted=f"{user}:{REDACTED} (hashed)",
                                        path=value)
                f.configs.append(config_file(ctx, self, value, service=service, kind=f"mosquitto-{key}",
                                             content=text, contains_secrets=len(f.secrets) > before,
                                             detail=f"{key} in {path}"))
        if settings.get("persistence", ("false", ""))[0] == "true":
            location, path = settings.get("persistence_location", ("/var/lib/mosquitto/", main))
            pp = persistent_path(ctx, self, location.rstrip("/") or "/", service=service, kind="data",
                                 reason=f"mosquitto persistence_location in {path} (retained messages, "
                                        "subscriptions)", evidence_path=path)
            if pp:
                f.persistent_paths.append(pp)
        svc = enrich(ctx, self, service, main, role="mosquitto")
        if "user" in settings:
            svc.evidence[0].detail = f"role mosquitto; drops to user {settings['user'][0]}"
        f.services.append(svc)
        return f
