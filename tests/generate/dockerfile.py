"""A small Dockerfile reader for the checks: instructions with continuation lines joined."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass
class Instruction:
    name: str
    args: str
    line: int

    def json_args(self) -> list[str] | None:
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) else None


def parse(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        m = re.match(r"\s*([A-Za-z]+)\s+(.*)", buf, re.S)
        assert m, f"line {start}: not an instruction: {buf!r}"
        out.append(Instruction(m.group(1).upper(), m.group(2).strip(), start))
        buf = ""
    assert not buf, "dangling continuation at the end"
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for i in instructions:
        if i.name == "FROM":
            result.append([])
        if result:
            result[-1].append(i)
    return result
