"""Real PostgreSQL and Redis servers (Debian packages) on loopback for one test module.

Each lives in a fresh temporary directory, listens on a free 127.0.0.1 port with
a password, and can be stopped and started again to test faults. `.ci/run`
installs the packages when missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.stack import free_port, stop_process

# Debian's postgresql package (installed by .ci/run): the newest major version.
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/15/bin"),
             key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
START_TIMEOUT_S = 60


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _wait(check, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-1500:]}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {START_TIMEOUT_S}s")


class Postgres:
    """A throwaway PostgreSQL cluster with a `rasa` database and password login."""

    user = "rasa"
    password = "test-only-pg-password"
    database = "rasa"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="b12-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return (f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/"
                f"{self.database}")

    def init(self) -> None:
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password, encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(pwfile, "postgres")
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user,
                          "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=120,
        )
        pwfile.unlink()

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            _as_postgres([str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                          "-h", "127.0.0.1", "-k", str(self.dir)]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(self._ready, "postgres", self.proc, self.log)

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True, timeout=10,
        )
        return result.returncode == 0

    def create_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user,
                                password=self.password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {self.database}")
        conn.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        """Fast shutdown (SIGINT), as an operator restarting the database would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A throwaway Redis server with a password and no persistence."""

    password = "test-only-redis-password"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="b12-redis-"))
        self.log = self.dir / "redis.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--requirepass", self.password, "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(self._ready, "redis-server", self.proc, self.log)

    def _ready(self) -> bool:
        import redis

        try:
            return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                               socket_timeout=1).ping()
        except redis.exceptions.RedisError:
            return False

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
