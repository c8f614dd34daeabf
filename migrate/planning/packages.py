"""Packages step: what the image installs, pinned to the VM's versions.

One function, ``packages_for``: the package-closure work (migrate/closure.py) replaces its body with
a call to ``package_closure(...)``; callers do not change."""

from __future__ import annotations

import re
from pathlib import Path

from migrate.closure import package_closure
from migrate.kinds import Kind
from migrate.model.inventory import Service
from migrate.model.plan import Packages, PinnedPackage
from migrate.planning.base_image import pin
from migrate.planning.context import PlanContext

INTERPRETER_PACKAGES = {
    "python3": (r"python3", r"python3-(?!minimal$|apt$|debian$|debconf|distutils$|lib2to3$|pkg-resources$|setuptools"
                r"$|pip$|venv$|dev$|gi$|dbus$|libs$|libcomps$|dnf|rpm$|hawkey$|gpg$|six$|chardet$)[a-z0-9.+-]+"),
    "python": (r"python3",),
    "node": (r"nodejs\d*",),
    "java": (r"openjdk-\d+-jre-headless", r"java-[\d.]+-openjdk-headless"),
    "php": (r"php\d*(\.\d+)?-cli", r"php\d*-cli", r"php-cli"),
    "ruby": (r"ruby\d*(\.\d+)?",),
    "perl": (r"perl",),
}


def packages_for(ctx: PlanContext, s: Service, kind: Kind, extra: list[str]) -> tuple[Packages, set[str]]:
    """The packages of ``s``'s image and, separately, the names chosen (empty: nothing found that
    provides the service). ``extra``: tools the healthcheck needs.

    With the guest at hand, the package closure decides (migrate.closure: the packages that own the
    files the service uses, from the guest's own package file lists); the name patterns below are
    the fallback for a plan made from an inventory alone."""
    fg = kind.foreground(list(s.exec_start), ctx.kind_context(s)) if s.exec_start else None
    closed = package_closure(ctx.inv, s, ctx.reader, ctx.manager, extra, command=fg.argv if fg else None)
    if closed is not None:
        return closed
    installed = ctx.installed
    patterns: list[tuple[str, str]] = [(p, f"{s.role or kind.name} server") for p in kind.packages]
    interp = s.interpreter or (Path(s.exec_start[0]).name if s.exec_start else "")
    interp = re.sub(r"[\d.]+$", "", interp) if interp not in INTERPRETER_PACKAGES else interp
    if interp == "python":
        interp = "python3"
    for p in INTERPRETER_PACKAGES.get(interp, ()):
        patterns.append((p, f"the {interp} interpreter and the libraries the VM had for it"))
    chosen: dict[str, str] = {}
    for c in ctx.inv.configs:
        if c.service == s.name and c.from_package in installed:
            chosen.setdefault(c.from_package, f"owns {c.path}")
    for name in sorted(installed):
        for pattern, why in patterns:
            if re.fullmatch(pattern, name):
                chosen.setdefault(name, why)
    for name in sorted(chosen):
        # a server packaged apart from its client (RHEL's postgresql-server/postgresql): the client half
        # holds the tools the healthcheck and verify use
        client = name.removesuffix("-server")
        if client != name and client in installed:
            chosen.setdefault(client, f"the client half of {name} (the healthcheck's and verify's tools)")
    found = set(chosen)
    for name in extra:
        if name in installed:
            chosen.setdefault(name, "used by the healthcheck")
    if s.exec_start and not found:
        why = f"no installed package matched {s.exec_start[0]}; add the ones it needs"
    else:
        why = ("versions as installed in the VM; dependencies come from the distribution's repositories "
               "(the pinned versions must still be there: point the build at a snapshot mirror if not)")
    items = [PinnedPackage(name=n, version=installed[n].version, spec=pin(ctx.manager, n, installed[n].version),
                           reason=chosen[n]) for n in sorted(chosen)]
    detail = "; ".join(f"{n}: {w}" for n, w in sorted(chosen.items()))
    return Packages(items=items, reason=f"{why}. {detail}" if detail else why), found
