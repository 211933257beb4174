"""/readyz and /metrics at 0 and at N finished broker rows, beside a raw SELECT 1.

    python -m bench.health [--rows 5000000] [--concurrency 16] [--seconds 5]

Starts its own web server (hypercorn, as `recado serve`) on 127.0.0.1 against a scratch
database, like bench.ingest, with RECADO_METRICS_TOKEN set. At each size it measures, at one
fixed concurrency:
  select1  SELECT 1 on one psycopg connection per thread: the database round trip alone
  readyz   GET /readyz
  metrics  GET /metrics with the bearer token
  webhook  signed webhook POSTs from 4 threads
  webhook_scraped  the same while `concurrency` threads scrape /metrics (metrics_scraping)
Then it loads N `done` rows into dramatiq.queue (what RECADO_QUEUE_RETENTION_DAYS keeps), runs
VACUUM ANALYZE as autovacuum would, and measures again. The last line is one JSON object.
"""

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable

import psycopg

from bench.ingest import (
    Http,
    Measure,
    _raise_interrupt,
    create_bench_tenant,
    free_port,
    run_for,
    scratch_database,
    webhook_op,
)
from ops.database import database_url, describe
from ops.processes import Child, spawn, stop, wait_for_port, web_server_argv

WEBHOOK_THREADS = 4
LOAD_CHUNK = 500_000

Op = Callable[[int], Callable[[], bool]]


def get_op(port: int, path: str, headers: dict[str, str]) -> Op:
    def make(thread: int) -> Callable[[], bool]:
        http = Http(port)
        return lambda: http.request("GET", path, None, headers)

    return make


def select1_op(url: str, connections: list[psycopg.Connection]) -> Op:
    def make(thread: int) -> Callable[[], bool]:
        conn = psycopg.connect(url, autocommit=True)
        connections.append(conn)
        return lambda: conn.execute("SELECT 1").fetchone() == (1,)

    return make


def load_finished_rows(url: str, rows: int) -> float:
    """Insert `rows` done messages spread over a week, then VACUUM ANALYZE; returns seconds."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(0, rows, LOAD_CHUNK):
            last = min(first + LOAD_CHUNK, rows)
            conn.execute(
                "INSERT INTO dramatiq.queue (message_id, queue_name, state, mtime, message)"
                " SELECT gen_random_uuid(), (ARRAY['ingest', 'send', 'assistant'])[1 + i %% 3],"
                " 'done', now() - interval '7 days' * i / %s::bigint,"
                " jsonb_build_object('queue_name', 'ingest', 'actor_name', 'ingest_event',"
                " 'args', jsonb_build_array(i), 'options', '{}'::jsonb)"
                " FROM generate_series(%s::bigint, %s::bigint) AS i",
                (rows, first + 1, last),
            )
            print(f"  loaded {last:,} finished rows", file=sys.stderr)
        conn.execute("VACUUM ANALYZE dramatiq.queue")
    return time.perf_counter() - started


def measure(port: int, url: str, token: str, args: argparse.Namespace, secret: str) -> dict:
    bearer = {"Authorization": f"Bearer {token}"}
    connections: list[psycopg.Connection] = []
    try:
        select1 = run_for(args.seconds, args.concurrency, select1_op(url, connections))
    finally:
        for conn in connections:
            conn.close()
    readyz = run_for(args.seconds, args.concurrency, get_op(port, "/readyz", {}))
    metrics = run_for(args.seconds, args.concurrency, get_op(port, "/metrics", bearer))
    webhook = run_for(args.seconds, WEBHOOK_THREADS, webhook_op(port, secret))
    # Webhooks while the scrapers hammer /metrics: what an open, slow /metrics did to them.
    scraping: list[Measure] = []
    scrapers = threading.Thread(
        target=lambda: scraping.append(
            run_for(args.seconds, args.concurrency, get_op(port, "/metrics", bearer))
        )
    )
    scrapers.start()
    scraped = run_for(args.seconds, WEBHOOK_THREADS, webhook_op(port, secret))
    scrapers.join()
    return {
        "select1": select1,
        "readyz": readyz,
        "metrics": metrics,
        "webhook": webhook,
        "webhook_scraped": scraped,
        "metrics_scraping": scraping[0],
    }


def summary(measures: dict[str, Measure]) -> dict[str, float | int]:
    figures: dict[str, float | int] = {}
    for name, m in measures.items():
        figures[f"{name}_per_s"] = round(m.per_second, 1)
        figures[f"{name}_p50_ms"] = round(m.percentile_ms(50), 2)
        figures[f"{name}_p99_ms"] = round(m.percentile_ms(99), 2)
        figures[f"{name}_errors"] = m.errors
    return figures


def print_table(label: str, measures: dict[str, Measure]) -> None:
    print(label)
    rows = [("measure", "per s", "p50 ms", "p99 ms", "errors")]
    for name, m in measures.items():
        rows.append(
            (name, f"{m.per_second:,.0f}", f"{m.percentile_ms(50):.2f}",
             f"{m.percentile_ms(99):.2f}", str(m.errors))
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  " + "  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="finished rows loaded")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measure")
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    with database_url() as server_url, scratch_database(server_url) as url:
        secret = create_bench_tenant(url)
        token = secrets.token_hex(16)
        port = free_port()
        argv_ = web_server_argv(host="127.0.0.1", port=port, workers=args.web_workers)
        env = {**os.environ, "DATABASE_URL": url, "RECADO_METRICS_TOKEN": token}
        server = spawn(Child("web server", argv_), env)
        try:
            if not wait_for_port("127.0.0.1", port, timeout=30):
                print("bench: the web server did not start listening within 30 s", file=sys.stderr)
                return 1
            run_for(1.0, args.concurrency, get_op(port, "/healthz", {}))
            empty = measure(port, url, token, args, secret)
            load_seconds = load_finished_rows(url, args.rows)
            full = measure(port, url, token, args, secret)
        finally:
            stop({"web server": server}, grace=15)

    print(
        f"recado health benchmark: concurrency {args.concurrency}, {args.seconds:g} s per measure,"
        f" web server {args.web_workers} processes, {os.cpu_count()} CPUs,"
        f" PostgreSQL {describe(server_url)}; {args.rows:,} rows loaded in {load_seconds:.0f} s"
    )
    print_table("0 finished rows", empty)
    print_table(f"{args.rows:,} finished rows", full)
    at_zero, at_n = summary(empty), summary(full)
    figures = {
        "rows": args.rows,
        "concurrency": args.concurrency,
        "seconds_per_measure": args.seconds,
        "cpu_count": os.cpu_count(),
        **{f"empty_{k}": v for k, v in at_zero.items()},
        **{f"full_{k}": v for k, v in at_n.items()},
        "metrics_p50_full_vs_empty": round(
            at_n["metrics_p50_ms"] / at_zero["metrics_p50_ms"], 2
        ) if at_zero["metrics_p50_ms"] else None,
        "readyz_p50_full_vs_empty": round(
            at_n["readyz_p50_ms"] / at_zero["readyz_p50_ms"], 2
        ) if at_zero["readyz_p50_ms"] else None,
    }  # fmt: skip
    print(json.dumps(figures))
    errors = sum(m.errors for m in (*empty.values(), *full.values()))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
