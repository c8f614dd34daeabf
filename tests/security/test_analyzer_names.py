"""Issue 8 D8/D9: names that cannot travel through the outputs (not UTF-8, 255 bytes, control
characters) and a 5 MiB unit file: each is one unknown, every other finding stands."""

from __future__ import annotations

import json
import subprocess
import sys

from migrate.rootfs import RootFS, bad_name_reason, escape_name
from tests.security.output_cases import bad_names_guest


def migrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=300)


def test_one_bad_name_is_one_unknown_and_the_rest_stands(tmp_path):
    guest = tmp_path / "guest"
    bad_names_guest(guest)
    inv_path = tmp_path / "inventory.json"
    proc = migrate("inspect", str(guest), "-o", str(inv_path))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    inv = json.loads(inv_path.read_text())
    services = {s["name"] for s in inv["services"]}
    assert {"app", "nginx"} <= services
    assert "u" * 247 in services  # a 255-byte unit name is legal: read, not skipped
    assert {p["port"] for p in inv["ports"]} >= {80, 8081}
    unknowns = inv["unknowns"]
    messages = "\n".join(u["message"] for u in unknowns)
    assert "caf\\xe9.service" in messages  # escaped, never raw bytes
    assert "\\xff\\xfe.conf" in messages and "esc\\x1b[31m.service" in messages
    assert any(u["path"] == "/etc/systemd/system/huge.service" and "read limit" in u["message"] for u in unknowns)
    assert not any(u["message"].startswith(("OSError", "TypeError", "UnicodeEncodeError", "IndexError"))
                   for u in unknowns), messages
    strict = migrate("inspect", str(guest), "--strict")
    assert strict.returncode == 3, strict.stderr  # the skipped names are unknowns: --strict says so


def test_convert_and_export_keep_the_good_services(tmp_path):
    guest = tmp_path / "guest"
    bad_names_guest(guest)
    out = tmp_path / "stack"
    proc = migrate("convert", str(guest), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "app" / "Dockerfile").is_file() and (out / "nginx" / "Dockerfile").is_file()
    data = tmp_path / "data"
    proc = migrate("data", "export", str(guest), "-o", str(data))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((data / "manifest.json").read_text())
    web = next(v for v in manifest["volumes"] if v["guest_path"] == "/var/www/html")
    assert {e["path"] for e in web["entries"]} >= {"index.html", "w" * 255}
    assert [s["path"] for s in web["skipped"]] == ["/var/www/html/\\xe9t\\xe9.html"]


def test_name_rules():
    latin1 = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert bad_name_reason(latin1) == "is not valid UTF-8"
    assert bad_name_reason("x" * 255) is None and bad_name_reason("é" * 128) == "is longer than 255 bytes"
    assert bad_name_reason("a\nb") and bad_name_reason("ok name.conf") is None
    assert escape_name(latin1) == "caf\\xe9" and escape_name("a\x1bb") == "a\\x1bb"


def test_rootfs_listing_skips_and_records(tmp_path):
    guest = tmp_path / "guest"
    bad_names_guest(guest)
    with RootFS.from_directory(guest) as fs:
        names = fs.iterdir("/etc/nginx/conf.d")
        assert names == ["/etc/nginx/conf.d/good.conf"]
        assert [(b.directory, b.name) for b in fs.bad_names] == [("/etc/nginx/conf.d", "\\xff\\xfe.conf")]
        assert fs.stat("/etc/systemd/system/" + "u" * 247 + ".service.d") is None  # ENAMETOOLONG: no entry
