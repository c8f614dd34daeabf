"""The fleet store: one SQLite file (fleet.db, WAL) beside the per-VM folders (docs/fleet.md).

Why SQLite: a fleet is a few hundred to ten thousand rows that several processes (a coordinator, a
second run, ``fleet status``) read and write at the same time, and every state change must survive a
kill -9 of whoever made it. SQLite gives that with one file and no server: each state change is one
transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), so the store is always at a committed state, and WAL
lets readers go on while a writer commits.

Work is handed out by *claims*: ``claim_next`` atomically moves one pending member to ``inspecting``
under a lease (the run's owner id and an expiry the run renews with ``heartbeat``). A run that dies
leaves claims behind; they become claimable again when their lease expires, or at once when the
owner's process is gone from this host (``reap_dead``). Two runs on one fleet therefore cooperate:
claims are atomic, and a result is recorded only by the run that holds the claim (``mark_done`` /
``mark_failed`` check the lease), so nothing is inspected to completion twice.

Every run registers in ``runs`` (``register_run``, ``hold``): inspect runs share a fleet with each
other; ``plan``, ``convert`` and ``add`` (which merges, renames and resets member rows) hold it
alone, and a run that cannot enter gets FleetInUse (exit 43) naming the live run in the way. A run
whose process is gone from this host holds nothing; one on another host holds the fleet until its
heartbeat is a lease old.

Schema changes are ordered migrations; ``PRAGMA user_version`` records how many have been applied.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from migrate.errors import FleetBusy, FleetInUse, FleetNotFound, FleetSchemaTooNew, OutputError
from migrate.model.fleet import FleetMember, MemberError

DB_NAME = "fleet.db"
MEMBERS_DIR = "members"
BUSY_TIMEOUT_MS = 30_000
DEFAULT_LEASE = 120.0  # seconds a claim lives without a heartbeat
EXCLUSIVE_COMMANDS = ("plan", "convert", "add")  # runs that hold a fleet alone (FleetStore.register_run)

# Ordered migrations. Never edit a released one: append. Index i brings the schema to version i+1.
MIGRATIONS: tuple[str, ...] = (
    # 1: sources and members; the member document as JSON beside the columns queries need
    """
    CREATE TABLE sources(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        added REAL NOT NULL,
        UNIQUE(kind, path)
    );
    CREATE TABLE members(
        name TEXT PRIMARY KEY COLLATE NOCASE,
        image TEXT,
        fingerprint TEXT,
        state TEXT NOT NULL DEFAULT 'pending',
        doc TEXT NOT NULL,
        updated REAL NOT NULL
    );
    """,
    # 2: claims with leases, the runs that hold them, and one row per finished inspection
    """
    ALTER TABLE members ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE members ADD COLUMN lease_owner TEXT;
    ALTER TABLE members ADD COLUMN lease_expires REAL;
    ALTER TABLE members ADD COLUMN stat_key TEXT;
    ALTER TABLE members ADD COLUMN stale_from TEXT;
    CREATE INDEX members_state ON members(state);
    CREATE TABLE runs(
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started REAL NOT NULL,
        heartbeat REAL NOT NULL,
        command TEXT
    );
    CREATE TABLE inspections(
        id INTEGER PRIMARY KEY,
        member TEXT NOT NULL COLLATE NOCASE,
        fingerprint TEXT,
        owner TEXT NOT NULL,
        started REAL,
        finished REAL NOT NULL,
        outcome TEXT NOT NULL,
        exit_code INTEGER,
        seconds REAL,
        peak_rss_kib INTEGER
    );
    CREATE INDEX inspections_member ON inspections(member);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# columns that are the truth for these FleetMember fields (the JSON document holds the rest)
_COLUMN_FIELDS = ("image", "fingerprint", "state")


@dataclass(frozen=True)
class RunOwner:
    """Who holds a claim: this host, this process (with its start time, so a reused pid is not
    mistaken for the old run) and a random part (two runs in one process stay distinct)."""

    host: str
    pid: int
    started: float
    token: str

    @classmethod
    def current(cls) -> RunOwner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, psutil.Process(pid).create_time(), uuid.uuid4().hex[:12])

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}:{self.started:.2f}:{self.token}"

    @staticmethod
    def is_dead(owner_id: str) -> bool:
        """True only when the owner is certainly gone: it ran on this host and its process (same
        pid *and* start time) no longer exists. Owners on other hosts are judged by their lease."""
        try:
            host, pid, started, _token = owner_id.rsplit(":", 3)
            pid_i, started_f = int(pid), float(started)
        except ValueError:
            return False
        if host != socket.gethostname():
            return False
        try:
            return abs(psutil.Process(pid_i).create_time() - started_f) > 0.02
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            return False


@dataclass(frozen=True)
class RunInfo:
    """One row of ``runs``: who works on the fleet (``fleet status`` names them)."""

    owner: str
    command: str
    pid: int
    host: str
    started: float  # epoch seconds
    heartbeat: float  # epoch seconds of the last renewal
    gone: bool  # its process is certainly gone (on this host); the next run drops the row

    @property
    def heartbeat_age(self) -> float:
        return max(0.0, time.time() - self.heartbeat)


@dataclass(frozen=True)
class InspectionRecord:
    member: str
    fingerprint: str | None
    owner: str
    outcome: str
    exit_code: int | None
    seconds: float | None
    peak_rss_kib: int | None


class FleetStore:
    """A fleet directory and its fleet.db. Use ``FleetStore.open`` / ``FleetStore.create``."""

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = root
        self._db = conn
        self._holding: RunOwner | None = None  # the run ``hold`` registered, while its block runs

    # -- opening, schema ---------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | os.PathLike[str]) -> FleetStore:
        """Open the fleet at ``root``, creating the directory and an empty store if needed."""
        path = Path(root)
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / MEMBERS_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the fleet directory: {exc.strerror}", path=str(path)) from exc
        return cls._connect(path)

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> FleetStore:
        path = Path(root)
        if not (path / DB_NAME).is_file() and not (path / DB_NAME).is_symlink():
            raise FleetNotFound(f"not a fleet (no {DB_NAME}); `migrate fleet add {path} …` creates one",
                                path=str(path))
        return cls._connect(path)

    @classmethod
    def _connect(cls, path: Path) -> FleetStore:
        db_path = path / DB_NAME
        if db_path.is_symlink():
            raise OutputError(f"{DB_NAME} is a symbolic link; refusing to use it", path=str(db_path))
        try:
            conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process (WAL)
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise _db_error(exc, db_path) from exc
        store = cls(path, conn)
        store._migrate()
        return store

    def _migrate(self) -> None:
        with self._tx():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FleetSchemaTooNew(f"schema version {version}; this migrate knows up to {SCHEMA_VERSION}",
                                        path=str(self.root / DB_NAME))
            for index in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[index]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={index + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def checkpoint(self, *, truncate: bool = False) -> None:
        """Fold the WAL into fleet.db (a run does it at its end; readers are not blocked)."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[FleetStore]:
        """Group several calls into one atomic write transaction (reads inside see a stable store)."""
        with self._tx():
            yield self

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading (IMMEDIATE) so read-modify-write is atomic.
        Nested use joins the outer transaction."""
        if self._db.in_transaction:
            yield self._db
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _db_error(exc, self.root / DB_NAME) from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._db.execute("ROLLBACK")
                raise _db_error(exc, self.root / DB_NAME) from exc

    # -- sources and members -----------------------------------------------------------------------

    def add_source(self, kind: str, path: str) -> int:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO sources(kind, path, added) VALUES (?, ?, ?)", (kind, path, time.time()))
            return int(db.execute("SELECT id FROM sources WHERE kind=? AND path=?", (kind, path)).fetchone()[0])

    def sources(self) -> list[tuple[str, str]]:
        return [(k, p) for k, p in self._db.execute("SELECT kind, path FROM sources ORDER BY id")]

    def upsert_member(self, member: FleetMember, *, stat_key: str | None = None) -> None:
        """Insert or replace one member by name (case-insensitive); claims and attempts are kept."""
        self.upsert_members([member], stat_keys={member.name: stat_key} if stat_key else None)

    def upsert_members(self, members: list[FleetMember], *, stat_keys: dict[str, str | None] | None = None) -> None:
        """Several members in one transaction: an add is applied whole or not at all."""
        now = time.time()
        with self._tx() as db:
            for m in members:
                doc = _doc(m)
                key = (stat_keys or {}).get(m.name)
                db.execute(
                    "INSERT INTO members(name, image, fingerprint, state, doc, updated, stat_key) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET name=excluded.name, "
                    "image=excluded.image, fingerprint=excluded.fingerprint, state=excluded.state, "
                    "doc=excluded.doc, updated=excluded.updated, stat_key=COALESCE(excluded.stat_key, stat_key)",
                    (m.name, m.image, m.fingerprint, m.state, doc, now, key))

    def replace_members(self, members: list[FleetMember], *, deletes: tuple[str, ...] | list[str] = ()) -> None:
        """Delete some members and upsert others in one transaction (a rename is both)."""
        with self._tx() as db:
            for name in deletes:
                db.execute("DELETE FROM members WHERE name=?", (name,))
            self.upsert_members(members)

    def get(self, name: str) -> FleetMember | None:
        row = self._db.execute(f"SELECT {_SELECT} FROM members WHERE name=?", (name,)).fetchone()
        return _member(row) if row else None

    def members(self, *, state: str | None = None) -> list[FleetMember]:
        if state is None:
            rows = self._db.execute(f"SELECT {_SELECT} FROM members ORDER BY name")
        else:
            rows = self._db.execute(f"SELECT {_SELECT} FROM members WHERE state=? ORDER BY name", (state,))
        return [_member(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return {s: n for s, n in self._db.execute("SELECT state, COUNT(*) FROM members GROUP BY state ORDER BY state")}

    def stat_key(self, name: str) -> str | None:
        row = self._db.execute("SELECT stat_key FROM members WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def attempts(self) -> dict[str, int]:
        return {n: a for n, a in self._db.execute("SELECT name, attempts FROM members ORDER BY name")}

    def inspections(self, member: str | None = None) -> list[InspectionRecord]:
        sql = "SELECT member, fingerprint, owner, outcome, exit_code, seconds, peak_rss_kib FROM inspections"
        rows = (self._db.execute(sql + " WHERE member=? ORDER BY id", (member,)) if member
                else self._db.execute(sql + " ORDER BY id"))
        return [InspectionRecord(*r) for r in rows]

    def stat_keys(self) -> dict[str, str | None]:
        """The stat key of every finished member with an image (see migrate.fleet.fingerprint)."""
        return {n: k for n, k in self._db.execute(
            "SELECT name, stat_key FROM members WHERE image IS NOT NULL AND state IN "
            "('inspected', 'failed', 'planned', 'converted') ORDER BY name")}

    def set_stale(self, names: list[str]) -> int:
        """Members whose image may have changed go back to pending; the state they had is kept in
        ``stale_from`` so that an unchanged fingerprint restores it (``mark_unchanged``)."""
        n = 0
        with self._tx() as db:
            for name in names:
                n += db.execute("UPDATE members SET stale_from=state, state='pending', updated=? WHERE name=? "
                                "AND state IN ('inspected', 'failed', 'planned', 'converted')",
                                (time.time(), name)).rowcount
        return n

    def requeue(self, state: str) -> int:
        """Every member in ``state`` (e.g. failed) is inspected again on the next run."""
        with self._tx() as db:
            return db.execute("UPDATE members SET state='pending', stale_from=NULL, updated=? WHERE state=? "
                              "AND image IS NOT NULL", (time.time(), state)).rowcount

    def requeue_failed(self, names: list[str]) -> int:
        """These members, where they failed, are inspected again on the next run (e.g. the ones that
        failed for want of a key, when keys are given: migrate.fleet.engine)."""
        now = time.time()
        with self._tx() as db:
            return sum(db.execute("UPDATE members SET state='pending', stale_from=NULL, updated=? WHERE name=? "
                                  "AND state='failed' AND image IS NOT NULL", (now, n)).rowcount for n in names)

    def stale_from(self, name: str) -> str | None:
        row = self._db.execute("SELECT stale_from FROM members WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    # -- runs, claims and results ------------------------------------------------------------------

    def register_run(self, owner: RunOwner, command: str = "inspect", *, lease: float = DEFAULT_LEASE) -> None:
        """Enter the fleet as a run of ``command``, or refuse with FleetInUse naming the live run in the
        way: ``plan`` and ``convert`` hold the fleet alone (they rewrite member rows and folders
        wholesale); ``inspect`` runs share it with each other (claims keep them apart), with nothing
        else. A run that is gone no longer holds the fleet: its row is dropped (and its claims given
        back) here, in the same transaction, when its process is dead on this host, or, for a run on
        another host (which this host cannot see), when it has not renewed its heartbeat for ``lease``
        seconds. A live process on this host holds the fleet however old its heartbeat."""
        now = time.time()
        with self._tx() as db:
            rows = db.execute("SELECT owner, host, pid, started, heartbeat, command FROM runs "
                              "WHERE owner != ? ORDER BY started", (owner.id,)).fetchall()
            for other, host, pid, started, beat, cmd in rows:
                dead = RunOwner.is_dead(other)
                if dead or (host != owner.host and beat < now - lease):
                    if dead:  # a live run on another host keeps its claims until their own leases lapse
                        db.execute("UPDATE members SET state='pending', lease_owner=NULL, lease_expires=NULL "
                                   "WHERE lease_owner=? AND state='inspecting'", (other,))
                    db.execute("DELETE FROM runs WHERE owner=?", (other,))
                    continue
                if command == "inspect" and cmd == "inspect":
                    continue
                since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started))
                raise FleetInUse(
                    f"fleet in use by `migrate fleet {cmd}` (pid {pid} on {host}, since {since}, heartbeat "
                    f"{max(0, round(now - beat))} s ago); `fleet {command}` "
                    + ("runs alone on a fleet" if command in EXCLUSIVE_COMMANDS else "cannot run beside it")
                    + ": wait for it to end or stop it (a run whose process is gone is taken over at once)",
                    path=str(self.root))
            db.execute("INSERT OR REPLACE INTO runs(owner, host, pid, started, heartbeat, command) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (owner.id, owner.host, owner.pid, now, now, command))

    @contextlib.contextmanager
    def hold(self, command: str, *, lease: float = DEFAULT_LEASE) -> Iterator[RunOwner]:
        """Register this process as a run of ``command`` (see ``register_run``: FleetInUse if another
        live run is in the way) for the duration of the block; a thread renews the heartbeat every
        ``lease``/4 on its own connection, so long steps (a member's convert, an image build) never
        look stale. The run is removed on the way out, however the block ends; a kill -9 leaves a row
        that the next run drops because the process is gone. Nested use joins the outer hold."""
        import threading

        if self._holding is not None:  # nested (convert's CLI holds the fleet across convert and build)
            yield self._holding
            return
        owner = RunOwner.current()
        self.register_run(owner, command, lease=lease)
        self._holding = owner
        stop = threading.Event()

        def beat() -> None:
            with contextlib.suppress(Exception), FleetStore._connect(self.root) as mine:
                while not stop.wait(lease / 4):
                    with contextlib.suppress(FleetBusy, sqlite3.Error):
                        mine.heartbeat(owner, lease)

        thread = threading.Thread(target=beat, name=f"fleet-{command}-heartbeat", daemon=True)
        thread.start()
        try:
            yield owner
        finally:
            stop.set()
            thread.join(10)
            self._holding = None
            self.end_run(owner)

    def end_run(self, owner: RunOwner) -> None:
        """A run that stops cleanly gives its unfinished claims back at once."""
        with self._tx() as db:
            db.execute("UPDATE members SET state='pending', lease_owner=NULL, lease_expires=NULL "
                       "WHERE lease_owner=? AND state='inspecting'", (owner.id,))
            db.execute("DELETE FROM runs WHERE owner=?", (owner.id,))

    def heartbeat(self, owner: RunOwner, lease: float = DEFAULT_LEASE) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE runs SET heartbeat=? WHERE owner=?", (now, owner.id))
            db.execute("UPDATE members SET lease_expires=? WHERE lease_owner=? AND state='inspecting'",
                       (now + lease, owner.id))

    def active_runs(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT owner FROM runs ORDER BY started")]

    def runs(self) -> list[RunInfo]:
        """The registered runs, oldest first, each with whether its process is certainly gone (a run
        killed with -9 leaves its row until the next run enters; see ``register_run``)."""
        rows = self._db.execute("SELECT owner, command, pid, host, started, heartbeat FROM runs ORDER BY started")
        return [RunInfo(o, c or "inspect", int(p), h, float(s), float(b), RunOwner.is_dead(o))
                for o, c, p, h, s, b in rows]

    def reap_dead(self) -> int:
        """Give back the claims of runs whose process is gone from this host; returns how many."""
        owners = [r[0] for r in self._db.execute(
            "SELECT DISTINCT lease_owner FROM members WHERE state='inspecting' AND lease_owner IS NOT NULL "
            "UNION SELECT owner FROM runs")]
        dead = [o for o in owners if RunOwner.is_dead(o)]
        if not dead:
            return 0
        released = 0
        with self._tx() as db:
            for o in dead:
                released += db.execute("UPDATE members SET state='pending', lease_owner=NULL, lease_expires=NULL "
                                       "WHERE lease_owner=? AND state='inspecting'", (o,)).rowcount
                db.execute("DELETE FROM runs WHERE owner=?", (o,))
        return released

    def claimable(self) -> int:
        """How many members ``claim_next`` could hand out now."""
        return int(self._db.execute(
            "SELECT COUNT(*) FROM members WHERE image IS NOT NULL AND (state='pending' OR "
            "(state='inspecting' AND (lease_expires IS NULL OR lease_expires < ?)))", (time.time(),)).fetchone()[0])

    def claim_next(self, owner: RunOwner, lease: float = DEFAULT_LEASE) -> FleetMember | None:
        """Atomically take one member to inspect: pending with an image, or a claim whose lease
        expired. Returns None when nothing is left to claim."""
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT name FROM members WHERE image IS NOT NULL AND (state='pending' OR "
                "(state='inspecting' AND (lease_expires IS NULL OR lease_expires < ?))) ORDER BY name LIMIT 1",
                (now,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE members SET state='inspecting', lease_owner=?, lease_expires=?, "
                       "attempts=attempts+1, updated=? WHERE name=?", (owner.id, now + lease, now, row[0]))
            full = db.execute(f"SELECT {_SELECT} FROM members WHERE name=?", (row[0],)).fetchone()
        return _member(full)

    def release(self, name: str, owner: RunOwner) -> None:
        with self._tx() as db:
            db.execute("UPDATE members SET state='pending', lease_owner=NULL, lease_expires=NULL "
                       "WHERE name=? AND lease_owner=? AND state='inspecting'", (name, owner.id))

    def mark_done(self, member: FleetMember, owner: RunOwner, *, stat_key: str | None = None,
                  seconds: float | None = None, peak_rss_kib: int | None = None) -> bool:
        """Record a finished inspection (``member`` carries the facts and the fingerprint). Only the
        run holding the claim may do so: returns False (and records nothing) otherwise."""
        return self._finish(member.model_copy(update={"state": "inspected", "error": None}), owner, "inspected",
                            None, stat_key, seconds, peak_rss_kib)

    def mark_failed(self, member: FleetMember, owner: RunOwner, error: MemberError, *, stat_key: str | None = None,
                    seconds: float | None = None, peak_rss_kib: int | None = None) -> bool:
        failed = member.model_copy(update={"state": "failed", "error": error})
        return self._finish(failed, owner, "failed", error.exit_code, stat_key, seconds, peak_rss_kib)

    def mark_unchanged(self, name: str, owner: RunOwner, *, stat_key: str | None) -> bool:
        """The image of a stale member has the fingerprint it had: it gets its state back."""
        with self._tx() as db:
            return db.execute("UPDATE members SET state=stale_from, stale_from=NULL, stat_key=?, lease_owner=NULL, "
                              "lease_expires=NULL, updated=? WHERE name=? AND state='inspecting' AND lease_owner=? "
                              "AND stale_from IS NOT NULL", (stat_key, time.time(), name, owner.id)).rowcount == 1

    def _finish(self, member: FleetMember, owner: RunOwner, outcome: str, exit_code: int | None,
                stat_key: str | None, seconds: float | None, rss: int | None) -> bool:
        now = time.time()
        with self._tx() as db:
            held = db.execute("SELECT 1 FROM members WHERE name=? AND state='inspecting' AND lease_owner=?",
                              (member.name, owner.id)).fetchone()
            if not held:
                return False
            db.execute("UPDATE members SET state=?, fingerprint=?, doc=?, lease_owner=NULL, lease_expires=NULL, "
                       "stale_from=NULL, updated=?, stat_key=? WHERE name=?",
                       (member.state, member.fingerprint, _doc(member), now, stat_key, member.name))
            db.execute("INSERT INTO inspections(member, fingerprint, owner, started, finished, outcome, exit_code, "
                       "seconds, peak_rss_kib) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (member.name, member.fingerprint, owner.id, now - seconds if seconds is not None else None, now,
                        outcome, exit_code, seconds, rss))
        return True

    def member_dir(self, name: str) -> Path:
        return self.root / MEMBERS_DIR / member_slug(name)


_SELECT = "name, image, fingerprint, state, doc"


def _doc(m: FleetMember) -> str:
    return json.dumps(m.model_dump(mode="json", exclude=set(_COLUMN_FIELDS)), sort_keys=True)


def _member(row: tuple[str, str | None, str | None, str, str]) -> FleetMember:
    name, image, fingerprint, state, doc = row
    data = json.loads(doc)
    data.update(name=name, image=image, fingerprint=fingerprint, state=state)
    return FleetMember.model_validate(data)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _db_error(exc: sqlite3.Error, path: Path) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return FleetBusy(f"the fleet store stayed locked for {BUSY_TIMEOUT_MS // 1000} s by another process",
                         path=str(path))
    return OutputError(f"fleet store: {text}", path=str(path))


def member_slug(name: str) -> str:
    """A member's folder name: its name when that is a plain, safe file name, else a cleaned form
    with a short hash of the name (names come from files, manifests and RVTools: untrusted)."""
    import hashlib
    import re

    clean = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80].lstrip(".") or "vm"
    # a plain name never ends like a cleaned one (-<8 hex>): else the manifest name "a_b-c8687a08"
    # (or "a_b-C8687A08", on a case-insensitive file system) would share the folder of "a b"
    if clean == name and not re.search(r"-[0-9a-f]{8}$", name, re.IGNORECASE):
        return clean
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
