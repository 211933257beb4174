"""The inbox's conversation list at scale: query and page times, and EXPLAIN ANALYZE.

    python -m bench.inbox_list [--conversations 50000] [--messages-each 20] [--runs 40]

Loads a scratch database (bench.ingest's) with one tenant's conversations and their messages
(20 each: 1,000,000 by default; a tenth end with the customer waiting), a second tenant with a
tenth as many, then measures, `runs` times each:
  db:<case>    db.inbox.inbox_page / inbox_alerts alone (the server's query time)
  page:<case>  GET /t/bench/inbox through the Flask app (queries and rendering)
and the cost the trigger of migration 0015 adds to each message insert. Prints the plans of the
first page and of a text search, and one JSON object last.
"""

import argparse
import json
import os
import signal
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg

from bench.ingest import _raise_interrupt, create_bench_tenant, scratch_database
from db.inbox import Cursor, InboxFilter, Search, inbox_alerts, inbox_page, inbox_query
from db.pool import connect
from db.users import create_session, create_user
from domain.settings import Settings
from ops.database import database_url

PHRASES = (
    "Hola, quisiera una cita",
    "¿Cuánto cuesta una limpieza dental?",
    "Gracias, hasta mañana",
    "¿Abren el sábado por la mañana?",
    "Perfecto, ahí estaré",
    "Necesito cambiar mi cita del martes",
    "Claro, tenemos hueco a las 10:00",
    "Le esperamos, que tenga buen día",
)


def load(url: str, conversations: int, messages_each: int) -> dict[str, int]:
    """The rows, written in bulk with the trigger off, then its state built as the migration
    does for existing rows (inbox_refresh per conversation)."""
    with connect(url, application_name="recado-bench", autocommit=True) as conn:
        tenants = [r["id"] for r in conn.execute("SELECT id FROM tenants ORDER BY id")]
        users = [
            create_user(conn, email=f"agent{n}@bench.example", role="agent", tenant_id=tenants[0])
            for n in range(5)
        ]
        conn.execute("ALTER TABLE messages DISABLE TRIGGER messages_inbox_insert")
        for tenant_id, count in ((tenants[0], conversations), (tenants[1], conversations // 10)):
            conn.execute(
                "INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164,"
                " profile_name) SELECT %s, 'whatsapp', (34600000000 + g)::text,"
                " '+' || (34600000000 + g), 'Cliente ' || g || ' '"
                " || (ARRAY['Lucía','Marco','Ana','Pedro','Sofía','Juan'])[1 + g %% 6]"
                " FROM generate_series(1, %s) g",
                (tenant_id, count),
            )
            conn.execute(
                "INSERT INTO conversations (tenant_id, contact_id, channel, status,"
                " assigned_user_id, created_at)"
                " SELECT c.tenant_id, c.id, 'whatsapp', CASE WHEN c.id %% 7 = 0 THEN 'closed'"
                " WHEN c.id %% 7 = 1 THEN 'handoff' ELSE 'open' END,"
                " CASE WHEN c.tenant_id = %s AND c.id %% 3 = 0 THEN"
                "  (%s::bigint[])[1 + c.id %% %s] END, now() - interval '60 days'"
                " FROM contacts c WHERE c.tenant_id = %s",
                (tenants[0], [u.id for u in users], len(users), tenant_id),
            )
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
            " delivery_status, ordered_at, received_at)"
            " SELECT v.tenant_id, v.id, 'whatsapp', d.direction, 'text',"
            "  (%s::text[])[1 + (v.id * 7 + i) %% %s] || ' (pedido ' || (v.id * 100 + i) || ')',"
            "  CASE WHEN d.direction = 'out' THEN 'delivered' END, t.at, t.at"
            " FROM conversations v"
            " CROSS JOIN LATERAL generate_series(1, %s + (v.id %% 10 = 0)::int) i"
            " CROSS JOIN LATERAL (SELECT CASE WHEN i %% 2 = 1 THEN 'in' ELSE 'out' END"
            "  AS direction) d"
            " CROSS JOIN LATERAL (SELECT now() - make_interval(mins => ((v.id * 37) %% 80000)::int)"
            "  + make_interval(secs => i * 30.0) AS at) t",
            (list(PHRASES), len(PHRASES), messages_each),
        )
        load_seconds = time.perf_counter() - started
        conn.execute("ALTER TABLE messages ENABLE TRIGGER messages_inbox_insert")
        started = time.perf_counter()
        conn.execute("SELECT inbox_refresh(id) FROM conversations")
        refresh_seconds = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE")
        (total,) = conn.execute("SELECT count(*) AS n FROM messages").fetchone().values()
    return {
        "messages": total,
        "tenant_id": tenants[0],
        "user_id": users[0].id,
        "load_seconds": round(load_seconds, 1),
        "backfill_seconds": round(refresh_seconds, 1),
    }


def timed(runs: int, work: Callable[[], object]) -> dict[str, float]:
    work()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2)}


def db_cases(url: str, tenant_id: int, user_id: int, runs: int) -> dict[str, dict[str, float]]:
    results = {}
    with psycopg.connect(url, autocommit=True) as conn:
        first = inbox_page(conn, tenant_id, user_id, limit=51)
        deep = first[-1].cursor
        for _ in range(20):
            page = inbox_page(conn, tenant_id, user_id, after=deep, limit=51)
            if len(page) < 51:
                break
            deep = page[-1].cursor
        through = inbox_page(conn, tenant_id, user_id, limit=500)[-1].cursor
        cases: dict[str, Callable[[], object]] = {
            "first_page": lambda: inbox_page(conn, tenant_id, user_id, limit=51),
            "page_21": lambda: inbox_page(conn, tenant_id, user_id, after=deep, limit=51),
            "refresh_500_rows": lambda: inbox_page(
                conn, tenant_id, user_id, through=through, limit=501
            ),
            "alerts": lambda: inbox_alerts(conn, tenant_id, timedelta(minutes=10)),
        }
        for view in InboxFilter:
            if view is not InboxFilter.ALL:
                cases[f"filter_{view.value}"] = lambda view=view: inbox_page(
                    conn, tenant_id, user_id, view=view, limit=51
                )
        for name, text in (
            ("search_name", "Cliente 4242 "),
            ("search_phone", "600012345"),
            ("search_text_rare", "pedido 4242017"),
            ("search_text_common", "limpieza dental"),
            ("search_no_match", "zzzzqqq"),
        ):
            cases[name] = lambda text=text: inbox_page(
                conn, tenant_id, user_id, search=Search.of(text), limit=51
            )
        for name, work in cases.items():
            results[name] = timed(runs, work)
    return results


def explain(url: str, tenant_id: int, user_id: int, search: str | None) -> str:
    """EXPLAIN ANALYZE of the first page's query (inbox_page's own SQL)."""
    query, params = inbox_query(
        tenant_id, user_id, InboxFilter.ALL, Search.of(search), None, None, 51
    )
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params).fetchall()  # type: ignore[arg-type]
    return "\n".join(line for (line,) in rows)


def page_cases(url: str, tenant_id: int, user_id: int, runs: int) -> dict[str, dict[str, float]]:
    from webapp import create_app

    os.environ["DATABASE_URL"] = url
    app = create_app(Settings.from_env(os.environ))
    client = app.test_client()
    with connect(url, application_name="recado-bench", autocommit=True) as conn:
        token = create_session(conn, user_id, timedelta(hours=1))
    with client.session_transaction() as session:
        session["sid"] = token
    results = {}
    for name, query in (
        ("first_page", ""),
        ("needs_reply", "?filter=needs_reply"),
        ("mine", "?filter=mine"),
        ("search_text_common", "?q=limpieza+dental"),
        ("refresh", "?part=refresh&through=" + _through(url, tenant_id, user_id)),
    ):

        def get(query: str = query) -> None:
            response = client.get(f"/t/bench/inbox{query}")
            assert response.status_code == 200, response.status_code

        results[name] = timed(runs, get)
    app.extensions["recado.pool"].close()
    return results


def _through(url: str, tenant_id: int, user_id: int) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor: Cursor = inbox_page(conn, tenant_id, user_id, limit=150)[-1].cursor
        return cursor.token()


def trigger_cost(url: str, tenant_id: int, inserts: int) -> dict[str, float]:
    """Milliseconds per message insert (one transaction each) with and without the trigger."""
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM conversations LIMIT %s", (inserts,))]

        def insert_all() -> float:
            started = time.perf_counter()
            for conversation_id in ids:
                conn.execute(
                    "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type,"
                    " text) VALUES (%s, %s, 'whatsapp', 'in', 'text', 'hola otra vez')",
                    (tenant_id, conversation_id),
                )
            return (time.perf_counter() - started) * 1000 / len(ids)

        with_trigger = insert_all()
        conn.execute("ALTER TABLE messages DISABLE TRIGGER messages_inbox_insert")
        without = insert_all()
        conn.execute("ALTER TABLE messages ENABLE TRIGGER messages_inbox_insert")
    return {"with_trigger_ms": round(with_trigger, 3), "without_ms": round(without, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--messages-each", type=int, default=20)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    os.environ.setdefault("RECADO_SECRET_KEY", "bench-secret-key")

    with database_url() as server_url, scratch_database(server_url) as url:
        create_bench_tenant(url)
        with connect(url, application_name="recado-bench", autocommit=True) as conn:
            conn.execute(
                "INSERT INTO tenants (slug, name) VALUES ('bench-other', 'Other')"
                " ON CONFLICT DO NOTHING"
            )
        loaded = load(url, args.conversations, args.messages_each)
        tenant_id, user_id = loaded["tenant_id"], loaded["user_id"]
        print(explain(url, tenant_id, user_id, None), "\n")
        print(explain(url, tenant_id, user_id, "limpieza dental"), "\n")
        report = {
            "loaded": loaded,
            "db": db_cases(url, tenant_id, user_id, args.runs),
            "page": page_cases(url, tenant_id, user_id, args.runs),
            "insert": trigger_cost(url, tenant_id, 500),
        }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
