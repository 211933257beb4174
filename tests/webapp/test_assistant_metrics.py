"""/metrics reports the assistant's figures: live ones at each scrape, totals as last counted."""

import psycopg

from db.metrics_snapshot import refresh
from db.tenants import create_tenant


def add_conversation(db: psycopg.Connection, tenant_id: int, wa_id: str, status: str) -> int:
    (contact,) = db.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id) VALUES (%s, 'whatsapp', %s)"
        " RETURNING id",
        (tenant_id, wa_id),
    ).fetchone()
    (conversation,) = db.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel, status)"
        " VALUES (%s, %s, 'whatsapp', %s) RETURNING id",
        (tenant_id, contact, status),
    ).fetchone()
    return conversation


def add_reply(
    db: psycopg.Connection,
    tenant_id: int,
    conversation_id: int,
    outcome: str,
    source: str,
    cache_result: str | None,
) -> None:
    (message,) = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
        " VALUES (%s, %s, 'whatsapp', 'in', 'text', 'hola') RETURNING id",
        (tenant_id, conversation_id),
    ).fetchone()
    db.execute(
        "INSERT INTO replies (tenant_id, conversation_id, through_message_id, outcome, source,"
        " cache_result) VALUES (%s, %s, %s, %s, %s, %s)",
        (tenant_id, conversation_id, message, outcome, source, cache_result),
    )


def test_metrics_report_replies_cache_handoffs_spend_and_conversations(client, tenant, db):
    other = create_tenant(
        db,
        slug="beta",
        name="Beta",
        wa_phone_number_id="2000",
        wa_app_secret="s",
        wa_verify_token="v",
        wa_access_token="a",
    )
    talking = add_conversation(db, tenant.id, "5215500000001", "open")
    waiting = add_conversation(db, tenant.id, "5215500000002", "handoff")
    returned = add_conversation(db, other.id, "4915100000001", "open")
    add_conversation(db, other.id, "4915100000002", "closed")
    add_reply(db, tenant.id, talking, "queued", "llm", "miss")
    add_reply(db, tenant.id, talking, "queued", "llm", "miss")
    add_reply(db, tenant.id, talking, "queued", "cache", "hit_exact")
    add_reply(db, other.id, returned, "queued", "cache", "hit_semantic")
    add_reply(db, tenant.id, talking, "stale", "llm", "skip")
    add_reply(db, other.id, returned, "stale", "fallback", None)
    add_reply(db, tenant.id, waiting, "handoff", "rule", None)
    db.execute(
        "INSERT INTO agent_notifications (tenant_id, conversation_id, kind, reason,"
        " acknowledged_at) VALUES (%s, %s, 'handoff', 'complaint', NULL),"
        " (%s, %s, 'handoff', 'customer asked for a person', now())",
        (tenant.id, waiting, other.id, returned),
    )
    this_month = "date_trunc('month', now() AT TIME ZONE 'UTC')::date"
    db.execute(
        "INSERT INTO llm_usage (tenant_id, month, calls, prompt_tokens, completion_tokens,"
        f" cost_usd) VALUES (%s, {this_month}, 3, 1200, 300, 0.00036),"
        f" (%s, {this_month}, 1, 800, 50, 0.00015),"
        f" (%s, ({this_month} - interval '1 month')::date, 9, 99999, 9999, 5)",
        (tenant.id, other.id, tenant.id),
    )

    refresh(db)
    response = client.get("/metrics")

    assert response.status_code == 200
    samples = set(response.get_data(as_text=True).splitlines())
    expected = {
        'recado_replies_total{outcome="queued",source="llm"} 2.0',
        'recado_replies_total{outcome="queued",source="cache"} 2.0',
        'recado_replies_total{outcome="stale",source="llm"} 1.0',
        'recado_replies_total{outcome="stale",source="fallback"} 1.0',
        'recado_replies_total{outcome="handoff",source="rule"} 1.0',
        "recado_replies_stale_total 2.0",
        'recado_answer_cache_lookups_total{result="hit_exact"} 1.0',
        'recado_answer_cache_lookups_total{result="hit_semantic"} 1.0',
        'recado_answer_cache_lookups_total{result="miss"} 2.0',
        "recado_handoffs_total 2.0",
        "recado_agent_notifications_open 1.0",
        'recado_llm_tokens_month{kind="prompt"} 2000.0',
        'recado_llm_tokens_month{kind="completion"} 350.0',
        "recado_llm_cost_usd_month 0.00051",
        'recado_conversations{status="open"} 2.0',
        'recado_conversations{status="handoff"} 1.0',
        'recado_conversations{status="closed"} 1.0',
    }
    assert expected <= samples, sorted(expected - samples)
    assert not [line for line in samples if 'result="skip"' in line]


def test_metrics_report_zeros_before_the_assistant_has_run(client, db):
    before_any_count = set(client.get("/metrics").get_data(as_text=True).splitlines())
    refresh(db)
    samples = set(client.get("/metrics").get_data(as_text=True).splitlines())

    live = {
        "recado_agent_notifications_open 0.0",
        'recado_llm_tokens_month{kind="prompt"} 0.0',
        "recado_llm_cost_usd_month 0.0",
        'recado_conversations{status="handoff"} 0.0',
    }
    totals = {
        "recado_replies_stale_total 0.0",
        'recado_answer_cache_lookups_total{result="miss"} 0.0',
        "recado_handoffs_total 0.0",
        'recado_conversations{status="closed"} 0.0',
    }
    assert live <= before_any_count
    assert not totals & before_any_count
    assert live | totals <= samples
    assert not [line for line in samples if line.startswith("recado_replies_total{")]
