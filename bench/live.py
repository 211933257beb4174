"""The live updates' costs: the triggers on a message insert, and open streams on the server.

    python -m bench.live [--inserts 3000] [--streams 20] [--requests 200]

Against a scratch database (like bench.ingest), measures:
  insert   one-row INSERT INTO messages, each committed, with the live triggers and without
           (disabled), a LISTEN connection open: the triggers' added cost per message
  server   a web server as `recado serve --workers 1` runs it: p50/p95 of /healthz and of a
           signed webhook, sequentially, with no stream open and with `streams` open
  event    seconds from a message's commit to its event on an open stream (p50, max)
  stop     seconds from SIGTERM to the server's exit with the streams open
The last line is one JSON object.
"""

import argparse
import json
import os
import queue
import secrets
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable

import httpx
import psycopg

from bench.ingest import (
    PHONE_NUMBER_ID,
    TENANT,
    _raise_interrupt,
    create_bench_tenant,
    free_port,
    scratch_database,
)
from db.users import create_user, set_password_hash
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from ops.database import database_url
from ops.processes import Child, spawn, stop, wait_for_port, web_server_argv
from webapp.admin.passwords import hash_password

# A random one per run: the scratch database is dropped at the end.
PASSWORD = secrets.token_urlsafe(16)
LIVE_TRIGGERS = ("live_message_inserted", "live_message_status")


def conversation_of(conn: psycopg.Connection) -> tuple[int, int]:
    tenant_id = conn.execute("SELECT id FROM tenants WHERE slug = %s", (TENANT,)).fetchone()[0]
    contact = conn.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id) VALUES (%s, 'whatsapp', %s)"
        " RETURNING id",
        (tenant_id, f"1555{time.monotonic_ns()}"),
    ).fetchone()[0]
    conversation = conn.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel) VALUES (%s, %s, 'whatsapp')"
        " RETURNING id",
        (tenant_id, contact),
    ).fetchone()[0]
    return tenant_id, conversation


def insert_message(conn: psycopg.Connection, tenant_id: int, conversation: int) -> None:
    conn.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
        " VALUES (%s, %s, 'whatsapp', 'in', 'text', 'Do you have a slot on Friday?')",
        (tenant_id, conversation),
    )


def insert_seconds(url: str, n: int, triggers: bool) -> list[float]:
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as listener,
    ):
        listener.execute("LISTEN recado_live")
        action = "ENABLE" if triggers else "DISABLE"
        for trigger in LIVE_TRIGGERS:
            conn.execute(f"ALTER TABLE messages {action} TRIGGER {trigger}")
        tenant_id, conversation = conversation_of(conn)
        seconds = []
        for _ in range(n):
            started = time.perf_counter()
            insert_message(conn, tenant_id, conversation)
            seconds.append(time.perf_counter() - started)
        for trigger in LIVE_TRIGGERS:
            conn.execute(f"ALTER TABLE messages ENABLE TRIGGER {trigger}")
    return seconds


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


class Stream:
    """One signed-in event stream read in a thread; arrival times of its events in `arrivals`."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=10)
        page = self.client.get("/login").text
        token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        self.client.post(
            "/login",
            data={"email": "live@bench.example", "password": PASSWORD, "csrf_token": token},
        )
        self.arrivals: queue.Queue[float] = queue.Queue()
        self.closing = False
        self.opened = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.opened.wait(10)

    def _read(self) -> None:
        headers: dict[str, str] = {}
        try:
            while not self.closing:
                timeout = httpx.Timeout(10, read=None)
                path = f"/t/{TENANT}/live"
                with self.client.stream("GET", path, headers=headers, timeout=timeout) as r:
                    self.opened.set()
                    for line in r.iter_lines():
                        if line.startswith("id: "):
                            headers["Last-Event-ID"] = line[4:]
                        elif line == "event: message":
                            self.arrivals.put(time.perf_counter())
        except (httpx.HTTPError, OSError):
            self.opened.set()


def request_seconds(base: str, secret: str, n: int) -> dict[str, dict[str, float]]:
    health, webhooks = [], []
    with httpx.Client(base_url=base, timeout=10) as client:
        for i in range(n):
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            health.append(time.perf_counter() - started)
            body = encode(
                text_envelope(
                    PHONE_NUMBER_ID,
                    [
                        TextMessage(
                            "15550100001", "Bench", f"wamid.LIVE{time.time_ns()}{i}", "hi", 1
                        )
                    ],
                )
            )
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(secret, body),
            }
            started = time.perf_counter()
            client.post(f"/webhooks/whatsapp/{TENANT}", content=body, headers=headers)
            webhooks.append(time.perf_counter() - started)
    return {"healthz": summary(health), "webhook": summary(webhooks)}


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live")
    parser.add_argument("--inserts", type=int, default=3000)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    result: dict[str, object] = {}
    with database_url() as server_url, scratch_database(server_url) as url:
        secret = create_bench_tenant(url)
        with psycopg.connect(url, autocommit=True) as conn:
            tenant_id = conn.execute("SELECT id FROM tenants WHERE slug = %s", (TENANT,)).fetchone()
            user = create_user(
                conn, email="live@bench.example", role="agent", tenant_id=tenant_id[0]
            )
            set_password_hash(conn, user.id, hash_password(PASSWORD))
        insert_seconds(url, args.inserts // 10, True)  # warm-up
        with_triggers = insert_seconds(url, args.inserts, True)
        without = insert_seconds(url, args.inserts, False)
        result["insert"] = {
            "with_triggers": summary(with_triggers),
            "without_triggers": summary(without),
            "added_p50_ms": round(
                (statistics.median(with_triggers) - statistics.median(without)) * 1000, 3
            ),
        }
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url}
        env.setdefault("RECADO_SECRET_KEY", "bench-live-secret")
        server = Child("web server", web_server_argv(host="127.0.0.1", port=port, workers=1))
        procs = {"web": spawn(server, env)}
        base = f"http://127.0.0.1:{port}"
        try:
            assert wait_for_port("127.0.0.1", port, timeout=30)
            request_seconds(base, secret, 20)  # warm-up
            result["server_without_streams"] = request_seconds(base, secret, args.requests)
            streams = [Stream(base) for _ in range(args.streams)]
            result["server_with_streams"] = request_seconds(base, secret, args.requests)
            latencies = []
            with psycopg.connect(url, autocommit=True) as conn:
                tenant, conversation = conversation_of(conn)
                for _ in range(20):
                    committed = time.perf_counter()
                    insert_message(conn, tenant, conversation)
                    for stream in streams:
                        latencies.append(stream.arrivals.get(timeout=10) - committed)
            result["event_seconds"] = {
                "p50": round(statistics.median(latencies), 4),
                "max": round(max(latencies), 4),
                "events": len(latencies),
            }
            procs["web"].send_signal(signal.SIGTERM)
            result["stop_seconds_with_streams"] = round(timed(lambda: procs["web"].wait(30)), 2)
            for stream in streams:
                stream.closing = True
        finally:
            stop(procs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
