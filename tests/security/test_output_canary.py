"""Issue 8 item 7, output side: inspect + convert + data export of a guest that points at a host
file in every way it can never open that file (audit hook), never put it in an output, and create
or change nothing outside OUTDIR and the command's own temporary folders (snapshots)."""

from __future__ import annotations

import os
import secrets
import sys
import sysconfig
import tempfile
from pathlib import Path

import migrate
from migrate.data import export_data
from migrate.generate import convert
from migrate.inspect import inspect_images
from tests.security.audit import recording_opens
from tests.security.output_cases import canary_guest
from tests.security.snapshot import changes, snapshot, top_level


def test_hostile_guest_never_reaches_the_host(tmp_path):
    canary_dir = tmp_path / "host-secrets"
    canary_dir.mkdir()
    marker = f"HOST-CANARY-{secrets.token_hex(12)}"
    canary = canary_dir / f"canary-{secrets.token_hex(6)}.conf"
    canary.write_text(f"# {marker}\nserver {{ listen 9999; }}\nKEY={marker}\n")
    guest = tmp_path / "guest"
    name = canary_guest(guest, canary)
    work = tmp_path / "work"
    work.mkdir()
    stack, data = work / "stack", work / "data"
    before = snapshot(tmp_path, skip=(guest,))
    tmp_before = top_level(Path(tempfile.gettempdir()))

    with recording_opens() as opened:
        inv = inspect_images([guest], "auto")
        result, _plan = convert([guest], stack)
        manifest = export_data([guest], data)

    assert any(p.startswith(f"{guest}/etc/nginx/") for p in opened)  # the hook does see the guest's reads
    # 1. the canary was never opened, under any spelling
    real_canary = os.path.realpath(canary)
    assert not [p for p in opened if os.path.realpath(p) == real_canary or canary.name in p], opened
    # 2. every absolute path opened is the guest, an output, or the interpreter's and migrate's own files
    allowed = [str(guest), str(work), sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"],
               str(Path(migrate.__file__).resolve().parents[1]), "/usr/lib/python3", "/dev/null"]
    own_tmp = os.path.join(tempfile.gettempdir(), "migrate-")  # open_vm's work folder (removed: see 3.)
    stray = sorted({p for p in opened if p.startswith("/") and not p.startswith(own_tmp) and not any(
        p == a or p.startswith(a.rstrip("/") + "/") for a in allowed)})
    assert stray == [], stray
    # 3. nothing outside OUTDIRs changed; nothing appeared in the shared temp dir
    after = snapshot(tmp_path, skip=(guest, stack, data))
    assert [p for p in changes(before, after) if p != str(work)] == []
    assert {n for n in top_level(Path(tempfile.gettempdir())) - tmp_before if name in n or "migrate" in n} == set()
    # 4. the canary's content is in no output
    assert marker not in inv.to_json()
    for root in (stack, data):
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                assert marker.encode() not in p.read_bytes(), p
    # the links stay links: the web root's archive holds them as symlinks, not as the host file
    web = next(v for v in manifest.volumes if v.guest_path == "/var/www/html")
    links = {e.path: e.target for e in web.entries if e.kind == "symlink"}
    assert links["abs-link"] == str(canary)
    assert result.files and (stack / "compose.yaml").is_file()
    # a web root that is a link out of the guest is reported, not followed
    assert [(s.path, s.kind) for s in manifest.not_exported] == [("/srv/linked", "symlink")]
