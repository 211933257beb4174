"""Webhook ingest throughput and latency beside two references measured in the same run.

    python -m bench.ingest [--concurrency 16] [--seconds 10]

Starts its own web server (hypercorn, webapp.asgi:app) on 127.0.0.1 against a scratch database
created on DATABASE_URL's server (or the embedded one), then measures at one fixed concurrency:
  webhook  signed single-message envelope POSTs, each a distinct new event
  noop     GET /healthz on the same server: the HTTP stack without the database
  insert   single-row INSERT+COMMIT transactions, one psycopg connection per thread
The last line printed is one JSON object with the figures (README: Benchmarks).
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg.rows import TupleRow

from db.migrate import migrate
from db.pool import connect
from db.tenants import create_tenant
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from ops.database import database_url, describe
from ops.processes import Child, spawn, stop, wait_for_port, web_server_argv

TENANT = "bench"
PHONE_NUMBER_ID = "100000000000099"
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Measure:
    count: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


def run_for(
    seconds: float, concurrency: int, make_op: Callable[[int], Callable[[], bool]]
) -> Measure:
    """Each of `concurrency` threads repeats its op until the deadline; ops return success."""
    barrier = threading.Barrier(concurrency + 1)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    deadline = [0.0]

    def worker(i: int) -> None:
        op = make_op(i)
        barrier.wait()
        mine, now = latencies[i], time.perf_counter
        while True:
            started = now()
            if started >= deadline[0]:
                return
            if op():
                mine.append(now() - started)
            else:
                errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(seconds + REQUEST_TIMEOUT + 5)
    elapsed = time.perf_counter() - started
    merged = [x for per_thread in latencies for x in per_thread]
    return Measure(len(merged), sum(errors), elapsed, merged)


class Http:
    """One keep-alive connection per thread; reconnects if the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bool:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                return 200 <= response.status < 300
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT
                )
                if attempt == 2:
                    return False
        return False


def webhook_op(port: int, secret: str) -> Callable[[int], Callable[[], bool]]:
    def make(thread: int) -> Callable[[], bool]:
        client = Http(port)
        counter = iter(range(10**9))
        path = f"/webhooks/whatsapp/{TENANT}"
        now = int(time.time())

        def op() -> bool:
            n = next(counter)
            body = encode(
                text_envelope(
                    PHONE_NUMBER_ID,
                    [
                        TextMessage(
                            wa_id=f"1555010{thread:04d}",
                            profile_name=f"Bench {thread}",
                            wamid=f"wamid.BENCH{thread:04d}{n:010d}{secrets.token_hex(4)}",
                            text="Do you have a slot on Friday?",
                            timestamp=now,
                        )
                    ],
                )
            )
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(secret, body),
            }
            return client.request("POST", path, body, headers)

        return op

    return make


def noop_op(port: int) -> Callable[[int], Callable[[], bool]]:
    def make(thread: int) -> Callable[[], bool]:
        client = Http(port)
        return lambda: client.request("GET", "/healthz", None, {})

    return make


def insert_op(
    url: str, connections: list[psycopg.Connection]
) -> Callable[[int], Callable[[], bool]]:
    def make(thread: int) -> Callable[[], bool]:
        conn = psycopg.connect(url)
        connections.append(conn)

        def op() -> bool:
            conn.execute("INSERT INTO bench_insert (body) VALUES (%s)", ("Do you have a slot?",))
            conn.commit()
            return True

        return op

    return make


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A migrated database of our own, so the bench's rows never mix with real data."""
    name = f"recado_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    try:
        with connect(url, application_name="recado-bench", autocommit=True) as conn:
            migrate(conn)
            conn.execute("CREATE TABLE bench_insert (id bigserial PRIMARY KEY, body text NOT NULL)")
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def one_row(conn: psycopg.Connection[TupleRow], query: str, params: Params = ()) -> TupleRow:
    """The row of a query that always returns exactly one (an aggregate)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_bench_tenant(url: str) -> str:
    """The benchmark's tenant in the scratch database; returns its app secret."""
    secret = secrets.token_hex(16)
    with connect(url, application_name="recado-bench") as conn:
        create_tenant(
            conn, slug=TENANT, name="Bench", wa_phone_number_id=PHONE_NUMBER_ID,
            wa_app_secret=secret, wa_verify_token=secrets.token_hex(8),
            wa_access_token=secrets.token_hex(8),
        )  # fmt: skip
        conn.commit()
    return secret


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measure")
    parser.add_argument("--web-workers", type=int, default=2, help="web server processes")
    args = parser.parse_args(argv)
    # SIGTERM (timeout, CI) must reach the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)

    with database_url() as server_url, scratch_database(server_url) as url:
        secret = create_bench_tenant(url)
        port = free_port()
        argv_ = web_server_argv(host="127.0.0.1", port=port, workers=args.web_workers)
        server = spawn(Child("web server", argv_), {**os.environ, "DATABASE_URL": url})
        connections: list[psycopg.Connection] = []
        try:
            if not wait_for_port("127.0.0.1", port, timeout=30):
                print("bench: the web server did not start listening within 30 s", file=sys.stderr)
                return 1
            # Warm-up: workers booted, pools filled, code paths imported.
            run_for(1.0, args.concurrency, noop_op(port))
            warm = run_for(1.0, args.concurrency, webhook_op(port, secret))
            noop = run_for(args.seconds, args.concurrency, noop_op(port))
            webhook = run_for(args.seconds, args.concurrency, webhook_op(port, secret))
            insert = run_for(args.seconds, args.concurrency, insert_op(url, connections))
        finally:
            for opened in connections:
                opened.close()
            stop({"web server": server}, grace=15)
        with psycopg.connect(url) as check:
            (stored,) = one_row(check, "SELECT count(*) FROM inbound_events")
        # Every 2xx must have stored its event (invariant 1), warm-up requests included.
        accepted = warm.count + webhook.count

    figures = {
        "concurrency": args.concurrency,
        "seconds_per_measure": args.seconds,
        "web_workers": args.web_workers,
        "cpu_count": os.cpu_count(),
        "webhook_rps": round(webhook.per_second, 1),
        "webhook_p50_ms": round(webhook.percentile_ms(50), 2),
        "webhook_p99_ms": round(webhook.percentile_ms(99), 2),
        "webhook_errors": webhook.errors,
        "webhook_accepted_total": accepted,
        "events_stored": stored,
        "noop_rps": round(noop.per_second, 1),
        "noop_p50_ms": round(noop.percentile_ms(50), 2),
        "noop_p99_ms": round(noop.percentile_ms(99), 2),
        "noop_errors": noop.errors,
        "insert_tps": round(insert.per_second, 1),
        "insert_p50_ms": round(insert.percentile_ms(50), 2),
        "insert_p99_ms": round(insert.percentile_ms(99), 2),
        "webhook_vs_noop": round(webhook.per_second / noop.per_second, 3) if noop.count else None,
        "webhook_vs_insert": (
            round(webhook.per_second / insert.per_second, 3) if insert.count else None
        ),
    }
    print(
        f"recado ingest benchmark: concurrency {args.concurrency}, {args.seconds:g} s per measure,"
        f" hypercorn x{args.web_workers}, {os.cpu_count()} CPUs,"
        f" PostgreSQL {describe(server_url)}"
    )
    rows = [
        ("measure", "count", "per s", "p50 ms", "p99 ms", "errors"),
        *(
            (name, str(m.count), f"{m.per_second:,.0f}", f"{m.percentile_ms(50):.2f}",
             f"{m.percentile_ms(99):.2f}", str(m.errors))
            for name, m in (
                ("webhook POST, 1 message", webhook),
                ("no-op GET /healthz", noop),
                ("INSERT+COMMIT", insert),
            )
        ),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print(
        f"webhook / no-op: {figures['webhook_vs_noop']}"
        f"   webhook / insert: {figures['webhook_vs_insert']}"
        f"   events stored: {stored} of {accepted} accepted"
    )
    print(json.dumps(figures))
    return 0 if webhook.errors == 0 and stored == accepted else 1


if __name__ == "__main__":
    sys.exit(main())
