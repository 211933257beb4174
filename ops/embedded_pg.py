"""An embedded PostgreSQL 16 (the `pgserver` wheel) for machines without a database server.

Its data lives in `<var_dir>/pg` and it listens only on a unix socket in that directory.
The server outlives the process that started it; `stop_embedded` ends it.
"""

import os
import signal
import time
import warnings
from pathlib import Path

import psycopg

from db.databases import create_database_if_missing

DATA_DIR_NAME = "pg"
STOP_TIMEOUT_SECONDS = 30.0


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be started or stopped."""


def data_dir(var_dir: Path) -> Path:
    return Path(var_dir).resolve() / DATA_DIR_NAME


def running_pid(var_dir: Path) -> int | None:
    """The postmaster's pid if the embedded server is running, else None."""
    pid_file = data_dir(var_dir) / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        # Alive, owned by another user (pgserver runs it as `pgserver` when we are root).
        return pid
    return pid


def start_embedded(var_dir: Path, database: str = "recado") -> str:
    """Start the server if it is not running, create `database` if missing; return its URL."""
    # Imported here: pgserver sets up runtime directories on import, which only this path needs;
    # its platformdirs warning about XDG_RUNTIME_DIR is noise for our users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    var_dir = Path(var_dir).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        # cleanup_mode=None: the server must survive this process (tests, `recado run` children).
        server = pgserver.get_server(data_dir(var_dir), cleanup_mode=None)
    except Exception as exc:
        log = data_dir(var_dir) / "log"
        raise EmbeddedPostgresError(
            f"could not start the embedded PostgreSQL in {data_dir(var_dir)}: {exc}"
            + (f" (server log: {log})" if log.exists() else "")
        ) from exc
    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        create_database_if_missing(conn, database)
    return server.get_uri(database)


def stop_embedded(var_dir: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Fast-shut-down the embedded server; returns False if it was not running."""
    pid = running_pid(var_dir)
    if pid is None:
        return False
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open sessions, checkpoint, exit.
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while running_pid(var_dir) is not None:
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL (pid {pid}) did not stop within {timeout:.0f} s"
            )
        time.sleep(0.05)
    return True
