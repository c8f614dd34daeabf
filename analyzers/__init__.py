"""Built-in analyzers: an explicit, greppable list. Third-party analyzers come in through the
``migrate.analyzers`` entry-point group (see ``builtin_analyzers``)."""

from __future__ import annotations

if __name__ != "migrate.analyzers":  # the source folder is `analyzers/`, the package is migrate.analyzers
    raise ImportError("import migrate.analyzers, not analyzers: two copies of one module break isinstance checks")

from importlib.metadata import entry_points

from migrate.analyzers.base import Analyzer

BUILTIN: list[type[Analyzer]] = []


def builtin_analyzers(*, include_plugins: bool = True) -> list[Analyzer]:
    classes = list(BUILTIN)
    if include_plugins:
        for ep in sorted(entry_points(group="migrate.analyzers"), key=lambda e: e.name):
            classes.append(ep.load())
    instances = [cls() for cls in classes]
    names = [a.name for a in instances]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate analyzer names: {', '.join(dupes)}")
    return instances
