"""Item 7 of issue 13: what is particular to a server kind lives in migrate/kinds only. The planner
and verify ask a service's kind; they never compare kind names (grep over their sources)."""

from __future__ import annotations

import re
from pathlib import Path

from migrate.kinds import GENERIC, builtin_kinds

ROOT = Path(__file__).resolve().parents[2] / "migrate"
SOURCES = [ROOT / "plan.py", ROOT / "verify.py", *sorted((ROOT / "planning").glob("*.py"))]


def kind_words() -> set[str]:
    words = {GENERIC.name}
    for k in builtin_kinds():
        words.add(k.name)
        words.update(k.roles)
    return words


def test_sources_exist() -> None:
    assert all(p.is_file() for p in SOURCES) and len(SOURCES) > 5


def test_no_kind_name_is_a_string_literal_in_planner_or_verify() -> None:
    hits = []
    for path in SOURCES:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for word in kind_words():
                if re.search(rf"""(["']){re.escape(word)}\1""", line):
                    hits.append(f"{path.relative_to(ROOT.parent)}:{lineno}: {word!r}: {line.strip()}")
    assert not hits, "kind names compared outside migrate/kinds:\n" + "\n".join(hits)


def test_the_grep_would_catch_one() -> None:
    """The pattern finds a comparison written the usual way (the test above cannot pass vacuously)."""
    word = next(iter(sorted(kind_words() - {GENERIC.name})))
    line = f'if s.role == "{word}":'
    assert re.search(rf"""(["']){re.escape(word)}\1""", line)
