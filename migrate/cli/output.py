"""How the CLI talks to people and to log collectors: verbosity, the log format, help text.

Results go to stdout (tables, ``--json`` documents); everything about the run (progress, "written
to", notes, warnings, errors) goes to stderr through the ``migrate`` logger, so that ``-q`` silences
it, ``-v`` adds the details, and ``--log-format json`` turns it into one JSON object per line for a
log collector. Commands that print to ``common.err_console`` directly are routed through the same
logger in JSON mode, so no command can break the JSON-lines stream.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape

from migrate.cli import common

log = logging.getLogger("migrate")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@dataclass
class Settings:
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    log_format: LogFormat = LogFormat.text


SETTINGS = Settings()
_ERR_NO_COLOR = common.err_console.no_color  # as rich decided from NO_COLOR at start-up


def verbose() -> bool:
    return SETTINGS.verbosity > 0


def json_logs() -> bool:
    return SETTINGS.log_format is LogFormat.json


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, RFC 3339), level, logger, message and the record's
    ``fields`` (e.g. an error's exit code), keys sorted so lines diff cleanly."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", None) or {})
        return json.dumps(data, sort_keys=True, ensure_ascii=False)


# Control characters (ESC, C1 CSI, ...) and bidirectional overrides, but line breaks and tabs: a
# message may quote a file name, a CSV header or a sheet name from a client's files or a guest, and
# rich passes escape sequences through (an OSC 8 link, a cleared screen, a retitled terminal).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``), never sent raw."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)


_STYLES = {logging.WARNING: ("warning: ", "yellow"), logging.ERROR: ("error: ", "bold red"),
           logging.CRITICAL: ("error: ", "bold red")}


class TextHandler(logging.Handler):
    """Human form on stderr: the message as is, ``warning:``/``error:`` in colour before it."""

    def __init__(self) -> None:
        super().__init__()
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prefix, style = _STYLES.get(record.levelno, ("", ""))
            head = f"[{style}]{prefix}[/]" if prefix else ""
            self.console.print(head + escape(printable(record.getMessage())))
        except Exception:  # noqa: BLE001 - logging must never take the command down
            self.handleError(record)


class _LogStream(io.TextIOBase):
    """A file for a rich Console: every complete line written becomes an INFO record (JSON mode)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.buffer_text = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self.buffer_text += text
        while "\n" in self.buffer_text:
            line, self.buffer_text = self.buffer_text.split("\n", 1)
            if line.strip():
                self.logger.info(line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self.buffer_text.strip():
            self.logger.info(self.buffer_text.rstrip())
        self.buffer_text = ""


def setup(*, quiet: bool = False, verbose: bool = False, log_format: LogFormat | str = LogFormat.text) -> None:
    """Configure the ``migrate`` logger and the shared stderr console for this run."""
    SETTINGS.verbosity = -1 if quiet else (1 if verbose else 0)
    SETTINGS.log_format = LogFormat(log_format)
    for h in list(log.handlers):
        log.removeHandler(h)
    if json_logs():
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLinesFormatter())
        common.err_console.file = _LogStream(log)
        common.err_console.no_color = True
    else:
        handler = TextHandler()
        common.err_console.file = None  # type: ignore[assignment]  # back to the real stderr
        common.err_console.no_color = _ERR_NO_COLOR
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO))
    common.err_console.quiet = quiet  # progress spinners and plain notes; warnings still reach the logger


def info(message: str, **fields: Any) -> None:
    log.info(message, extra={"fields": fields})


def warn(message: str, **fields: Any) -> None:
    log.warning(message, extra={"fields": fields})


def detail(message: str, **fields: Any) -> None:
    """Shown with -v only."""
    log.debug(message, extra={"fields": fields})


def error(message: str, **fields: Any) -> None:
    """An error that ends the command; always shown (also under -q)."""
    log.error(message, extra={"fields": fields})


def ensure_handler() -> None:
    """Errors raised before the root options were parsed still need somewhere to go."""
    if not log.handlers:
        setup()
