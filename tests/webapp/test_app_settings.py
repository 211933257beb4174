"""`create_app(settings)` uses the settings it is given, and only them: two apps built in one
process, on two databases with two secret keys, each keep to their own."""

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
import sentry_sdk
from psycopg import sql

from db.migrate import migrate
from db.pool import connect
from db.tenants import create_tenant
from domain.channels.whatsapp_envelopes import encode, text_envelope
from tests.actors.test_sentry_reporting import SentryIngest
from tests.conftest import SERVER_URL, SETTINGS, TEST_DATABASE, count, signed_headers

PHONE_NUMBER_ID = "106540352242922"
OTHER_DATABASE = f"{TEST_DATABASE}_other"


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="module")
def other_url() -> Iterator[str]:
    """A second migrated database on the suite's server."""
    name = sql.Identifier(OTHER_DATABASE)
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    _admin(sql.SQL("CREATE DATABASE {}").format(name))
    url = psycopg.conninfo.make_conninfo(SERVER_URL, dbname=OTHER_DATABASE)
    with connect(url, application_name="recado-tests", autocommit=True) as conn:
        migrate(conn)
    yield url
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@pytest.fixture
def other_db(other_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(other_url, autocommit=True) as conn:
        conn.execute("TRUNCATE tenants, inbound_events, dramatiq.queue RESTART IDENTITY CASCADE")
        create_tenant(
            conn,
            slug="acme",
            name="Acme Elsewhere",
            wa_phone_number_id=PHONE_NUMBER_ID,
            wa_app_secret="acme-app-secret",
            wa_verify_token="acme-verify-token",
            wa_access_token="acme-access-token",
        )
        yield conn


def post(app, wamid: str) -> int:
    body = encode(text_envelope(PHONE_NUMBER_ID, [("5215512345678", "Ana", wamid, "hola", 1)]))
    response = app.test_client().post(
        "/webhooks/whatsapp/acme", data=body, headers=signed_headers(body)
    )
    return response.status_code


def test_two_apps_in_one_process_each_use_their_own_settings(db, tenant, other_db, other_url):
    from webapp import create_app

    first = create_app(replace(SETTINGS, secret_key="first-key"))
    second = create_app(replace(SETTINGS, database_url=other_url, secret_key="second-key"))
    try:
        assert post(first, "wamid.first") == 200
        assert post(second, "wamid.second") == 200
        first_events = db.execute("SELECT provider_event_id FROM inbound_events").fetchall()
        second_events = other_db.execute("SELECT provider_event_id FROM inbound_events")
        assert first_events == [("wamid.first",)]
        assert second_events.fetchall() == [("wamid.second",)]
        # Each first step is queued in the database of the app that stored its event.
        assert count(db, "dramatiq.queue") == 1 and count(other_db, "dramatiq.queue") == 1
        assert (first.secret_key, second.secret_key) == ("first-key", "second-key")
        # The broker each app was built with talks to that app's database.
        assert _broker_database(first) == TEST_DATABASE
        assert _broker_database(second) == OTHER_DATABASE
    finally:
        for app in (first, second):
            app.extensions["recado.runtime"].close()


def test_the_app_reports_to_the_sentry_of_its_settings(db):
    from webapp import create_app

    ingest = SentryIngest()
    threading.Thread(target=ingest.serve_forever, daemon=True).start()
    dsn = f"http://publickey@127.0.0.1:{ingest.server_port}/1"
    app = create_app(replace(SETTINGS, sentry_dsn=dsn))
    try:
        sentry_sdk.capture_message("app settings probe")
        sentry_sdk.flush(timeout=5)
        deadline = time.monotonic() + 10
        while not any(b"app settings probe" in e for e in ingest.envelopes):
            assert time.monotonic() < deadline, "the event never reached the app's Sentry"
            time.sleep(0.05)
    finally:
        sentry_sdk.init()  # back to no reporting for the rest of the suite
        ingest.shutdown()
        ingest.server_close()
        app.extensions["recado.runtime"].close()


def _broker_database(app) -> str:
    broker = app.extensions["recado.runtime"].broker
    conn = broker.pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            (name,) = cur.fetchone()
        conn.rollback()
    finally:
        broker.pool.putconn(conn, close=True)
    return name
