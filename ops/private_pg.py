"""A throwaway PostgreSQL cluster for the chaos run and tests that load, kill or restart it.

Uses the PostgreSQL binaries shipped in pgserver's wheel. PostgreSQL refuses to run as root, so
when we are root the cluster belongs to, and runs as, the `pgserver` OS user (as pgserver does).

    with PrivatePostgres(settings={"max_connections": 200}) as pg:
        connect(pg.url, ...)
        pg.stop(); pg.start()   # same port and data: clients can reconnect
"""

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from db.migrate import migrate
from db.pool import connect


def _pgserver_bin() -> Path:
    # Located without importing pgserver, whose import has side effects (runtime dirs, warnings).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pgserver (a dependency of recado) is not installed")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


BIN_DIR = _pgserver_bin()
OS_USER = "pgserver"
# Durability is not what these tests measure; fsync makes everything slower and noisier.
DEFAULT_SETTINGS: Mapping[str, str | int] = {"fsync": "off", "full_page_writes": "off"}
START_TIMEOUT_SECONDS = 30


class PrivatePostgres:
    def __init__(
        self, *, settings: Mapping[str, str | int] | None = None, migrated: bool = True
    ) -> None:
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.migrated = migrated
        self.port = _free_port()
        self.base_dir = Path(tempfile.mkdtemp(prefix="recado-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "postgres.log"
        self._user = OS_USER if os.geteuid() == 0 else None
        self._initialised = False
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the cluster (initialising and migrating it the first time)."""
        if not self._initialised:
            self._initdb()
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        )
        self.running = True
        if not self._initialised:
            self._initialised = True
            if self.migrated:
                with connect(self.url, application_name="private-pg", autocommit=True) as conn:
                    migrate(conn)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` aborts open transactions, `immediate` is a crash."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
            self.running = False

    def close(self) -> None:
        """Stop the server and delete its files."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> "PrivatePostgres":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _initdb(self) -> None:
        if self._user is not None:
            # On a fresh machine nothing has created pgserver's OS user yet.
            _ensure_user_exists(self._user)
            _grant_access(self._user, self.base_dir)
        self.socket_dir.mkdir()
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.socket_dir, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": self.port,
            "unix_socket_directories": f"'{self.socket_dir}'",
            **{name: _conf_value(value) for name, value in self.settings.items()},
        }
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.writelines(f"{name} = {value}\n" for name, value in conf.items())

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(BIN_DIR / program), *args],
            user=self._user,
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS + 30,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log_tail()}"
            )


def _ensure_user_exists(user: str) -> None:
    # Imported here and quietly: importing pgserver sets up runtime directories and warns
    # (platformdirs' XDG_RUNTIME_DIR) on machines without a login session, as CI has.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import ensure_user_exists

    ensure_user_exists(user)


def _conf_value(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grant_access(user: str, base_dir: Path) -> None:
    """Let `user` own `base_dir` and reach pgserver's binaries and libraries."""
    entry = pwd.getpwnam(user)
    os.chown(base_dir, entry.pw_uid, entry.pw_gid)
    install = BIN_DIR.parent
    for path in (base_dir, install):
        for parent in path.parents:
            _add_mode(parent, stat.S_IXOTH)
    for root, dirs, files in os.walk(install):
        _add_mode(Path(root), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(root, name)
            extra = stat.S_IROTH | (stat.S_IXOTH if path.stat().st_mode & stat.S_IXUSR else 0)
            _add_mode(path, extra)
        for name in dirs:
            _add_mode(Path(root, name), stat.S_IROTH | stat.S_IXOTH)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)
