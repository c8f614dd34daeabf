"""Users and groups with numeric ids. /etc/shadow is read only to learn whether an account has a
usable password; the hash is never kept."""

from __future__ import annotations

from migrate.analyzers._support import ID, guest_number, read_text, small_int, unknown
from migrate.analyzers.base import Analyzer, Context, NotApplicable
from migrate.model.inventory import Findings, Group, User


class UsersGroupsAnalyzer(Analyzer):
    name = "users_groups"

    def run(self, ctx: Context) -> Findings:
        f = Findings()
        passwd = read_text(ctx, self, "/etc/passwd", f)
        group = read_text(ctx, self, "/etc/group", f)
        if passwd is None and group is None:
            raise NotApplicable("no /etc/passwd or /etc/group")
        uid_min = 1000
        defs = read_text(ctx, self, "/etc/login.defs", f) or ""
        for lineno, line in enumerate(defs.splitlines(), 1):
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "UID_MIN":
                value = guest_number(self, f, parts[1], ID, path="/etc/login.defs", what="the lowest user id",
                                     line=lineno)
                uid_min = uid_min if value is None else value
        usable: dict[str, bool] = {}
        shadow = read_text(ctx, self, "/etc/shadow", f)
        for line in (shadow or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 2 and fields[0]:
                h = fields[1]
                usable[fields[0]] = bool(h) and not h.startswith(("!", "*")) and h not in ("x", "LK", "NP")
            fields = None  # the hash leaves scope here
        for lineno, line in enumerate((passwd or "").splitlines(), 1):
            if not line.strip() or line.startswith(("#", "+", "-")):
                continue
            fields = line.split(":")
            uid_i = small_int(fields[2], lo=ID[0], hi=ID[1]) if len(fields) >= 7 else None
            gid_i = small_int(fields[3], lo=ID[0], hi=ID[1]) if len(fields) >= 7 else None
            if uid_i is None or gid_i is None:  # 5000 digits or a uid past 2^32: this line only
                f.unknowns.append(unknown(self, "/etc/passwd", f"line {lineno}: not a passwd entry"))
                continue
            name, pw, _uid, _gid, gecos, home, shell = fields[:7]
            has_pw = usable.get(name, False) if pw == "x" else bool(pw) and not pw.startswith(("!", "*"))
            f.users.append(User(name=name, uid=uid_i, gid=gid_i, home=home or None, shell=shell or None,
                                gecos=gecos or None, system=uid_i < uid_min or uid_i == 65534,
                                has_password=has_pw, evidence=self.evidence("/etc/passwd")))
        for lineno, line in enumerate((group or "").splitlines(), 1):
            if not line.strip() or line.startswith(("#", "+", "-")):
                continue
            fields = line.split(":")
            gid_i = small_int(fields[2], lo=ID[0], hi=ID[1]) if len(fields) >= 3 else None
            if gid_i is None:
                f.unknowns.append(unknown(self, "/etc/group", f"line {lineno}: not a group entry"))
                continue
            members = [m for m in (fields[3].split(",") if len(fields) > 3 else []) if m]
            f.groups.append(Group(name=fields[0], gid=gid_i, members=members,
                                  evidence=self.evidence("/etc/group")))
        return f
