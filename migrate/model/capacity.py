"""Capacity planning documents: the fleet as sized VMs, and the report of packing it three ways."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Model

Rule = Literal["like-for-like", "moderate", "aggressive"]
ScenarioName = Literal["vms-today", "containers-in-vms", "containers-bare-metal"]


class FleetVM(Model):
    """One VM of the fleet. Utilization percentiles are percent of the VM's own allocation (0-100)."""

    name: str
    vcpus: int
    memory_mib: int
    disk_gib: float = 0.0
    cpu_p50: float | None = None
    cpu_p90: float | None = None
    cpu_p95: float | None = None
    cpu_peak: float | None = None
    mem_p50: float | None = None
    mem_p90: float | None = None
    mem_p95: float | None = None
    mem_peak: float | None = None
    group: str | None = None  # replicas of one service: anti-affinity, never on the same host
    source: str = "csv"


class Overheads(Model):
    """Per-instance costs and CPU efficiencies applied when VMs become containers; each with its source."""

    vm_fixed_mib: float
    container_fixed_mib: float
    container_cpu_efficiency: float
    vm_cpu_efficiency: float
    sources: dict[str, str] = Field(default_factory=dict)


class HostSpec(Model):
    cores: float
    memory_gib: float
    headroom: float  # fraction of each host kept free (0.2 = fill to 80 %)
    reserve: int  # N+k spare hosts


class SizedItem(Model):
    name: str
    cpu: float  # cores
    memory_mib: float
    group: str | None = None
    basis: str = ""


class HostPlacement(Model):
    host: int
    items: list[str] = Field(default_factory=list)
    cpu: float = 0.0
    memory_mib: float = 0.0


class Scenario(Model):
    name: ScenarioName
    title: str
    items: list[SizedItem] = Field(default_factory=list)
    hosts: list[HostPlacement] = Field(default_factory=list)
    hosts_needed: int = 0
    hosts_total: int = 0  # with the N+k reserve
    capacity_cpu: float = 0.0  # usable per host after headroom
    capacity_memory_mib: float = 0.0
    unplaceable: list[str] = Field(default_factory=list)
    basis: str = ""


class HostCost(Model):
    """What one host costs (hardware, licences, power, rack space), as the client gives it."""

    amount: float
    currency: str = "EUR"
    period: Literal["month", "year"] = "year"


class SensitivityCell(Model):
    rule: Rule
    headroom: float
    scenario: ScenarioName
    hosts_total: int


class CapacityReport(Document):
    KIND = "capacity-report"
    SCHEMA_VERSION = 1

    generated: str
    rule: Rule
    rule_text: str
    host: HostSpec
    overheads: Overheads
    fleet: list[FleetVM] = Field(default_factory=list)
    fleet_source: str = ""
    bench_source: str | None = None
    bench_accel: str | None = None
    scenarios: list[Scenario] = Field(default_factory=list)
    sensitivity: list[SensitivityCell] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    cost_per_host: HostCost | None = None  # for the executive summary's savings

    def canonical(self) -> CapacityReport:
        data = self.model_copy(deep=True)
        data.fleet.sort(key=lambda v: v.name)
        data.sensitivity.sort(key=lambda c: (c.rule, c.headroom, c.scenario))
        return data

    def scenario(self, name: str) -> Scenario:
        return next(s for s in self.scenarios if s.name == name)
