"""Health, readiness and metrics endpoints."""


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
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'recado_dead_letters{state="dead"} 1.0' in text
    assert "recado_outbox_resends 0.0" in text
    assert 'recado_outbox{state="pending"} 0.0' in text
    assert "recado_circuit_breakers_open 0.0" in text
