"""Image names and OCI annotations (org.opencontainers.image.*) for the generated images.

Plan time (``image_ref``, ``plan_tag``, ``plan_labels``): what the plan, the inventory and the project
config know (title, description, version, vendor, source, revision ...) goes into the container's
``labels`` and so into every Dockerfile ``LABEL`` and compose ``labels``.

Build time (``build_labels``): ``created`` and ``base.digest`` are known only when the image is built;
``migrate build`` adds them as build labels. ``created`` honours ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention) so two builds of the same stack can carry the same value; generated
files never contain a time, so the goldens stay stable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from migrate.config import ImageLabels

OCI = "org.opencontainers.image"
DEFAULT_NAMESPACE = "migrate"
TAG_PREFIX = "plan-"


def image_ref(*, registry: str | None, namespace: str, stack: str, name: str, tag: str) -> str:
    """``[registry/]namespace/stack-name:tag``: one repository per service of a stack, as Docker's
    reference grammar wants it (lower case)."""
    repo = f"{namespace}/{stack}-{name}".lower()
    return f"{registry.rstrip('/')}/{repo}:{tag}" if registry else f"{repo}:{tag}"


# the parts of a container's plan entry the image is built from (the rest -- deploy limits, networks,
# dependencies, hardening -- is applied at run time and must not change the tag)
IMAGE_FIELDS = ("name", "base", "packages", "user", "extra_users", "command", "files", "runtime_dirs", "remove",
                "links", "ports", "healthcheck", "volumes", "secrets", "environment", "forwarders")


def _without_reasons(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_reasons(v) for k, v in value.items() if k != "reason"}
    if isinstance(value, list):
        return [_without_reasons(v) for v in value]
    return value


def plan_tag(container: Mapping[str, Any]) -> str:
    """A tag that changes exactly when what the image is built from changes (``latest`` is mutable and
    says nothing): the first 10 hex digits of the SHA-256 of the image-relevant fields of the container's
    plan entry, without the human-readable reasons."""
    data = _without_reasons({k: container.get(k) for k in IMAGE_FIELDS})
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return TAG_PREFIX + digest[:10]


def plan_labels(*, title: str, description: str, version: str, vendor: str,
                project: ImageLabels, source_vm: str) -> dict[str, str]:
    """OCI annotations known when planning; ``project`` (the config's image_labels) adds source,
    revision, authors, url, documentation, licenses where the project set them."""
    labels = {f"{OCI}.title": title, f"{OCI}.description": description, f"{OCI}.version": version,
              f"{OCI}.vendor": project.vendor or vendor,
              f"{OCI}.ref.name": version}
    for key in ("source", "revision", "authors", "url", "documentation", "licenses"):
        value = getattr(project, key)
        if value:
            labels[f"{OCI}.{key}"] = value
    if not project.documentation:
        labels[f"{OCI}.documentation"] = f"README.md of the stack migrated from {source_vm}"
    return labels


def created(environ: Mapping[str, str] | None = None) -> str:
    """RFC 3339 build time: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else now."""
    env = os.environ if environ is None else environ
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        if not re.fullmatch(r"[0-9]{1,12}", raw):
            from migrate.errors import UsageError
            raise UsageError(f"SOURCE_DATE_EPOCH={raw!r}: expected seconds since 1970 (an integer)")
        when = dt.datetime.fromtimestamp(int(raw), tz=dt.UTC)
    else:
        when = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_labels(base_image: str, base_id: str | None, base_repo_digests: list[str] | None = None,
                 environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels only the build knows: when, and which base image exactly (its registry digest when it
    was pulled, else the local image id: a locally made base has no registry digest)."""
    labels = {f"{OCI}.created": created(environ), f"{OCI}.base.name": base_image}
    digest = next((d.split("@", 1)[1] for d in base_repo_digests or [] if "@" in d), None) or base_id
    if digest:
        labels[f"{OCI}.base.digest"] = digest
    return labels
