"""Common base for the stage documents: typed, versioned, deterministically serialised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from migrate.errors import InvalidDocument


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)


class Evidence(Model):
    """Where a fact came from: the analyzer that found it and the guest path it read."""

    analyzer: str
    path: str
    detail: str | None = None


class Document(Model):
    """A stage document. ``kind`` and ``schema_version`` identify it on disk."""

    KIND: ClassVar[str] = "document"
    SCHEMA_VERSION: ClassVar[int] = 1

    kind: str = ""
    schema_version: int = 0

    def model_post_init(self, __context: Any) -> None:
        if not self.kind:
            self.kind = self.KIND
        if not self.schema_version:
            self.schema_version = self.SCHEMA_VERSION

    def to_json(self) -> str:
        """Sorted keys, stable list order (each document sorts its lists in ``canonical``)."""
        return json.dumps(self.canonical().model_dump(mode="json"), sort_keys=True, indent=2) + "\n"

    def canonical(self) -> Self:
        return self

    @classmethod
    def from_json(cls, text: str, *, source: str = "<input>") -> Self:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidDocument(f"not valid JSON: {exc}", path=source) from exc
        if isinstance(data, dict):
            if data.get("kind") not in (None, cls.KIND):
                raise InvalidDocument(f"is a {data.get('kind')!r} document, expected {cls.KIND!r}", path=source)
            version = data.get("schema_version")
            if version is not None and version > cls.SCHEMA_VERSION:
                raise InvalidDocument(
                    f"schema_version {version} is newer than this migrate understands ({cls.SCHEMA_VERSION})",
                    path=source,
                )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidDocument(f"invalid {cls.KIND}: {where}: {first['msg']}", path=source) from exc

    @staticmethod
    def read_source(path: str | Path) -> str:
        """The text of a document file; an unreadable file is an InvalidDocument naming it."""
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise InvalidDocument(f"cannot read: {exc.strerror}", path=str(path)) from exc

    @classmethod
    def load(cls, path: str | Path) -> Self:
        return cls.from_json(cls.read_source(path), source=str(path))
