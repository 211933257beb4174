"""Health, readiness and metrics endpoints."""

import dataclasses

import pytest

from db.metrics_snapshot import refresh
from webapp import create_app


def test_healthz_needs_nothing(client):
    assert client.get("/healthz").status_code == 200


def test_readyz_checks_the_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_metrics_report_queue_outbox_and_dead_letters(client, tenant, db):
    db.execute(
        "INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,"
        " exception_text, traceback) VALUES (gen_random_uuid(), 'send', 'send_message', '[1]', 3,"
        " 'X', 'boom', 'tb')"
    )
    db.execute(
        "INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,"
        " exception_text, traceback, state) VALUES (gen_random_uuid(), 'send', 'send_message',"
        " '[2]', 3, 'X', 'boom', 'tb', 'resolved')"
    )
    text = client.get("/metrics").get_data(as_text=True)
    # Live figures at once; whole-history totals once a worker has counted them.
    assert 'recado_dead_letters{state="dead"} 1.0' in text
    assert "recado_metrics_snapshot_age_seconds +Inf" in text
    assert "recado_outbox_resends" not in text
    refresh(db)
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'recado_dead_letters{state="dead"} 1.0' in text
    assert 'recado_dead_letters{state="resolved"} 1.0' in text
    assert "recado_outbox_resends 0.0" in text
    assert 'recado_outbox{state="pending"} 0.0' in text
    assert "recado_circuit_breakers_open 0.0" in text


@pytest.fixture
def guarded(app):
    """The app with RECADO_METRICS_TOKEN set."""
    settings = dataclasses.replace(app.extensions["recado.settings"], metrics_token="s3cret-token")
    guarded_app = create_app(settings)
    yield guarded_app.test_client()
    guarded_app.extensions["recado.pool"].close()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic s3cret-token", "Bearer s3cret-token2"]
)
def test_metrics_with_a_token_refuses_any_other_credential_even_from_loopback(
    guarded, db, authorization
):
    headers = {"Authorization": authorization} if authorization else {}
    response = guarded.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "recado_" not in response.get_data(as_text=True)


def test_metrics_with_a_token_answers_the_bearer_from_any_host(guarded, db):
    response = guarded.get(
        "/metrics",
        headers={"Authorization": "Bearer s3cret-token"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert response.status_code == 200
    assert "recado_queue_rows_estimate" in response.get_data(as_text=True)


def test_metrics_without_a_token_answers_loopback_only(client, db):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert refused.status_code == 403
    assert "RECADO_METRICS_TOKEN" in refused.get_data(as_text=True)


def test_health_endpoints_need_no_metrics_token(guarded, db):
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/readyz").status_code == 200
