"""A real PostgreSQL server for tests and benchmarks: a temp cluster on a loopback port.

``start_postgres()`` runs ``initdb`` into a fresh temp directory and starts the
``postgres`` server process on 127.0.0.1 (trust authentication, loopback only, socket in
the temp dir, fsync off: a test cluster, not a durable one). PostgreSQL refuses to run as
root, so when we are root both run as ``nobody`` through ``setpriv`` in a directory owned
by nobody. ``stop()`` ends the server by its PID (SIGINT = fast shutdown, then SIGKILL)
and removes the directory; ``restart()`` stops and starts it again on the same port and
data (the "PostgreSQL restarted mid-stream" fault).

The binaries are found in ``$PG_BINDIR``, ``/usr/lib/postgresql/<newest>/bin`` (Debian's
``postgresql`` package) or next to ``pg_ctl`` on PATH; ``PostgresUnavailable`` when they
are absent, which the fixture turns into a skip.

Run by hand (prints the DSN, stops on Enter)::

    python -m tests.harness.postgres
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUPERUSER = "postgres"
# A test cluster: no fsync, small memory, no background noise in the logs.
SERVER_SETTINGS: tuple[str, ...] = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=32MB",
    "max_connections=100",
    "dynamic_shared_memory_type=mmap",
    "logging_collector=off",
)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or a way to run them unprivileged) are missing."""


DEBIAN_ROOT = Path("/usr/lib/postgresql")


def find_bindir(debian_root: Path = DEBIAN_ROOT) -> Path:
    """Directory holding initdb and postgres; PostgresUnavailable when there is none."""
    candidates: list[Path] = []
    if env := os.environ.get("PG_BINDIR"):
        candidates.append(Path(env))
    # Debian: /usr/lib/postgresql/<major>/bin; newest major first.
    debian = sorted(
        debian_root.glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> list[str]:
    """Command prefix running a program as the unprivileged server user (when root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise PostgresUnavailable("running as root and setpriv (util-linux) is missing")
    try:
        pwd.getpwnam("nobody")
    except KeyError as e:
        raise PostgresUnavailable("running as root and there is no user 'nobody'") from e
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@dataclass
class Postgres:
    """A running PostgreSQL server on 127.0.0.1 (superuser ``postgres``, trust auth)."""

    bindir: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    _prefix: list[str] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server's stderr log."""
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for ``dbname`` (DuckDB's postgres/ducklake ATTACH)."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def alive(self) -> bool:
        """Whether the server process still runs."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        log = self.log_path.open("ab")
        try:
            cmd = [*self._prefix, str(self.bindir / "postgres"), "-D", str(self.data)]
            cmd += ["-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.root)]
            for s in SERVER_SETTINGS:
                cmd += ["-c", s]
            # setpriv execs postgres: the Popen PID is the postmaster's.
            self.process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=_server_env(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.process.returncode}: {self._log_tail()}"
                )
            if self._ready():
                return
            if time.monotonic() > deadline:
                self.stop_server()
                raise RuntimeError(f"postgres not ready within {timeout}s: {self._log_tail()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        isready = self.bindir / "pg_isready"
        if isready.is_file():
            r = subprocess.run(
                [str(isready), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            return r.returncode == 0
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
        ):
            return True
        return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop_server(self, timeout: float = 15.0) -> None:
        """Stop the server by its PID: SIGINT (fast shutdown), then SIGKILL."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def restart(self) -> None:
        """Stop and start the server again (same port, same data)."""
        self.stop_server()
        self.start()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a fresh lake catalog); return its DSN."""
        createdb = self.bindir / "createdb"
        if not createdb.is_file():
            raise PostgresUnavailable(f"{createdb} is missing")
        subprocess.run(
            [str(createdb), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name],
            check=True,
            capture_output=True,
            env=_server_env(),
        )
        return self.dsn(name)

    def new_database(self, prefix: str = "lake") -> str:
        """Create a database no other caller got (``<prefix>_<n>``); return its DSN."""
        return self.create_database(f"{prefix}_{next(self._names)}")


def _server_env() -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    env["HOME"] = "/tmp"  # nobody's home does not exist
    return env


def start_postgres(port: int | None = None, timeout: float = 30.0) -> Postgres:
    """initdb a temp cluster and start it on a loopback port (see the module docstring)."""
    bindir = find_bindir()
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="armorwatch-pg-"))
    try:
        if prefix:
            nobody = pwd.getpwnam("nobody")
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=_server_env(),
        )
        server = Postgres(bindir=bindir, root=root, port=port or _free_port(), _prefix=prefix)
        server.start(timeout=timeout)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server for the whole session; skips when it is not installed.

    Tests share it: each takes its own catalog with ``postgres.new_database()``.
    """
    try:
        server = start_postgres()
    except PostgresUnavailable as e:
        pytest.skip(str(e))
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    pg = start_postgres()
    try:
        print(pg.dsn(), flush=True)
        input("PostgreSQL running; Enter stops it\n")
    finally:
        pg.stop()
