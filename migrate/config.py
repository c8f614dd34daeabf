"""The project config file: registry, org, tag, labels, base images and cost per host, set once.

A consultant migrating a client's VMs sets these once for the engagement, in ``migrate.yaml`` (or
``.migrate.yaml``) next to the work, the way ``.syft.yaml`` or compose's ``.env`` are found: the
working directory first, then its parents up to the repository root (a directory holding ``.git``)
or the filesystem root. Command-line options still win over the file.

Validated with pydantic; an unknown key or a wrong type is a :class:`ConfigError` naming the file and
the key (exit code 45), never silently ignored: a misspelt ``registy:`` would otherwise push nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from migrate.errors import ConfigError

CONFIG_NAMES = ("migrate.yaml", ".migrate.yaml")
MAX_CONFIG_BYTES = 256 * 1024
# the organisation-convention labels (com.<org>.docker.<key>) a project may set
LABEL_KEYS = ("environment", "maturity", "maintainer", "geo", "ops-guide", "test-script")
# Docker's reference grammar, simplified: registry host[:port] and tag character sets
REGISTRY_RE = r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._/-]+)?$"
TAG_RE = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
ORG_RE = r"^[a-z0-9][a-z0-9_.-]*$"

Tag = Annotated[str, StringConstraints(pattern=TAG_RE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CostPerHost(_Strict):
    """What one host costs, for the capacity report's savings (F3's report reads it)."""

    amount: float = Field(ge=0)
    currency: str = Field(default="EUR", min_length=1, max_length=8)
    period: Literal["month", "year"] = "year"


class ImageLabels(_Strict):
    """OCI annotations the project knows better than the guest does."""

    source: str | None = None  # org.opencontainers.image.source: where the migration project lives
    revision: str | None = None  # org.opencontainers.image.revision: its commit
    vendor: str | None = None
    authors: str | None = None
    url: str | None = None
    documentation: str | None = None
    licenses: str | None = None


class ProjectConfig(_Strict):
    """``migrate.yaml``. Every field is optional; an absent file is ``ProjectConfig()``."""

    registry: Annotated[str, StringConstraints(pattern=REGISTRY_RE)] | None = None
    org: Annotated[str, StringConstraints(pattern=ORG_RE)] | None = None
    tag: Tag | None = None
    labels: dict[Literal["environment", "maturity", "maintainer", "geo", "ops-guide", "test-script"], str] = \
        Field(default_factory=dict)
    image_labels: ImageLabels = Field(default_factory=ImageLabels)
    # per distro release ("debian:12", "rocky:9") or per distro ("alpine"): the base image to build on
    base_images: dict[str, str] = Field(default_factory=dict)
    cost_per_host: CostPerHost | None = None
    path: Path | None = Field(default=None, exclude=True)  # the file it came from (None: defaults)

    def base_image_for(self, distro: str, version: str | None) -> str | None:
        """The configured base image for a guest's distro and release: ``distro:version`` first
        (``debian:12``), then the major release (``rocky:9`` for 9.3), then ``distro``."""
        keys = []
        if version:
            keys.append(f"{distro}:{version}")
            major = re.split(r"[.]", version, maxsplit=1)[0]
            if major != version:
                keys.append(f"{distro}:{major}")
        keys.append(distro)
        return next((self.base_images[k] for k in keys if k in self.base_images), None)


def find_project_config(start: Path) -> Path | None:
    """The nearest ``migrate.yaml`` / ``.migrate.yaml`` from ``start`` upwards, stopping after the
    directory that holds ``.git`` (the project's root). Two candidates in one directory are an error:
    which one wins would be a guess."""
    here = Path(start).absolute()
    if here.is_file():
        here = here.parent
    for d in (here, *here.parents):
        found = [d / n for n in CONFIG_NAMES if (d / n).is_file()]
        if len(found) > 1:
            raise ConfigError(f"both {found[0].name} and {found[1].name} exist here: keep one", path=str(d))
        if found:
            return found[0]
        if (d / ".git").exists():
            return None
    return None


def load_config_file(path: Path) -> ProjectConfig:
    """Read and validate one config file (errors name the file and the key)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a project config", path=str(path))
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings (registry:, org:, tag: ...)", path=str(path))
    try:
        cfg = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            known = ", ".join(_known_keys(first["loc"]))
            raise ConfigError(f"unknown key {key!r} (known: {known})", path=str(path)) from exc
        raise ConfigError(f"{key}: {_plain(first)}", path=str(path)) from exc
    return cfg.model_copy(update={"path": Path(path)})


def load_project_config(start: Path) -> ProjectConfig:
    """The project config found from ``start`` (see :func:`find_project_config`), or the defaults."""
    path = find_project_config(start)
    return load_config_file(path) if path else ProjectConfig()


def _known_keys(loc: tuple[object, ...]) -> list[str]:
    model: type[BaseModel] = ProjectConfig
    for part in loc[:-1]:
        ann = model.model_fields.get(str(part))
        sub = getattr(ann, "annotation", None) if ann else None
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            model = sub
        else:
            break
    return [k for k in model.model_fields if k != "path"]


def _plain(err: dict) -> str:  # type: ignore[type-arg]
    """pydantic's message in plain words (no 'Value error,' prefix, no regex soup)."""
    if err["type"] == "string_pattern_mismatch":
        return f"{err.get('input')!r} is not a valid value here"
    if err["type"] == "literal_error":
        return f"{err.get('input')!r} is not one of {err['ctx']['expected']}"
    return str(err["msg"]).removeprefix("Value error, ")
