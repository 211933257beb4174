"""Suite-wide fixtures: a fresh database on a real PostgreSQL, the app, real workers.

The server is DATABASE_URL's when set, else the one on 127.0.0.1:5432 when it answers, else an
embedded one under ./var/. The suite creates its own database there on first use (pure tests
never connect) and drops it at the end. The suite reads its settings from the environment once
(`SETTINGS`, after pointing DATABASE_URL at that database) and bootstraps the workers' runtime
from them, as a worker process does.
"""

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from db.migrate import migrate
from db.pool import SESSION_OPTIONS, connect
from domain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return LOCAL_SERVER
    except OSError:
        from ops.embedded_pg import start_embedded

        return start_embedded(ROOT / "var", database="postgres")


def _database_url(server_url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The Graph API simulator's address and short delivery timings, in the suite's settings.
GRAPH_API_PORT = _free_port()
os.environ["WHATSAPP_API_BASE_URL"] = f"http://127.0.0.1:{GRAPH_API_PORT}/v24.0"
os.environ["RECADO_SEND_EVIDENCE_WAIT_SECONDS"] = "3"
os.environ["RECADO_BREAKER_FAILURES"] = "3"
os.environ["RECADO_BREAKER_COOLDOWN_SECONDS"] = "2"
# The LLM simulator's address (tests start it there when they need a model), and a short timeout.
LLM_API_PORT = _free_port()
os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{LLM_API_PORT}/v1"
os.environ["OPENAI_API_KEY"] = "test-llm-key"
os.environ["OPENAI_MODEL"] = "recado-sim"
os.environ["OPENAI_EMBEDDING_MODEL"] = "recado-sim-embedding"
os.environ["RECADO_LLM_TIMEOUT_SECONDS"] = "3"
# The admin pages sign their session cookies with it.
os.environ["RECADO_SECRET_KEY"] = "recado-test-secret-key"
# The suite's own choice of answer-cache backend is PostgreSQL; Redis is tested explicitly.
os.environ.pop("REDIS_URL", None)

SERVER_URL = _server_url()
TEST_DATABASE = f"recado_test_{os.getpid()}"
TEST_DATABASE_URL = _database_url(SERVER_URL, TEST_DATABASE)
os.environ["DATABASE_URL"] = TEST_DATABASE_URL
# Subprocesses the tests start read the same environment.
SETTINGS = Settings.from_env(os.environ)


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(statement)


_created = False


@pytest.fixture(scope="session")
def database_url() -> str:
    """The suite's database, created and migrated on first use: pure tests never connect."""
    global _created
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEST_DATABASE)))
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEST_DATABASE)))
    _created = True
    with connect(TEST_DATABASE_URL, application_name="recado-tests", autocommit=True) as conn:
        migrate(conn)
    return TEST_DATABASE_URL


# The fast tier (`make test-fast`): pure tests, no database. Every other test gets the database
# even without asking for `db`: many reach it through DATABASE_URL or a subprocess.
FAST_TIER = (ROOT / "tests" / "domain", ROOT / "tests" / "test_layering.py")


@pytest.fixture(autouse=True)
def _database_unless_pure(request: pytest.FixtureRequest) -> None:
    path = Path(request.node.path)
    if not any(path == pure or pure in path.parents for pure in FAST_TIER):
        request.getfixturevalue("database_url")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _created:
        _admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEST_DATABASE))
        )


# Every table the migrations (or a test) made, found in the catalog: a new table needs no list.
# Cloning a migrated template per test was measured at ~390 ms a test against ~70 ms for this.
_ALL_TABLES = """
SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
FROM pg_tables
WHERE schemaname IN ('public', 'dramatiq') AND tablename <> 'recado_migrations'
"""


@pytest.fixture(scope="session")
def runtime(database_url: str):
    """The workers' runtime, installed for the steps the `worker` fixture (or a test) runs."""
    from actors.bootstrap import bootstrap, serve_steps

    runtime = bootstrap(SETTINGS)
    serve_steps(runtime)
    yield runtime
    runtime.close()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to an emptied test database."""
    with psycopg.connect(database_url, autocommit=True, options=SESSION_OPTIONS) as conn:
        empty_database(conn)
        yield conn


def empty_database(conn: psycopg.Connection) -> None:
    """Every row of every table gone and sequences restarted; the migrations' record kept."""
    tables = conn.execute(_ALL_TABLES).fetchone()[0]
    conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def tenant(db: psycopg.Connection):
    from db.tenants import create_tenant

    return create_tenant(
        db,
        slug="acme",
        name="Acme Clinic",
        wa_phone_number_id="106540352242922",
        wa_app_secret="acme-app-secret",
        wa_verify_token="acme-verify-token",
        wa_access_token="acme-access-token",
    )


@pytest.fixture
def app(db: psycopg.Connection):
    from webapp import create_app

    flask_app = create_app(SETTINGS)
    yield flask_app
    flask_app.extensions["recado.pool"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app over real HTTP on 127.0.0.1, threaded like a production server."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def worker(db: psycopg.Connection, runtime) -> Iterator[None]:
    """A real Dramatiq worker on the app's broker, consuming in this process's threads."""
    import dramatiq

    dramatiq_worker = dramatiq.Worker(runtime.broker, worker_threads=4, worker_timeout=100)
    dramatiq_worker.start()
    try:
        yield
    finally:
        dramatiq_worker.stop(timeout=10_000)
        # The simulators a test started are gone: so are the connections kept alive to them.
        runtime.close_clients()


def fixture_body(name: str) -> bytes:
    return (FIXTURES / "whatsapp" / name).read_bytes()


def signed_headers(body: bytes, secret: str = "acme-app-secret") -> dict[str, str]:
    from domain.channels.whatsapp import sign

    return {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}


def queued_jobs(conn: psycopg.Connection) -> list[tuple[str, str, list]]:
    """(queue, actor, args) of every broker row, oldest first."""
    return [
        (queue, message["actor_name"], message["args"])
        for queue, message in conn.execute(
            "SELECT queue_name, message FROM dramatiq.queue ORDER BY mtime, message_id"
        ).fetchall()
    ]


def count(conn: psycopg.Connection, table: str, where: str = "TRUE") -> int:
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
