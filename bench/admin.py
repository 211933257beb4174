"""The admin pages at scale: server time of the inbox list, a conversation and the dead-letter
search beside a raw SELECT of the same rows, and webhook -> SSE event while ingesting.

    python -m bench.admin [--messages 1000000] [--conversations 50000] [--dead-letters 20000]
                          [--samples 100] [--rate 100] [--live-seconds 30]

Creates a scratch database on DATABASE_URL's server (or the embedded one) and fills it
(bench/admin_data.py): one tenant with `--messages` messages in `--conversations` conversations
(one of about 2,000 messages, one of 20), a second tenant with a tenth as many (same phone
numbers, so tenant scoping is exercised), replies, leads, reads, notes and dead letters.
Then, as the tenant's signed-in owner:
  pages  each page requested `--samples` times through the Flask app in this process
         (create_app + test client): server time, no network. Beside each request, a raw
         SELECT of the rows the page shows, on one psycopg connection:
           inbox               GET /t/<slug>/inbox: the first 50 conversations with their last
                               message / the same rows
           inbox_needs_reply   ?filter=needs_reply / the same with the filter
           inbox_search        ?q=<a surname> / the same, matching name or message text
           conversation_short  GET /t/<slug>/c/<id>, 20 messages / its newest 50 messages
           conversation_long   the same, about 2,000 messages
           dead_letters_phone  GET /t/<slug>/dead-letters?q=<phone> / the matching letters
           dead_letters_id     ?q=<provider message id> / the matching letters
  live   the real web server (hypercorn, as `recado serve`) and worker (`recado worker`) on
         127.0.0.1; a signed-in client holds GET /t/<slug>/live open while a load generator
         POSTs signed webhooks (existing customers writing again) at `--rate` per second for
         `--live-seconds`; each webhook's latency runs from the start of its POST to its
         `message` event arriving on the stream.
A page the app does not have yet is reported missing. Targets: list and conversation p95
<= 100 ms, webhook -> SSE p95 <= 1 s. The last line printed is one JSON object.
"""

import argparse
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient

from bench.admin_data import INBOUND_TEXTS, PASSWORD, Dataset, Scale, generate
from bench.admin_live import (
    Browser,
    StreamRefused,
    latencies,
    logged_process,
    post_paced,
    wait_delivered,
)
from bench.delivery import BenchFailure, _tail, print_table, worker_env
from bench.ingest import Measure, _raise_interrupt, free_port, scratch_database
from db.pool import connect_kwargs
from domain.settings import Settings
from ops.database import database_url, describe
from ops.processes import wait_for_port, web_server_argv, worker_argv

WEB_START_SECONDS = 30.0
WARM_UP = 5
LIVE_WARM_UP = 10
LIST_TARGET_MS = 100.0
LIVE_TARGET_MS = 1000.0
PAGE_ROWS = 50

# --- raw SELECTs: the rows each page shows, asked for directly ----------------------------------

_LIST = """
SELECT v.id, v.status, v.inbox_group, v.last_activity_at, v.waiting_since, c.profile_name,
    COALESCE(c.phone_e164, c.channel_user_id), v.assigned_user_id, left(m.text, 120), m.type,
    m.direction
FROM conversations v
JOIN contacts c ON c.id = v.contact_id
LEFT JOIN messages m ON m.id = v.last_message_id
WHERE v.tenant_id = %(tenant)s {where}
ORDER BY v.inbox_group DESC, v.last_activity_at DESC, v.id DESC
LIMIT 50
"""
_NEEDS_REPLY = "AND v.inbox_group = 3"
_SEARCH = """AND (c.profile_name ILIKE %(pattern)s OR v.id IN (
    SELECT s.conversation_id FROM messages s
    WHERE s.tenant_id = %(tenant)s AND s.text ILIKE %(pattern)s))"""

_CONVERSATION = """
SELECT id, direction, type, text, media, delivery_status, error, sent_by_user_id, ordered_at
FROM messages
WHERE tenant_id = %(tenant)s AND conversation_id = %(conversation)s
ORDER BY ordered_at DESC, received_at DESC, envelope_position DESC, id DESC
LIMIT 50
"""

# What the search names: a contact's number (their conversations), or a provider message id
# (the message or inbound event a step annotated); each found through its own index.
_DEAD_LETTERS = """
SELECT d.id, d.actor, d.state, d.exception_type, d.exception_text, d.conversation_id,
    d.attempts, d.last_failed_at
FROM dead_letters d
WHERE d.tenant_id = %(tenant)s AND d.state = 'dead' AND d.id IN (
    SELECT l.id FROM dead_letters l
    JOIN conversations v ON v.id = l.conversation_id
    JOIN contacts c ON c.id = v.contact_id
    WHERE c.tenant_id = %(tenant)s AND c.phone_e164 = %(phone)s
    UNION ALL
    SELECT l.id FROM dead_letters l
    JOIN messages m ON l.related ->> 'message_id' = m.id::text
    WHERE m.tenant_id = %(tenant)s AND m.channel = 'whatsapp' AND m.provider_message_id = %(term)s
    UNION ALL
    SELECT l.id FROM dead_letters l
    JOIN inbound_events e ON l.related ->> 'inbound_event_id' = e.id::text
    WHERE e.tenant_id = %(tenant)s AND e.channel = 'whatsapp' AND e.provider_event_id = %(term)s)
ORDER BY d.last_failed_at DESC, d.id DESC
LIMIT 50
"""


@dataclass(frozen=True)
class Probe:
    name: str
    endpoint: str
    path: str
    query: dict[str, str]
    raw: str
    params: dict[str, object]
    # The kind of page, for the targets: "list", "conversation" or "search".
    kind: str

    @property
    def needs_inbox_columns(self) -> bool:
        """The raw list reads the columns the inbox list's migration keeps on conversations."""
        return self.endpoint == "inbox.conversations"


def probes(data: Dataset) -> list[Probe]:
    tenant = data.tenant_id
    inbox, dead = f"/t/{data.slug}/inbox", f"/t/{data.slug}/dead-letters"
    pattern = f"%{data.search_term}%"

    def conversation(conversation_id: int) -> tuple[str, str, dict[str, str], str, dict]:
        return (
            "inbox.conversation", f"/t/{data.slug}/c/{conversation_id}", {}, _CONVERSATION,
            {"tenant": tenant, "conversation": conversation_id},
        )  # fmt: skip

    return [
        Probe("inbox", "inbox.conversations", inbox, {}, _LIST.format(where=""),
              {"tenant": tenant}, "list"),
        Probe("inbox_needs_reply", "inbox.conversations", inbox, {"filter": "needs_reply"},
              _LIST.format(where=_NEEDS_REPLY), {"tenant": tenant}, "list"),
        Probe("inbox_search", "inbox.conversations", inbox, {"q": data.search_term},
              _LIST.format(where=_SEARCH), {"tenant": tenant, "pattern": pattern}, "search"),
        Probe("conversation_short", *conversation(data.short_conversation_id), "conversation"),
        Probe("conversation_long", *conversation(data.long_conversation_id), "conversation"),
        Probe("dead_letters_phone", "operations.dead_letters", dead,
              {"q": data.dead_letter_phone}, _DEAD_LETTERS,
              {"tenant": tenant, "phone": data.dead_letter_phone, "term": data.dead_letter_phone},
              "search"),
        Probe("dead_letters_id", "operations.dead_letters", dead,
              {"q": data.dead_letter_provider_id}, _DEAD_LETTERS,
              {"tenant": tenant, "phone": None, "term": data.dead_letter_provider_id}, "search"),
    ]  # fmt: skip


# --- server time --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageResult:
    probe: Probe
    page: Measure
    raw: Measure
    rows: int
    # Of the raw SELECT's rows, how many the page shows (their ids are in its HTML).
    shown: int


def sign_in(client: FlaskClient, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    marker = '<meta name="csrf-token" content="'
    if marker not in page:
        raise BenchFailure("the login page carries no CSRF token")
    token = page.split(marker, 1)[1].split('"', 1)[0]
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise BenchFailure(f"signing in answered {answer.status_code}, not a redirect")


def _timed(op: Callable[[], bool]) -> tuple[float, bool]:
    started = time.perf_counter()
    ok = op()
    return time.perf_counter() - started, ok


def measure_page(client: FlaskClient, raw: psycopg.Connection, probe: Probe, samples: int):
    """Page and raw SELECT in turn, so both see the same moments of a shared machine."""

    def page() -> bool:
        return client.get(probe.path, query_string=probe.query).status_code == 200

    def select() -> bool:
        raw.execute(probe.raw, probe.params).fetchall()
        return True

    for _ in range(WARM_UP):
        page()
        select()
    # The baseline reads what the page shows: each row's id appears in the page.
    html = client.get(probe.path, query_string=probe.query).get_data(as_text=True)
    ids = [row[0] for row in raw.execute(probe.raw, probe.params).fetchall()]
    shown = sum(1 for i in ids if re.search(rf"(?<![0-9]){i}(?![0-9])", html))
    timings: dict[str, list[float]] = {"page": [], "raw": []}
    errors = 0
    started = time.perf_counter()
    for _ in range(samples):
        seconds, ok = _timed(page)
        if ok:
            timings["page"].append(seconds)
        else:
            errors += 1
        timings["raw"].append(_timed(select)[0])
    elapsed = time.perf_counter() - started
    return PageResult(
        probe,
        Measure(len(timings["page"]), errors, elapsed, timings["page"]),
        Measure(len(timings["raw"]), 0, elapsed, timings["raw"]),
        len(ids),
        shown,
    )


def measure_pages(app: Flask, data: Dataset, samples: int) -> tuple[list[PageResult], list[str]]:
    known = set(app.view_functions)
    client = app.test_client()
    sign_in(client, data.owner_email)
    results, missing = [], []
    with psycopg.connect(data.url, autocommit=True, **connect_kwargs("recado-bench")) as raw:
        inbox_columns = raw.execute(
            "SELECT count(*) = 2 FROM information_schema.columns WHERE table_name ="
            " 'conversations' AND column_name IN ('last_message_id', 'inbox_group')"
        ).fetchone() == (True,)
        for probe in probes(data):
            if probe.endpoint not in known or (probe.needs_inbox_columns and not inbox_columns):
                missing.append(probe.name)
                continue
            results.append(measure_page(client, raw, probe, samples))
            print(f"  measured {probe.name}", file=sys.stderr, flush=True)
    return results, missing


# --- webhook -> SSE -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveResult:
    measure: Measure
    posted: int
    missing: int
    # Of the posted messages, how many the worker had stored when the wait for events ended.
    stored: int
    per_second: float
    # How often the client had to open the stream again during the load, and why it had ended.
    reconnects: int
    endings: list[str]
    log_tail: str


def measure_live(args: argparse.Namespace, data: Dataset, env: Mapping[str, str], log: Path):
    """Webhook -> event at an open stream; None when the app has no live stream yet."""
    port = free_port()
    web = web_server_argv(host="127.0.0.1", port=port, workers=args.web_workers)
    workers = worker_argv(processes=args.processes, threads=args.threads)
    with (
        logged_process("web server", web, env, log),
        logged_process("worker", workers, env, log),
    ):
        if not wait_for_port("127.0.0.1", port, timeout=WEB_START_SECONDS):
            raise BenchFailure(f"the web server did not listen within {WEB_START_SECONDS:g} s")
        browser = Browser(port)
        browser.sign_in(data.owner_email, PASSWORD)
        try:
            stream = browser.open_stream(f"/t/{data.slug}/live")
        except StreamRefused as refused:
            if refused.status == 404:
                return None
            raise BenchFailure(str(refused)) from None
        try:

            def post(rate: float, seconds: float):
                return post_paced(
                    port, data.slug, data.app_secret, data.phone_number_id, data.live_senders,
                    INBOUND_TEXTS, rate=rate, seconds=seconds,
                )  # fmt: skip

            # The worker has started, pools are filled and the stream is subscribed once the
            # warm-up's events came.
            warm = post(LIVE_WARM_UP / 2, 2.0)
            wait_delivered(stream, len(warm.started), args.timeout)
            if stream.inbound < len(warm.started):
                raise BenchFailure(
                    f"{stream.inbound} of {len(warm.started)} warm-up events reached the stream"
                    f" within {args.timeout:g} s ({'; '.join(stream.endings) or 'still open'})"
                )
            reconnects_before = stream.reconnects
            load = post(args.rate, args.live_seconds)
            wait_delivered(stream, len(warm.started) + len(load.started), args.timeout)
        finally:
            stream.close()
    measure, missing, stored = latencies(data.url, data.tenant_id, stream, load)
    endings = sorted({e for e in stream.endings if e != "closed"})
    tail = _tail(log) if missing else ""
    return LiveResult(
        measure, len(load.started), missing, stored, load.per_second,
        stream.reconnects - reconnects_before, endings, tail,
    )  # fmt: skip


# --- report -------------------------------------------------------------------------------------


def _ms(m: Measure, q: int) -> float:
    return round(m.percentile_ms(q), 2)


def _ratio(page: float, raw: float) -> float | None:
    return round(page / raw, 1) if raw else None


def figures_of(
    args: argparse.Namespace,
    data: Dataset,
    pages: list[PageResult],
    missing: list[str],
    live: LiveResult | None,
) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "bench": "admin",
        "messages": data.rows["messages"],
        "conversations": data.rows["conversations"],
        "tenant_messages": args.messages,
        "tenant_conversations": args.conversations,
        "dead_letters": data.rows["dead_letters"],
        "long_conversation_messages": data.long_messages,
        "short_conversation_messages": data.short_messages,
        "samples": args.samples,
        "cpu_count": os.cpu_count(),
        "load_seconds": round(data.load_seconds, 1),
        "missing": missing,
    }
    for result in pages:
        name, page, raw = result.probe.name, result.page, result.raw
        figures |= {
            f"{name}_p50_ms": _ms(page, 50),
            f"{name}_p95_ms": _ms(page, 95),
            f"{name}_raw_p50_ms": _ms(raw, 50),
            f"{name}_raw_p95_ms": _ms(raw, 95),
            f"{name}_ratio_p50": _ratio(page.percentile_ms(50), raw.percentile_ms(50)),
            f"{name}_ratio_p95": _ratio(page.percentile_ms(95), raw.percentile_ms(95)),
            f"{name}_rows": result.rows,
            f"{name}_rows_shown": result.shown,
            f"{name}_errors": page.errors,
        }
    by_kind = {
        kind: [r.page.percentile_ms(95) for r in pages if r.probe.kind == kind]
        for kind in ("list", "conversation")
    }
    figures["list_p95_ok"] = (
        all(p <= LIST_TARGET_MS for p in by_kind["list"]) if by_kind["list"] else None
    )
    figures["conversation_p95_ok"] = (
        all(p <= LIST_TARGET_MS for p in by_kind["conversation"])
        if by_kind["conversation"]
        else None
    )
    figures |= {
        "live_rate": args.rate,
        "live_seconds": args.live_seconds,
        "live_posted": live.posted if live else None,
        "live_per_s": round(live.per_second, 1) if live else None,
        "live_events": live.measure.count if live else None,
        "live_missing": live.missing if live else None,
        "live_stored": live.stored if live else None,
        "live_webhook_errors": live.measure.errors if live else None,
        "live_p50_ms": _ms(live.measure, 50) if live and live.measure.count else None,
        "live_p95_ms": _ms(live.measure, 95) if live and live.measure.count else None,
        "live_max_ms": (
            round(max(live.measure.latencies) * 1000, 1) if live and live.measure.count else None
        ),
    }
    figures["live_reconnects"] = live.reconnects if live else None
    # An event that never came is later than any target.
    figures["live_p95_ok"] = (
        figures["live_p95_ms"] <= LIVE_TARGET_MS and not live.missing
        if live and figures["live_p95_ms"] is not None
        else None
    )
    return figures


def report(args: argparse.Namespace, server_url: str, figures: dict[str, Any],
           pages: list[PageResult], live: LiveResult | None) -> None:  # fmt: skip
    print(
        f"recado admin benchmark: {figures['messages']:,} messages in"
        f" {figures['conversations']:,} conversations ({args.messages:,} in"
        f" {args.conversations:,} of the measured tenant), {figures['dead_letters']:,} dead"
        f" letters, loaded in {figures['load_seconds']:.0f} s; {os.cpu_count()} CPUs,"
        f" PostgreSQL {describe(server_url)}"
    )
    print(
        f"Server time: the Flask app in this process (test client, no network), {args.samples}"
        " requests per page, each beside a raw SELECT of the same rows on one connection."
    )
    rows = [
        ("page", "p50 ms", "p95 ms", "raw p50", "raw p95", "p50 x", "p95 x", "rows", "shown",
         "errors")
    ]  # fmt: skip
    for r in pages:
        name = r.probe.name
        rows.append(
            (name, f"{r.page.percentile_ms(50):.1f}", f"{r.page.percentile_ms(95):.1f}",
             f"{r.raw.percentile_ms(50):.2f}", f"{r.raw.percentile_ms(95):.2f}",
             str(figures[f"{name}_ratio_p50"]), str(figures[f"{name}_ratio_p95"]),
             str(r.rows), str(r.shown), str(r.page.errors))
        )  # fmt: skip
    print_table(rows)
    if figures["missing"]:
        print(f"missing (not in the app yet): {', '.join(figures['missing'])}")
    if live is None:
        print("live: GET /t/<slug>/live is not in the app yet")
    else:
        print(
            f"webhook -> SSE event: {live.posted} webhooks at {live.per_second:.1f}/s over"
            f" {args.live_seconds:g} s (hypercorn x{args.web_workers}, worker"
            f" {args.processes}x{args.threads}): p50 {figures['live_p50_ms']} ms, p95"
            f" {figures['live_p95_ms']} ms, max {figures['live_max_ms']} ms;"
            f" {live.missing} events missing ({live.stored} messages stored),"
            f" {live.measure.errors} POSTs refused"
        )
        if live.reconnects:
            print(
                f"the client reconnected {live.reconnects} times during the load, after:"
                f" {'; '.join(live.endings)}"
            )
        if live.missing:
            print(f"--- server log (tail) ---\n{live.log_tail}")
    print(
        f"targets: list p95 <= 100 ms {figures['list_p95_ok']}, conversation p95 <= 100 ms"
        f" {figures['conversation_p95_ok']}, webhook -> SSE p95 <= 1 s {figures['live_p95_ok']}"
    )


def run(args: argparse.Namespace, server_url: str, log: Path) -> int:
    with scratch_database(server_url) as url:
        data = generate(url, Scale(args.messages, args.conversations, args.dead_letters))
        key = secrets.token_hex(32)
        env = worker_env(url, "http://127.0.0.1:9/v24.0", None)
        env["RECADO_SECRET_KEY"] = key
        # The tenant has no profile: nothing is planned, no model is called; the worker ingests.
        env.pop("OPENAI_API_KEY", None)
        from webapp import create_app

        app = create_app(Settings.from_env(env))
        try:
            pages, missing = measure_pages(app, data, args.samples)
        finally:
            app.extensions["recado.pool"].close()
        try:
            live = measure_live(args, data, env, log) if args.live_seconds > 0 else None
        except BenchFailure as failure:
            print(f"bench: {failure}\n--- server log (tail) ---\n{_tail(log)}", file=sys.stderr)
            return 1
    if live is None and args.live_seconds > 0:
        missing.append("live")
    figures = figures_of(args, data, pages, missing, live)
    report(args, server_url, figures, pages, live)
    print(json.dumps(figures))
    failed = (
        bool(missing)
        or any(r.page.errors for r in pages)
        or (live is not None and (live.missing or live.measure.errors))
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="of the measured tenant")
    parser.add_argument("--conversations", type=int, default=50_000, help="of the same")
    parser.add_argument("--dead-letters", type=int, default=20_000, help="of both tenants")
    parser.add_argument("--samples", type=int, default=100, help="requests per page")
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second (live)")
    parser.add_argument(
        "--live-seconds", type=float, default=30.0, help="length of the live phase (0: skip it)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="web server processes")
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--timeout", type=float, default=60.0, help="for events to arrive, s")
    args = parser.parse_args(argv)
    if args.conversations < 2 or args.messages < 2 * args.conversations + 20:
        parser.error("--conversations must be >= 2 and --messages >= 2 x conversations + 20")
    if min(args.samples, args.web_workers, args.processes, args.threads) < 1 or args.rate <= 0:
        parser.error("--samples, --web-workers, --processes, --threads and --rate must be > 0")
    if args.dead_letters < 10:
        parser.error("--dead-letters must be at least 10")
    # SIGTERM (timeout, CI) must reach the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with (
        database_url() as server_url,
        tempfile.TemporaryDirectory(prefix="recado-bench-") as scratch,
    ):
        return run(args, server_url, Path(scratch) / "servers.log")


if __name__ == "__main__":
    sys.exit(main())
