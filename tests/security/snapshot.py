"""Snapshots of host directories, to prove a command created or changed nothing outside its OUTDIR."""

from __future__ import annotations

import os
import stat
from pathlib import Path

Entry = tuple[int, int, int]  # (mode, size, mtime_ns)


def snapshot(root: Path, *, skip: tuple[Path, ...] = (), depth: int = 6) -> dict[str, Entry]:
    """Every entry below ``root`` (not following links, ``depth`` levels), except below ``skip``."""
    out: dict[str, Entry] = {}
    skipped = {os.fspath(p) for p in skip}

    def walk(d: str, level: int) -> None:
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            return
        for e in entries:
            if e.path in skipped:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            # a directory's size and mtime change whenever an entry is added (OUTDIR itself, the
            # temporary stack beside it): what counts is which entries exist, each with its own record
            is_dir = stat.S_ISDIR(st.st_mode)
            out[e.path] = (st.st_mode, 0 if is_dir else st.st_size, 0 if is_dir else st.st_mtime_ns)
            if e.is_dir(follow_symlinks=False) and level < depth:
                walk(e.path, level + 1)

    walk(os.fspath(root), 0)
    return out


def top_level(path: Path) -> set[str]:
    """Names directly in ``path`` (for shared directories like /tmp, where others write too)."""
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def changes(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Paths created, removed or changed between two snapshots."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
