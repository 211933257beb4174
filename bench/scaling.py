"""Two measures of how recado holds up as it grows, each beside a reference from the same run.

    python -m bench.scaling prefill [--messages 1000000] [--seconds 10] [--concurrency 16]
    python -m bench.scaling rss [--jobs 100000] [--batch 10000] [--threads 8]

prefill  webhook ingest rate on an empty database, then again once `--messages` inbound events
         and their message rows are stored (written by INSERT ... SELECT generate_series, then
         VACUUM ANALYZE), on one web server; INSERT+COMMIT is measured beside each. Every 2xx must
         have stored its event.
rss      one worker process (`python -m actors.worker --import bench.delivery`) runs `--jobs`
         jobs of bench.delivery's no-op actor, committed `--batch` at a time; its VmRSS is read
         from /proc once it has started, after the first batch and at the end.
Each creates its own scratch database on DATABASE_URL's server (or the embedded one). The last
line printed is one JSON object with the figures (docs/PERFORMANCE.md).
"""

import argparse
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.delivery import NOOP_ACTOR, BenchFailure, _tail, noop_burst, worker_env, workers
from bench.ingest import (
    PHONE_NUMBER_ID,
    TENANT,
    Measure,
    _raise_interrupt,
    free_port,
    insert_op,
    noop_op,
    run_for,
    scratch_database,
    webhook_op,
)
from db.pool import connect, connect_kwargs
from db.tenants import create_tenant
from ops.database import database_url, describe
from ops.processes import Child, spawn, stop, wait_for_port, web_server_argv

# Stored messages are spread over this many contacts, one open conversation each.
PREFILL_CONTACTS = 10_000
WEB_START_SECONDS = 30.0
# Per batch of no-op jobs.
RSS_TIMEOUT_SECONDS = 600.0

_PREFILL_CONTACTS = """
INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164, profile_name)
SELECT %(tenant)s, 'whatsapp', '1666' || lpad(g::text, 8, '0'), '+1666' || lpad(g::text, 8, '0'),
       'Stored ' || g
FROM generate_series(1, %(contacts)s) AS g
"""
_PREFILL_CONVERSATIONS = """
INSERT INTO conversations (tenant_id, contact_id, channel, last_inbound_at)
SELECT tenant_id, id, channel, now() FROM contacts WHERE tenant_id = %(tenant)s
"""
_PREFILL_EVENTS = """
INSERT INTO inbound_events
    (tenant_id, channel, kind, provider_event_id, payload, received_at, processed_at, outcome)
SELECT %(tenant)s, 'whatsapp', 'message', 'wamid.STORED' || lpad(g::text, 12, '0'),
       jsonb_build_object(
           'from', '1666' || lpad((g %% %(contacts)s)::text, 8, '0'),
           'id', 'wamid.STORED' || lpad(g::text, 12, '0'),
           'timestamp', '1700000000', 'type', 'text',
           'text', jsonb_build_object('body', 'Do you have a slot on Friday?')),
       now() - interval '1 day', now() - interval '1 day', 'stored'
FROM generate_series(1, %(messages)s) AS g
"""
_PREFILL_MESSAGES = """
WITH c AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n
    FROM conversations WHERE tenant_id = %(tenant)s
)
INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,
                      provider_message_id, inbound_event_id, provider_timestamp, created_at)
SELECT e.tenant_id, c.id, e.channel, 'in', 'text', 'Do you have a slot on Friday?',
       e.provider_event_id, e.id, e.received_at, e.received_at
FROM inbound_events e JOIN c ON c.n = e.id %% %(contacts)s
WHERE e.tenant_id = %(tenant)s AND e.outcome = 'stored'
"""


def prefill(url: str, tenant_id: int, messages: int) -> float:
    """Store `messages` processed inbound events and their message rows; returns the seconds."""
    started = time.perf_counter()
    params = {"tenant": tenant_id, "messages": messages, "contacts": PREFILL_CONTACTS}
    with connect(url, application_name="recado-bench") as conn:
        for statement in (
            _PREFILL_CONTACTS, _PREFILL_CONVERSATIONS, _PREFILL_EVENTS, _PREFILL_MESSAGES
        ):  # fmt: skip
            conn.execute(statement, params)
        conn.commit()
    # As autovacuum would have by then: the planner sees the tables as they are.
    with connect(url, application_name="recado-bench", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE contacts, conversations, inbound_events, messages")
    return time.perf_counter() - started


def _rates(prefix: str, webhook: Measure, insert: Measure) -> dict[str, float]:
    return {
        f"{prefix}_webhook_rps": round(webhook.per_second, 1),
        f"{prefix}_webhook_p50_ms": round(webhook.percentile_ms(50), 2),
        f"{prefix}_webhook_p99_ms": round(webhook.percentile_ms(99), 2),
        f"{prefix}_insert_tps": round(insert.per_second, 1),
    }


def measure_prefill(args: argparse.Namespace, server_url: str) -> dict[str, object]:
    with scratch_database(server_url) as url:
        secret = secrets.token_hex(16)
        with connect(url, application_name="recado-bench") as conn:
            tenant = create_tenant(
                conn, slug=TENANT, name="Bench", wa_phone_number_id=PHONE_NUMBER_ID,
                wa_app_secret=secret, wa_verify_token=secrets.token_hex(8),
                wa_access_token=secrets.token_hex(8),
            )  # fmt: skip
            conn.commit()
        port = free_port()
        argv = web_server_argv(host="127.0.0.1", port=port, workers=args.web_workers)
        server = spawn(Child("web server", argv), {**os.environ, "DATABASE_URL": url})
        connections: list[psycopg.Connection] = []
        try:
            if not wait_for_port("127.0.0.1", port, timeout=WEB_START_SECONDS):
                raise BenchFailure(f"the web server did not listen within {WEB_START_SECONDS:g} s")
            run_for(1.0, args.concurrency, noop_op(port))
            warm = run_for(1.0, args.concurrency, webhook_op(port, secret))
            empty = run_for(args.seconds, args.concurrency, webhook_op(port, secret))
            empty_insert = run_for(args.seconds, args.concurrency, insert_op(url, connections))
            prefill_seconds = prefill(url, tenant.id, args.messages)
            full = run_for(args.seconds, args.concurrency, webhook_op(port, secret))
            full_insert = run_for(args.seconds, args.concurrency, insert_op(url, connections))
        finally:
            for conn in connections:
                conn.close()
            stop({"web server": server}, grace=15)
        with psycopg.connect(url) as conn:
            (events,) = conn.execute("SELECT count(*) FROM inbound_events").fetchone()
            (stored,) = conn.execute("SELECT count(*) FROM messages").fetchone()
    accepted = warm.count + empty.count + full.count
    errors = warm.errors + empty.errors + full.errors
    return {
        "bench": "prefill",
        "concurrency": args.concurrency,
        "seconds_per_measure": args.seconds,
        "web_workers": args.web_workers,
        "prefill_messages": args.messages,
        "prefill_seconds": round(prefill_seconds, 1),
        **_rates("empty", empty, empty_insert),
        **_rates("prefilled", full, full_insert),
        "prefilled_vs_empty": (
            round(full.per_second / empty.per_second, 3) if empty.per_second else None
        ),
        "webhook_errors": errors,
        "webhook_accepted_total": accepted,
        "events_stored": events,
        "messages_stored": stored,
        "ok": errors == 0 and events == accepted + args.messages and stored == args.messages,
    }


def vm_rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A field of /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise BenchFailure(f"no {field} for process {pid}")


def worker_pid() -> int:
    """The one `actors.worker` process this process started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if ppid == os.getpid() and b"actors.worker" in argv:
            found.append(int(entry.name))
    if len(found) != 1:
        raise BenchFailure(f"expected one worker process, found {len(found)}")
    return found[0]


def measure_rss(args: argparse.Namespace, server_url: str) -> dict[str, object]:
    with (
        scratch_database(server_url) as url,
        tempfile.TemporaryDirectory(prefix="recado-bench-") as scratch,
    ):
        log = Path(scratch) / "worker.log"
        # No send runs: the Graph API base URL is never called.
        env = worker_env(url, "http://127.0.0.1:9/unused", None)
        try:
            with (
                psycopg.connect(url, **connect_kwargs("recado-bench")) as conn,
                workers(1, args.threads, env, log),
            ):
                pid = worker_pid()
                started = vm_rss_kib(pid)
                batches, done, seconds = [], 0, 0.0
                while done < args.jobs:
                    size = min(args.batch, args.jobs - done)
                    measure = noop_burst(conn, size, RSS_TIMEOUT_SECONDS)
                    done += measure.count
                    seconds += measure.seconds
                    batches.append(vm_rss_kib(pid))
                peak = vm_rss_kib(pid, "VmHWM")
                (ok_runs,) = conn.execute(
                    "SELECT count(*) FROM step_runs WHERE actor = %s AND outcome = 'ok'",
                    (NOOP_ACTOR,),
                ).fetchone()
        except BenchFailure as failure:
            raise BenchFailure(f"{failure}\n--- worker log (tail) ---\n{_tail(log)}") from None
    return {
        "bench": "rss",
        "jobs": args.jobs,
        "batch": args.batch,
        "threads": args.threads,
        "rss_start_kib": started,
        "rss_after_first_batch_kib": batches[0],
        "rss_end_kib": batches[-1],
        "rss_peak_kib": peak,
        "rss_growth_kib": batches[-1] - started,
        "rss_growth_after_first_batch_kib": batches[-1] - batches[0],
        "noop_per_s": round(done / seconds, 1) if seconds else None,
        "jobs_done": ok_runs,
        "ok": ok_runs == args.jobs == done,
    }


def report(figures: dict[str, object], server_url: str) -> None:
    print(f"recado scaling benchmark ({figures['bench']}): PostgreSQL {describe(server_url)}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps(figures))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    measures = parser.add_subparsers(dest="measure", required=True)
    fill = measures.add_parser("prefill", help="ingest rate, empty vs pre-filled database")
    fill.add_argument("--messages", type=int, default=1_000_000, help="stored before measuring")
    fill.add_argument("--seconds", type=float, default=10.0, help="per measure")
    fill.add_argument("--concurrency", type=int, default=16)
    fill.add_argument("--web-workers", type=int, default=2, help="web server processes")
    rss = measures.add_parser("rss", help="worker memory before and after many no-op jobs")
    rss.add_argument("--jobs", type=int, default=100_000)
    rss.add_argument("--batch", type=int, default=10_000, help="jobs committed at once")
    rss.add_argument("--threads", type=int, default=8, help="worker threads")
    args = parser.parse_args(argv)
    if args.measure == "prefill" and (args.messages < 1 or args.concurrency < 1):
        parser.error("--messages and --concurrency must be at least 1")
    if args.measure == "rss" and min(args.jobs, args.batch, args.threads) < 1:
        parser.error("--jobs, --batch and --threads must be at least 1")
    # SIGTERM (timeout, CI) must reach the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)

    with database_url() as server_url:
        try:
            if args.measure == "prefill":
                figures = measure_prefill(args, server_url)
            else:
                figures = measure_rss(args, server_url)
        except BenchFailure as failure:
            print(f"bench: {failure}", file=sys.stderr)
            return 1
    report(figures, server_url)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
