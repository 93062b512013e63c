"""A real PostgreSQL + PostGIS server for tests: its own cluster in a temporary folder.

The cluster is ``initdb``'d as the ``postgres`` account (tests run as root; PostgreSQL refuses
to run as root), listens on a free port of 127.0.0.1 only (and on a Unix socket inside its own
folder, for the superuser), and holds one database with the ``postgis`` extension and two login
roles: a *writer* (may create tables in ``public``) and a *reader* (SELECT only, also on the
tables the writer creates later). :meth:`PostgisServer.stop` stops it and removes the folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DB = "idfhr_shared"
WRITER = ("partner_writer", "writer-pw")
READER = ("partner_reader", "reader-pw")
OTHER_WRITER = ("other_writer", "other-pw")


def pg_bindir() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (newest version), or None when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        return None
    bindir = Path(found[-1]).parent
    extensions = (
        bindir.parent.parent.parent.parent / "share" / "postgresql" / bindir.parent.name / "extension"
    )
    if not (extensions / "postgis.control").is_file():
        return None
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgisServer:
    bindir: Path
    folder: Path
    port: int = 0

    def _as_postgres(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in argv]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=self.folder, stdin=subprocess.DEVNULL
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr or res.stdout}")
        return res

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def start(self) -> PostgisServer:
        if os.getuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.folder.chmod(0o700)
        self._as_postgres(
            self.bindir / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self.port = _free_port()
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=40 "
            "-c shared_buffers=64MB"
        )
        self._as_postgres(
            self.bindir / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.folder / "server.log",
            "-o",
            opts,
            "-w",
            "start",
        )
        self.psql("postgres", f"CREATE DATABASE {DB}")
        sql = [
            "CREATE EXTENSION postgis",
            *(f"CREATE ROLE {u} LOGIN PASSWORD '{p}'" for u, p in (WRITER, READER, OTHER_WRITER)),
            *(f"GRANT CREATE, USAGE ON SCHEMA public TO {u}" for u, _ in (WRITER, OTHER_WRITER)),
            f"GRANT USAGE ON SCHEMA public TO {READER[0]}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER[0]}",
            *(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {u} IN SCHEMA public GRANT SELECT ON TABLES TO {READER[0]}"
                for u, _ in (WRITER, OTHER_WRITER)
            ),
            # the other partner may write the tables the first one creates (rows stay theirs)
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {WRITER[0]} IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {OTHER_WRITER[0]}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {WRITER[0]} IN SCHEMA public "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {OTHER_WRITER[0]}",
        ]
        for stmt in sql:
            self.psql(DB, stmt)
        return self

    def psql(self, db: str, sql: str) -> str:
        """Run ``sql`` as the superuser (over the Unix socket); returns the unaligned output."""
        res = self._as_postgres(
            self.bindir / "psql",
            "-h",
            self.folder,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            sql,
        )
        return res.stdout

    def dsn(self, role: tuple = WRITER, db: str = DB) -> str:
        """A libpq connection string for ``role`` over TCP on 127.0.0.1."""
        user, password = role
        return (
            f"host=127.0.0.1 port={self.port} dbname={db} user={user} password={password} connect_timeout=10"
        )

    def stop(self) -> None:
        try:
            self._as_postgres(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_orphans(bindir: Path) -> None:
    """Stop the clusters of test sessions that were killed before their teardown (2 shared cores)."""
    for folder in Path(tempfile.gettempdir()).glob("idfhr-pg-*"):
        try:
            owner = int((folder / "owner.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        server = PostgisServer(bindir, folder)
        try:
            if (folder / "data" / "postmaster.pid").exists():
                server.stop()
        except (RuntimeError, subprocess.SubprocessError):
            pass
        shutil.rmtree(folder, ignore_errors=True)


def start_postgis() -> PostgisServer | None:
    """A started server, or None when PostgreSQL/PostGIS are not installed."""
    bindir = pg_bindir()
    if bindir is None:
        return None
    stop_orphans(bindir)
    folder = Path(tempfile.mkdtemp(prefix="idfhr-pg-"))
    (folder / "owner.pid").write_text(str(os.getpid()))
    server = PostgisServer(bindir, folder)
    try:
        return server.start()
    except BaseException:
        if server.port:
            try:
                server.stop()
            except Exception:  # noqa: BLE001 (cleanup after a failed start; the start error is raised)
                pass
        shutil.rmtree(folder, ignore_errors=True)
        raise
