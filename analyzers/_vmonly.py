"""Services that belong to the virtual machine rather than to the application: they are reported
with ``vm_only`` and a reason so the planner leaves them out of the container stack.

The table lives in ``migrate.kinds.vmonly`` (one table for analyzers and planner; kind modules add
their own patterns); this module keeps the analyzers' import path."""

from __future__ import annotations

from migrate.kinds.vmonly import RULES, vm_only_reason

__all__ = ["RULES", "vm_only_reason"]
