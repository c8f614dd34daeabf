"""`migrate schema DOCUMENT`: the JSON Schema of a stage document."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from migrate.errors import UsageError


def _documents() -> dict[str, type]:
    from migrate.model.inventory import Inventory

    docs: dict[str, type] = {"inventory": Inventory}
    for module, cls in (("migrate.model.graph", "ServiceGraph"), ("migrate.model.plan", "Plan"),
                        ("migrate.model.bench", "BenchResults")):
        try:
            mod = __import__(module, fromlist=[cls])
            docs[getattr(mod, "KIND", None) or getattr(mod, cls).KIND] = getattr(mod, cls)
        except (ImportError, AttributeError):
            continue
    return docs


def schema(
    document: Annotated[str, typer.Argument(help="inventory (or another stage document: graph, plan ...)")],
) -> None:
    """Print the JSON Schema of a stage document."""
    docs = _documents()
    if document not in docs:
        raise UsageError(f"unknown document {document!r}; known: {', '.join(sorted(docs))}")
    print(json.dumps(docs[document].model_json_schema(), indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    app.command()(schema)
