"""The verification report of a running stack: one entry per check, pass or fail, with timings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Model

# probe: a server kind's own client (migrate/kinds Probe); crashed: a container that exited or restarts
CheckKind = Literal["tcp", "http", "pg_isready", "redis_ping", "edge", "secret_scan", "user", "published_ports",
                    "running", "probe", "crashed"]


class Check(Model):
    kind: CheckKind
    service: str | None = None
    target: str  # what was probed: shop:8080, GET http://nginx:80/, image example/x:latest ...
    ok: bool
    seconds: float = 0.0
    expected: str | None = None
    actual: str | None = None
    detail: str | None = None  # never holds a secret value


class ImageSizes(Model):
    images: dict[str, int] = Field(default_factory=dict)  # tag -> size reported by the engine
    sum_bytes: int = 0  # naive sum (shared base layers counted once per image)
    unique_layer_bytes: int = 0  # distinct layers of `docker save` of all images: the real cost


class VerificationReport(Document):
    KIND = "verification-report"
    SCHEMA_VERSION = 1

    project: str
    mode: Literal["compose", "swarm"]
    seconds: float = 0.0
    checks: list[Check] = Field(default_factory=list)
    images: ImageSizes = Field(default_factory=ImageSizes)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def canonical(self) -> VerificationReport:
        data = self.model_copy(deep=True)
        data.checks.sort(key=lambda c: (c.kind, c.service or "", c.target))
        return data
