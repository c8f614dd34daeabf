"""Fleet documents: the members of a fleet, the edges between them, the waves, and the fleet report.

These are the contract between the fleet stages (store and engine → waves → report). The SQLite store
keeps one `FleetMember` per VM; per-VM documents (inventory.json, plan.yaml, the stack) stay files beside
the store and are referenced by path relative to the fleet directory.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.model.base import Document, Model

SourceKind = Literal["image", "manifest", "rvtools"]
MemberState = Literal["pending", "inspecting", "inspected", "failed", "planned", "converted", "no-image"]
Readiness = Literal["ready", "blocked", "failed", "not-inspected"]


class SourceRef(Model):
    """Where a member came from: a disk image found under a directory or glob, a manifest CSV row, or an
    RVTools vInfo row (``row`` is 1-based, header excluded)."""

    kind: SourceKind
    path: str
    row: int | None = None


class RVToolsSizing(Model):
    """The vInfo columns the fleet uses. Memory and disk sizes in MiB as RVTools reports them.
    ``dns_name`` (vInfo "DNS Name") and ``ip_addresses`` (vInfo "Primary IP Address", then vNetwork
    "IPv4 Address" of the workbook) are what VMware Tools reported from the running guest: the fleet
    graph matches connections to them, so a VM whose disk is not exported yet can still be a target."""

    vm: str
    cpus: int | None = None
    memory_mib: int | None = None
    provisioned_mib: float | None = None
    in_use_mib: float | None = None
    os: str | None = None
    powerstate: str | None = None
    datacenter: str | None = None
    cluster: str | None = None
    host: str | None = None
    dns_name: str | None = None
    ip_addresses: list[str] = Field(default_factory=list)


Stage = Literal["inspect", "plan", "convert", "build"]  # build: `fleet convert --build`
STAGE_ORDER: tuple[str, ...] = ("inspect", "plan", "convert", "build")  # the pipeline's order


def stage_rank(stage: str) -> int:
    """A stage's place in the pipeline (an unknown one last), for listing errors in the order they arise."""
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


class MemberError(Model):
    """Why a member failed: the error class and CLI exit code `migrate inspect` would have given."""

    error_class: str
    exit_code: int
    message: str
    stage: Stage = "inspect"


class FleetMember(Model):
    """One VM of the fleet. ``name`` is unique in the fleet (manifest name, else image stem)."""

    name: str
    sources: list[SourceRef] = Field(default_factory=list)
    image: str | None = None  # absolute path of the disk image or OVA; None: not exported yet
    disks: list[str] = Field(default_factory=list)  # further disks of the same VM after ``image``, in order
    fingerprint: str | None = None  # content fingerprint of the image when it was inspected
    state: MemberState = "pending"
    error: MemberError | None = None
    owner: str | None = None
    environment: str | None = None
    wave_hint: str | None = None
    sizing: RVToolsSizing | None = None
    # filled from the inventory
    os_family: str | None = None
    distro: str | None = None
    os_version: str | None = None
    hostnames: list[str] = Field(default_factory=list)  # hostname and FQDNs the guest calls itself
    addresses: list[str] = Field(default_factory=list)  # static IP addresses configured in the guest
    # where each of ``addresses`` was read: guest path and line ("/etc/network/interfaces line 6")
    address_evidence: dict[str, str] = Field(default_factory=dict)
    kinds: list[str] = Field(default_factory=list)  # server kinds of its application services
    # filled from the plan
    readiness: Readiness = "not-inspected"
    blockers: list[str] = Field(default_factory=list)  # "kind: detail" of each blocker-severity item
    # per-VM documents, relative to the fleet directory
    inventory_path: str | None = None
    plan_path: str | None = None
    stack_path: str | None = None


class CrossVMEdge(Model):
    """A connection from a service of one member to another member (matched by hostname, FQDN or IP)."""

    source: str  # member name
    target: str  # member name
    matched_by: Literal["hostname", "fqdn", "ip"]
    address: str  # as written in the guest: db01.corp.example, 10.0.0.5
    port: int | None = None
    via: str  # what carried it: DATABASE_URL, proxy_pass upstream, jdbc url ...
    evidence: str  # guest path of the source member
    # why the address is the target's: its guest file ("/etc/hosts", "/etc/network/interfaces line 6")
    # or the RVTools row that reported it ("RVTools vInfo row 7: Primary IP Address")
    target_evidence: str | None = None


class Wave(Model):
    number: int  # 1 = first
    members: list[str]
    reason: str


class FleetReport(Document):
    """Everything the fleet report renders; written as fleet-report.json beside report.html."""

    KIND = "fleet-report"
    SCHEMA_VERSION = 1

    fleet: str  # the fleet's display name (never a local path)
    members: list[FleetMember] = Field(default_factory=list)
    edges: list[CrossVMEdge] = Field(default_factory=list)
    waves: list[Wave] = Field(default_factory=list)

    def canonical(self) -> FleetReport:
        return self.model_copy(
            update={
                "members": sorted(self.members, key=lambda m: m.name),
                "edges": sorted(self.edges, key=lambda e: (e.source, e.target, e.address, e.via)),
                "waves": sorted(self.waves, key=lambda w: w.number),
            }
        )
