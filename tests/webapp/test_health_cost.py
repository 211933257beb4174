"""/readyz and /metrics never read the finished rows of the broker's queue, and never hang.

Every statement the endpoints run is recorded through the app's own pool and explained against
a million finished queue rows: no sequential scan of the queue, and a handful of pages read.
"""

import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from db.pool import connect_kwargs
from tests.conftest import TEST_DATABASE_URL

pytestmark = pytest.mark.slow

FINISHED_ROWS = 1_000_000
# Index lookups read a few pages; a scan of a million rows reads tens of thousands.
MAX_PAGES_PER_STATEMENT = 100


class RecordingCursor(psycopg.Cursor):
    """Keeps every statement the app runs, with its parameters, to explain it afterwards."""

    statements: list[tuple[str, object]] = []

    def execute(self, query, params=None, **kwargs):
        RecordingCursor.statements.append((query, params))
        return super().execute(query, params, **kwargs)


@pytest.fixture
def recorded(app) -> Iterator[list[tuple[str, object]]]:
    """The app's pool replaced by one whose connections record their statements."""
    pool = ConnectionPool(
        TEST_DATABASE_URL,
        min_size=1,
        max_size=2,
        open=True,
        kwargs={**connect_kwargs("recado-web"), "cursor_factory": RecordingCursor},
    )
    original = app.extensions["recado.pool"]
    app.extensions["recado.pool"] = pool
    RecordingCursor.statements = []
    try:
        yield RecordingCursor.statements
    finally:
        app.extensions["recado.pool"] = original
        pool.close()


def fill_finished_rows(db: psycopg.Connection, count: int) -> None:
    db.execute(
        "INSERT INTO dramatiq.queue (message_id, queue_name, state, mtime, message)"
        " SELECT gen_random_uuid(), (ARRAY['ingest', 'send', 'assistant'])[1 + i %% 3],"
        " (CASE WHEN i %% 50 = 0 THEN 'rejected' ELSE 'done' END)::dramatiq.state,"
        " now() - interval '1 second' * (i / 10),"
        " jsonb_build_object('actor_name', 'ingest_event', 'args', jsonb_build_array(i))"
        " FROM generate_series(1, %s) AS i",
        (count,),
    )


def scans(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from scans(child)


def explain(db: psycopg.Connection, query: str, params: object) -> dict:
    with db.transaction():
        (result,) = db.execute(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params
        ).fetchone()
    return result[0]["Plan"]


def assert_cheap(db: psycopg.Connection, statements: list[tuple[str, object]]) -> None:
    explained = [(q, p) for q, p in statements if q.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert explained
    for query, params in explained:
        plan = explain(db, query, params)
        seq_scans = [
            node
            for node in scans(plan)
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "queue"
        ]
        assert not seq_scans, query
        pages = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
        assert pages <= MAX_PAGES_PER_STATEMENT, (pages, query)


def test_readyz_and_metrics_do_not_read_finished_queue_rows(client, recorded, db):
    fill_finished_rows(db, FINISHED_ROWS)
    db.execute(
        "INSERT INTO dramatiq.queue (message_id, queue_name, state, message)"
        " SELECT gen_random_uuid(), 'ingest', 'queued', '{}' FROM generate_series(1, 3)"
    )
    # Right after the bulk load (no statistics yet), then as autovacuum leaves it.
    for analyze in (False, True):
        if analyze:
            db.execute("VACUUM ANALYZE dramatiq.queue")
        recorded.clear()
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert_cheap(db, recorded)

    samples = metrics.get_data(as_text=True).splitlines()
    assert 'recado_queue_messages{queue="ingest",state="queued"} 3.0' in samples
    [estimate] = [s for s in samples if s.startswith("recado_queue_rows_estimate ")]
    assert abs(float(estimate.split()[1]) - FINISHED_ROWS) < FINISHED_ROWS * 0.1


@pytest.mark.parametrize(
    ("path", "table"), [("/readyz", "dramatiq.queue"), ("/metrics", "circuit_breakers")]
)
def test_a_blocked_query_answers_503_instead_of_holding_the_request(client, db, path, table):
    blocker = psycopg.connect(TEST_DATABASE_URL)
    blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    # Without a statement timeout the request would wait for this release.
    release = threading.Timer(20, blocker.rollback)
    release.start()
    try:
        response = client.get(path)
    finally:
        release.cancel()
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503
