"""Localhost step (placeholder filled in below)."""

from __future__ import annotations

from migrate.model.plan import Container, Volume
from migrate.planning.context import PlanContext


def bridge(ctx: PlanContext, containers: list[Container], volumes: list[Volume]) -> None:
    return None
