"""A dead letter reaches Sentry once, with its ids and without phone numbers or chat text."""

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from actors.chain import enqueue
from actors.ingest import ingest_event
from tests.conftest import ROOT, count


class SentryIngest(ThreadingHTTPServer):
    """A stand-in for Sentry's ingestion endpoint that keeps every envelope it receives."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: SentryIngest

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.envelopes.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


def test_dead_letter_is_reported_once_and_scrubbed(db, tenant):
    sentry = SentryIngest()
    threading.Thread(target=sentry.serve_forever, daemon=True).start()
    dsn = f"http://publickey@127.0.0.1:{sentry.server_port}/1"
    # A stored event whose message has no id: parsing fails permanently. Its text and the
    # sender's number must not leave the machine.
    payload = {
        "message": {"from": "16505551234", "type": "text", "text": {"body": "my secret text"}},
        "contact": {"wa_id": "16505551234", "profile": {"name": "Sheena"}},
        "metadata": {"phone_number_id": "106540352242922"},
    }
    with db.transaction():
        event_id = db.execute(
            "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
            " VALUES (%s, 'whatsapp', 'message', 'wamid.sentry', %s) RETURNING id",
            (tenant.id, json.dumps(payload)),
        ).fetchone()[0]
        enqueue(db, [ingest_event.message(event_id)])
    worker = subprocess.Popen(
        [sys.executable, "-m", "actors.worker", "--threads", "2"],
        cwd=ROOT,
        env={**os.environ, "SENTRY_DSN": dsn},
    )
    try:
        deadline = time.monotonic() + 30
        while not (count(db, "dead_letters") and sentry.envelopes):
            assert time.monotonic() < deadline, "no dead letter or no Sentry event"
            time.sleep(0.1)
        time.sleep(1)  # anything else the worker would send arrives now
    finally:
        worker.terminate()
        worker.wait(timeout=40)
        sentry.shutdown()
        sentry.server_close()
    events = [
        json.loads(line)
        for envelope in sentry.envelopes
        for line in envelope.splitlines()
        if line.startswith(b"{") and b'"exception"' in line
    ]
    assert len(events) == 1
    (dead_letter_id,) = db.execute("SELECT id FROM dead_letters").fetchone()
    tags = events[0]["tags"]
    assert tags["actor"] == "ingest_event"
    assert tags["dead_letter_id"] == str(dead_letter_id)
    assert tags["tenant_id"] == str(tenant.id)
    everything = b"".join(sentry.envelopes)
    assert b"16505551234" not in everything
    assert b"my secret text" not in everything
