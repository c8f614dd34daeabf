"""`migrate schema DOCUMENT`: the JSON Schema of a stage document."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Annotated

import typer

from migrate.errors import UsageError


def documents() -> dict[str, type]:
    """Every stage document of ``migrate.model`` by its ``kind``, found by walking the package, so a
    document added later is listed without touching this command. The last word of a kind is an
    alias when no other kind ends with it (``graph`` for ``service-graph``)."""
    import migrate.model
    from migrate.model.base import Document

    for mod in pkgutil.iter_modules(migrate.model.__path__):
        importlib.import_module(f"migrate.model.{mod.name}")
    kinds: dict[str, type] = {}
    stack = list(Document.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("migrate.model.") and cls.KIND != Document.KIND:
            kinds.setdefault(cls.KIND, cls)
    names = dict(kinds)
    last_words: dict[str, list[str]] = {}
    for kind in kinds:
        last_words.setdefault(kind.rsplit("-", 1)[-1], []).append(kind)
    for word, owners in last_words.items():
        if len(owners) == 1 and word not in names:
            names[word] = kinds[owners[0]]
    return names


def schema(
    document: Annotated[str, typer.Argument(help="The document kind: inventory, graph, plan, bench-results ... "
                                                 "(an unknown name lists them all).")],
) -> None:
    """Print the JSON Schema of a stage document."""
    docs = documents()
    if document not in docs:
        kinds = sorted({cls.KIND for cls in docs.values()})  # type: ignore[attr-defined]
        aliases = ", ".join(f"{a} = {docs[a].KIND}" for a in sorted(docs) if a != docs[a].KIND)  # type: ignore[attr-defined]
        raise UsageError(f"unknown document {document!r}; known: {', '.join(kinds)} (short: {aliases})")
    print(json.dumps(docs[document].model_json_schema(), indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    app.command()(schema)
