"""PostgreSQL stopped under a live webhook: fast 503s, then everything resumes, nothing lost."""

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from db.pool import connect
from db.tenants import create_tenant
from domain.channels.whatsapp_envelopes import encode, text_envelope
from domain.settings import Settings
from ops.private_pg import PrivatePostgres
from tests.conftest import ROOT, signed_headers

pytestmark = pytest.mark.slow


def envelope(n: int) -> bytes:
    return encode(
        text_envelope(
            "106540352242922", [("16505550000", "Outage Test", f"wamid.outage-{n}", f"hi {n}", 1)]
        )
    )


def processed(url: str) -> tuple[int, int]:
    with connect(url, application_name="outage-test") as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM inbound_events WHERE processed_at IS NOT NULL) AS e,"
            " (SELECT count(*) FROM messages) AS m"
        ).fetchone()
        return row["e"], row["m"]


def test_webhook_answers_503_within_two_seconds_and_recovers_without_loss():
    from werkzeug.serving import make_server

    from webapp import create_app

    with PrivatePostgres() as pg:
        with connect(pg.url, application_name="outage-test", autocommit=True) as conn:
            create_tenant(
                conn,
                slug="acme",
                name="Acme",
                wa_phone_number_id="106540352242922",
                wa_app_secret="acme-app-secret",
                wa_verify_token="v",
                wa_access_token="a",
            )
        app = create_app(Settings.from_env({**os.environ, "DATABASE_URL": pg.url}))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/webhooks/whatsapp/acme"
        worker = subprocess.Popen(
            [sys.executable, "-m", "actors.worker", "--threads", "4"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": pg.url},
        )
        try:

            def deliver(n: int) -> httpx.Response:
                body = envelope(n)
                return httpx.post(url, content=body, headers=signed_headers(body), timeout=10)

            assert [deliver(n).status_code for n in range(10)] == [200] * 10

            pg.stop()
            for n in range(10, 15):
                started = time.monotonic()
                response = deliver(n)
                elapsed = time.monotonic() - started
                assert response.status_code == 503
                assert elapsed < 2.0, f"503 took {elapsed:.2f}s"

            pg.start()
            # The provider retries every refused delivery; the pool reconnects on its own.
            deadline = time.monotonic() + 30
            pending = list(range(10, 20))
            while pending and time.monotonic() < deadline:
                pending = [n for n in pending if deliver(n).status_code != 200]
                time.sleep(0.2)
            assert pending == []

            deadline = time.monotonic() + 90
            while processed(pg.url) != (20, 20) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert processed(pg.url) == (20, 20)
        finally:
            server.shutdown()
            server.server_close()
            worker.terminate()
            worker.wait(timeout=40)
            app.extensions["recado.pool"].close()
