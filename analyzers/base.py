"""The analyzer contract.

An analyzer declares its ``name``, what it ``requires`` (other analyzers whose findings it reads) and
the OS families it applies to; the runner (migrate.analysis) decides order, filtering and failure
handling. An analyzer sees the guest only through ``ctx.rootfs`` and raises NotApplicable when there
is nothing for it to do (not an error).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

from migrate.model.base import Evidence
from migrate.model.inventory import Findings, OSInfo, Secret
from migrate.rootfs import RootFS

REDACTED = "****"


class NotApplicable(Exception):
    """Nothing for this analyzer in this guest."""


OS_ANALYZER = "os_release"


class Analyzer:
    """Analyzers that set ``os_families`` run after the OS analyzer (the runner adds that
    requirement), so they are filtered on the guest's real family."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    os_families: ClassVar[tuple[str, ...] | None] = None  # None: every family
    # True for an analyzer that can tell the OS family (besides os_release): family-filtered analyzers wait for it
    identifies_os: ClassVar[bool] = False

    def run(self, ctx: Context) -> Findings:  # pragma: no cover - interface
        raise NotImplementedError

    def evidence(self, path: str, detail: str | None = None) -> Evidence:
        return Evidence(analyzer=self.name, path=path, detail=detail)


class SecretVault:
    """Holds the secret values found during one run, in memory only.

    Analyzers hand every credential they see to ``record``; what comes back is the Secret record
    that goes into the inventory (redacted, no value). ``value_ref`` is the same for equal values,
    so the same password found in two files is known to be one secret."""

    def __init__(self) -> None:
        self._refs: dict[str, str] = {}
        self._values: dict[str, str] = {}

    def record(self, value: str, *, id: str, kind: str, redacted: str, evidence: Evidence,
               service: str | None = None, key: str | None = None) -> Secret:
        ref = self._refs.get(value)
        if ref is None:
            ref = f"secret-{len(self._refs) + 1}"
            self._refs[value] = ref
            self._values[ref] = value
        return Secret(id=id, kind=kind, service=service, key=key, redacted=redacted, value_ref=ref,
                      length=len(value), evidence=evidence)

    def value(self, ref: str) -> str:
        """The clear value, for the one place that needs it (exporting a secrets file on request)."""
        return self._values[ref]

    def values(self) -> Iterable[str]:
        return self._values.values()

    def redact_text(self, text: str) -> str:
        """``text`` with every known secret value replaced by ****: for logs and error messages."""
        for value in sorted(self._values.values(), key=len, reverse=True):
            if value:
                text = text.replace(value, REDACTED)
        return text


@dataclass
class Context:
    rootfs: RootFS
    secrets: SecretVault = field(default_factory=SecretVault)
    os: OSInfo | None = None
    results: dict[str, Findings] = field(default_factory=dict)
    # run-scoped facts that are not inventory findings (e.g. dpkg conffile checksums, vendor-masked units),
    # shared between built-in analyzers; keys are owned by the analyzer that writes them
    cache: dict[str, object] = field(default_factory=dict)

    def findings(self, analyzer: str) -> Findings:
        return self.results.get(analyzer) or Findings()


_SECRET_KEY = re.compile(r"(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)", re.I)


def looks_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_url(url: str) -> tuple[str, str | None]:
    """(url with its password replaced by ****, the password or None)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{REDACTED}@{host}"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), parts.password
