"""Mosquitto: already in the foreground under systemd (Type=notify); runs as the mosquitto account
it drops to in the VM and logs to the container's output."""

from __future__ import annotations

from migrate.kinds.base import Foreground, Kind, KindContext, drop_options
from migrate.model.inventory import ConfigFile
from migrate.model.plan import FileEdit


class Mosquitto(Kind):
    name = "mosquitto"
    roles = ("mosquitto",)
    executables = (r"mosquitto",)
    container = "mosquitto"
    packages = (r"mosquitto",)
    user = "mosquitto"
    weight = 1
    start_period = "10s"
    runtime_dirs = (("/run/mosquitto", 0o755),)
    schemes = {"mqtt": 1883, "mqtts": 8883}

    def daemonises(self, argv: list[str]) -> bool:
        return "-d" in argv or "--daemon" in argv

    def foreground(self, argv: list[str], ctx: KindContext) -> Foreground | None:
        if not self.daemonises(argv):
            return None
        return Foreground(drop_options([argv[0].lstrip("-@+!:"), *argv[1:]], {"-d": 0, "--daemon": 0}),
                          "-d puts mosquitto in the background: dropped, so it is the container's main process")

    def config_edits(self, config: ConfigFile, ctx: KindContext) -> list[FileEdit]:
        if config.kind != "mosquitto.conf":
            return []
        return [FileEdit(pattern=r"^(\s*log_dest\s+)file\s+\S+", replacement=r"\g<1>stderr",
                         reason="log_dest to the container's output, so `docker logs` shows it")]


KIND = Mosquitto()
