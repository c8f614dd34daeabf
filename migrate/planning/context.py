"""State shared by the planner's steps: the inventory, the graph, the chosen base image and the
container names decided by the selection step."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from migrate.kinds import Kind, KindContext, kind_for
from migrate.model.graph import ServiceGraph
from migrate.model.inventory import Inventory, Package, Service
from migrate.model.plan import BaseImage
from migrate.model.plan import Dropped as DroppedModel

UNIT_KINDS = ("unit", "systemd-unit", "systemd-dropin", "init-script", "openrc-script")


class GuestReader(Protocol):
    """What the planner and generator need from a guest: RootFS provides it."""

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes: ...
    def is_dir(self, path: str) -> bool: ...
    def exists(self, path: str) -> bool: ...
    def walk(self, top: str, *, max_entries: int = 1_000_000,
             max_depth: int | None = None) -> Iterator[tuple[str, object]]: ...


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "x"


@dataclass
class PlanContext:
    inv: Inventory
    graph: ServiceGraph
    reader: GuestReader | None
    base: BaseImage
    org: str
    stack: str
    image_prefix: str
    extra_labels: dict[str, str] = field(default_factory=dict)
    containers: dict[str, Service] = field(default_factory=dict)  # container name -> service
    by_service: dict[str, str] = field(default_factory=dict)  # service name -> container name
    dropped: list[DroppedModel] = field(default_factory=list)

    @property
    def manager(self) -> str:
        return self.base.package_manager

    @property
    def prefix(self) -> str:
        return f"com.{self.org}.docker"

    @property
    def installed(self) -> dict[str, Package]:
        return {p.name: p for p in self.inv.packages if p.state in ("installed", "")}

    def kind(self, s: Service) -> Kind:
        return kind_for(s)

    def kind_context(self, s: Service, volumes: list[str] | None = None,
                     secret_of: dict[str, str] | None = None) -> KindContext:
        return KindContext(service=s, inventory=self.inv, installed=self.installed, manager=self.manager,
                           family=self.base.family, volumes=list(volumes or []), secret_of=dict(secret_of or {}))

    def stack_labels(self) -> dict[str, str]:
        labels = {f"{self.prefix}.source-vm": self.inv.name,
                  f"{self.prefix}.ops-guide": "README.md", f"{self.prefix}.test-script": "test.sh",
                  f"{self.prefix}.environment": "staging", f"{self.prefix}.maturity": "experimental"}
        for k, v in self.extra_labels.items():
            labels[f"{self.prefix}.{k}"] = v
        return labels

    def incoming(self, s: Service) -> list[str]:
        """Services of the stack that connect to ``s``."""
        return sorted({e.source.removeprefix("service:") for e in self.graph.edges
                       if e.kind == "connects-to" and e.target == f"service:{s.name}"
                       and e.source.removeprefix("service:") in self.by_service})


def guest_path(path: str) -> str:
    """A path as the guest resolves it lexically: absolute, ``..`` never above ``/`` (``/opt/../etc`` is
    ``/etc``). Paths in units and configs come from a hostile image; decisions are made on this form."""
    return posixpath.normpath("/" + path.lstrip("/"))
