"""The dead-letter pages' queries at scale: plans and times with N dead letters.

    python -m bench.dead_letters [--letters 100000] [--tenants 20] [--repeat 20]

Loads a scratch database (like bench.ingest) with `letters` dead letters spread over `tenants`
tenants and 30 days (a tenth still dead, the rest settled), one contact, conversation and
outbound message with a provider id per 5 letters, then runs VACUUM ANALYZE as autovacuum would.
For each page query (db/operations.py, called as the pages call it) it prints the plan PostgreSQL
chose (auto_explain, ANALYZE) and the median time of `repeat` runs, client side (enough runs to
pass psycopg's prepare threshold and PostgreSQL's five custom plans: a bad generic plan would
show). The last line is one JSON object.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from bench.ingest import scratch_database
from db import operations
from db.operations import LetterFilter
from ops.database import database_url, describe

_LOAD = """
INSERT INTO tenants (slug, name)
SELECT 'bench-' || t, 'Bench ' || t FROM generate_series(1, %(tenants)s) t;

INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164)
SELECT 1 + c %% %(tenants)s, 'whatsapp', (5215500000000 + c)::text, '+' || (5215500000000 + c)
FROM generate_series(1, %(letters)s / 5) c;

INSERT INTO conversations (tenant_id, contact_id, channel)
SELECT tenant_id, id, 'whatsapp' FROM contacts ORDER BY id;

INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,
                      delivery_status, provider_message_id)
SELECT tenant_id, id, 'whatsapp', 'out', 'text', 'hi', 'failed', 'wamid.bench' || id
FROM conversations ORDER BY id;

INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,
    exception_text, traceback, tenant_id, conversation_id, related, state, first_failed_at,
    last_failed_at)
SELECT gen_random_uuid(), 'send', (ARRAY['send_message', 'ingest_event', 'plan_reply'])[1 + n %% 3],
    jsonb_build_array(n), 21,
    (ARRAY['domain.errors.PermanentError', 'httpx.ReadTimeout'])[1 + n %% 2],
    'failure ' || n, 'Traceback ...', v.tenant_id, v.id,
    jsonb_build_object('message_id', m.id),
    CASE WHEN (n / 7) %% 10 = 0 THEN 'dead' WHEN (n / 7) %% 10 < 8 THEN 'resolved'
        ELSE 'discarded' END,
    now() - (n * 7919 %% 43200) * interval '1 minute',
    now() - (n * 7919 %% 43200) * interval '1 minute'
FROM generate_series(1, %(letters)s) n
JOIN conversations v ON v.id = 1 + n %% (%(letters)s / 5)
JOIN messages m ON m.conversation_id = v.id;
"""


def _measure(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    with database_url() as server_url, scratch_database(server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            for statement in _LOAD.split(";")[:-1]:
                conn.execute(statement, {"tenants": args.tenants, "letters": args.letters})
            conn.execute("VACUUM ANALYZE")
            print(
                f"PostgreSQL {describe(server_url)}; {args.letters:,} dead letters,"
                f" {args.tenants} tenants, loaded in {time.perf_counter() - started:.0f} s"
            )
            # The plans as notices: each query of the pages, as PostgreSQL ran it.
            conn.execute("LOAD 'auto_explain'")
            conn.execute("SET auto_explain.log_min_duration = 0")
            conn.execute("SET auto_explain.log_analyze = on")
            conn.execute("SET auto_explain.log_level = notice")
            conn.execute("SET client_min_messages = notice")
            conn.add_notice_handler(lambda notice: print(notice.message_primary))
            (phone,) = conn.execute(
                "SELECT phone_e164 FROM contacts WHERE tenant_id = 3 LIMIT 1"
            ).fetchone() or ("",)
            (provider_id, last_at, last_id) = conn.execute(
                "SELECT m.provider_message_id, d.last_failed_at, d.id FROM dead_letters d"
                " JOIN messages m ON m.id = (d.related ->> 'message_id')::bigint"
                " WHERE d.tenant_id = 3 AND d.state = 'dead'"
                " ORDER BY d.last_failed_at DESC, d.id DESC OFFSET 49 LIMIT 1"
            ).fetchone() or ("", datetime.now(UTC), 0)
            week = datetime.now(UTC) - timedelta(days=7)
            cases: dict[str, Callable[[], object]] = {
                "tenant_first_page": lambda: operations.dead_letter_page(
                    conn, LetterFilter(tenant_id=3), after=None, limit=51
                ),
                "tenant_second_page": lambda: operations.dead_letter_page(
                    conn, LetterFilter(tenant_id=3), after=(last_at, last_id), limit=51
                ),
                "all_tenants_first_page": lambda: operations.dead_letter_page(
                    conn, LetterFilter(), after=None, limit=51
                ),
                "tenant_actor_error_week": lambda: operations.dead_letter_page(
                    conn,
                    LetterFilter(
                        tenant_id=3, actor="send_message", error="PermanentError", since=week
                    ),
                    after=None,
                    limit=51,
                ),
                "tenant_count_for_confirm": lambda: operations.count_dead_letters(
                    conn, LetterFilter(tenant_id=3)
                ),
                "search_phone_tenant": lambda: operations.dead_letter_page(
                    conn,
                    LetterFilter(
                        tenant_id=3, search=operations.search_targets(conn, phone, 3, phone)
                    ),
                    after=None,
                    limit=51,
                ),
                "search_provider_id_all_tenants": lambda: operations.dead_letter_page(
                    conn,
                    LetterFilter(
                        state=None,
                        search=operations.search_targets(conn, provider_id, None, None),
                    ),
                    after=None,
                    limit=51,
                ),
                "overview_all_tenants": lambda: operations.tenant_health(conn, None),
            }
            for name, call in cases.items():
                print(f"--- {name}")
                call()
        with psycopg.connect(url, autocommit=True) as conn:
            for name, call in cases.items():
                results[name] = round(_measure(call, args.repeat), 2)
    for name, ms in results.items():
        print(f"{name:32} {ms:8.2f} ms (median of {args.repeat})")
    print(json.dumps({"letters": args.letters, "tenants": args.tenants, "median_ms": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
