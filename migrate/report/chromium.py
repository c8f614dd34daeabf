"""Headless Chromium as a renderer: PNG screenshots, print-to-PDF and the DOM after parsing.

Debian's chromium runs in "new" headless mode. Each call gets a fresh profile directory (nothing
carried between runs, nothing read from the user's profile), no network beyond the page itself
(every host name resolves to nothing, so a report that somehow referenced a remote resource still
renders offline), and a hard timeout that kills the whole process group: Chromium forks a zygote,
a GPU and renderer processes, and killing only the parent would leave them running.

The PDF and PNG are written to a private temporary directory first and moved into place only when
Chromium succeeded, so a failure never leaves a half-written file behind. poppler's ``pdftoppm``,
``pdftotext`` and ``pdfinfo`` turn a PDF back into pixels and words, which is how the tests check
that the PDF shows what the report says.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from migrate.errors import ExternalToolError

DEFAULT_TIMEOUT = 120.0
FLAGS = (
    "--headless",
    "--no-sandbox",  # the tool often runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # /dev/shm is tiny in containers
    "--disable-extensions",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def find_chromium() -> str:
    """The Chromium binary (Debian's ``chromium``, else ``chromium-browser``)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise ExternalToolError("chromium is not installed (apt-get install chromium); it renders the PDF")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ExternalToolError(f"{name} is not installed (apt-get install poppler-utils)")
    return found


def _run(argv: list[str], *, timeout: float, what: str, path: Path) -> subprocess.CompletedProcess[bytes]:
    """Runs ``argv`` in its own session and kills the whole group on timeout."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        raise ExternalToolError(f"cannot start {argv[0]}: {exc.strerror}", path=str(path)) from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise ExternalToolError(f"{what} did not finish within {timeout:g} s", path=str(path),
                                output=err.decode(errors="replace")[-2000:]) from None
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    finally:
        # the renderer and zygote may outlive a parent that exited on its own
        _kill_group(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _chromium(page: Path, extra: list[str], *, timeout: float, what: str) -> subprocess.CompletedProcess[bytes]:
    page = Path(page).resolve()
    if not page.is_file():
        raise ExternalToolError("no such page to render", path=str(page))
    with tempfile.TemporaryDirectory(prefix="migrate-chromium-") as profile:
        argv = [find_chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
        return _run(argv, timeout=timeout, what=what, path=page)


def _render_to(page: Path, dest: Path, flag: str, extra: list[str], *, timeout: float, what: str) -> Path:
    """Chromium writes ``flag``=<tmp file>; the file is moved to ``dest`` only when it is complete."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="migrate-render-", dir=dest.parent) as tmp:
        out = Path(tmp) / dest.name
        res = _chromium(page, [f"{flag}={out}", *extra], timeout=timeout, what=what)
        if res.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            raise ExternalToolError(f"{what} failed (chromium exit {res.returncode})", path=str(page),
                                    output=res.stderr.decode(errors="replace")[-2000:])
        os.replace(out, dest)
    return dest


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 1800,
               timeout: float = DEFAULT_TIMEOUT) -> Path:
    """A PNG of the top ``width``×``height`` pixels of ``page`` as a desktop browser shows it."""
    return _render_to(page, png, "--screenshot", [f"--window-size={width},{height}"], timeout=timeout,
                      what="chromium screenshot")


def print_pdf(page: Path, pdf: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """``page`` printed to PDF with its print stylesheet (``@page`` size and margins), without the
    browser's date/URL header and footer (the URL would be a local path)."""
    return _render_to(page, pdf, "--print-to-pdf", ["--no-pdf-header-footer"], timeout=timeout,
                      what="chromium print-to-pdf")


def dump_dom(page: Path, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The DOM after Chromium parsed (and laid out) the page, serialised as HTML."""
    res = _chromium(page, ["--dump-dom"], timeout=timeout, what="chromium --dump-dom")
    if res.returncode != 0 or not res.stdout.strip():
        raise ExternalToolError(f"chromium --dump-dom failed (exit {res.returncode})", path=str(page),
                                output=res.stderr.decode(errors="replace")[-2000:])
    return res.stdout.decode(errors="replace")


def pdf_pages(pdf: Path, *, timeout: float = 60) -> int:
    """Number of pages (pdfinfo)."""
    res = _run([_tool("pdfinfo"), str(pdf)], timeout=timeout, what="pdfinfo", path=Path(pdf))
    for line in res.stdout.decode(errors="replace").splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise ExternalToolError("pdfinfo found no page count", path=str(pdf), output=res.stderr.decode()[-2000:])


def pdf_text(pdf: Path, *, timeout: float = 60) -> str:
    """The PDF's text in reading order (pdftotext -layout)."""
    res = _run([_tool("pdftotext"), "-layout", str(pdf), "-"], timeout=timeout, what="pdftotext", path=Path(pdf))
    if res.returncode != 0:
        raise ExternalToolError("pdftotext failed", path=str(pdf), output=res.stderr.decode()[-2000:])
    return res.stdout.decode(errors="replace")


def pdf_to_pngs(pdf: Path, outdir: Path, *, dpi: int = 50, timeout: float = 120) -> list[Path]:
    """One PNG per page (pdftoppm), in page order."""
    outdir.mkdir(parents=True, exist_ok=True)
    res = _run([_tool("pdftoppm"), "-png", "-r", str(dpi), str(pdf), str(outdir / "page")], timeout=timeout,
               what="pdftoppm", path=Path(pdf))
    if res.returncode != 0:
        raise ExternalToolError("pdftoppm failed", path=str(pdf), output=res.stderr.decode()[-2000:])
    return sorted(outdir.glob("page-*.png"))
