"""The dead-letter pages: list, filters, search, pages, detail, requeue and discard."""

import json

import psycopg
from flask.testing import FlaskClient
from psycopg.types.json import Jsonb

from db.tenants import Tenant
from db.users import User
from tests.actors.test_send_message import wait_for
from tests.conftest import count, fixture_body, signed_headers
from tests.webapp.admin.conftest import csrf_token
from tests.webapp.operations.conftest import audit_rows, insert_letter

HOSTILE = "<script>alert(1)</script>"


def state_of(db: psycopg.Connection, letter: int) -> str:
    return db.execute("SELECT state FROM dead_letters WHERE id = %s", (letter,)).fetchone()[0]


def test_exception_text_and_traceback_are_escaped(
    owner_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    letter = insert_letter(db, tenant, exception_text=HOSTILE, related={"note": HOSTILE})
    for page in ("/t/acme/dead-letters", f"/t/acme/dead-letters/{letter}"):
        html = owner_client.get(page).get_data(as_text=True)
        assert HOSTILE not in html, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, page
    detail = owner_client.get(f"/t/acme/dead-letters/{letter}").get_data(as_text=True)
    assert '<pre class="traceback">Traceback (most recent call last):' in detail


def test_filters_by_step_error_type_state_and_time(
    owner_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    ingest = insert_letter(db, tenant, actor="ingest_event", exception_type="x.RetryableError")
    send = insert_letter(db, tenant, actor="send_message", exception_type="x.PermanentError")
    old = insert_letter(db, tenant, actor="send_message", exception_type="x.PermanentError")
    db.execute(
        "UPDATE dead_letters SET last_failed_at = now() - interval '3 days' WHERE id = %s", (old,)
    )
    resolved = insert_letter(db, tenant, state="resolved")

    def listed(query: str) -> set[int]:
        html = owner_client.get(f"/t/acme/dead-letters?{query}").get_data(as_text=True)
        return {i for i in (ingest, send, old, resolved) if f"#{i}<" in html}

    assert listed("") == {ingest, send, old}
    assert listed("actor=send_message") == {send, old}
    assert listed("error=PermanentError") == {send, old}
    assert listed("error=x.RetryableError") == {ingest}
    assert listed("since=24h") == {ingest, send}
    assert listed("state=resolved") == {resolved}
    assert listed("state=all") == {ingest, send, old, resolved}


def test_search_by_phone_provider_message_id_and_conversation_id(
    owner_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, other_tenant: Tenant
) -> None:
    def conversation(owner: Tenant, phone: str) -> int:
        contact = db.execute(
            "INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164)"
            " VALUES (%s, 'whatsapp', %s, %s) RETURNING id",
            (owner.id, phone.lstrip("+"), phone),
        ).fetchone()[0]
        return db.execute(
            "INSERT INTO conversations (tenant_id, contact_id, channel)"
            " VALUES (%s, %s, 'whatsapp') RETURNING id",
            (owner.id, contact),
        ).fetchone()[0]

    ana = conversation(tenant, "+5215511112222")
    bob = conversation(tenant, "+5215533334444")
    globex_ana = conversation(other_tenant, "+5215511112222")
    outbound = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
        " delivery_status, provider_message_id)"
        " VALUES (%s, %s, 'whatsapp', 'out', 'text', 'hi', 'failed', 'wamid.OUT1') RETURNING id",
        (tenant.id, bob),
    ).fetchone()[0]
    event = db.execute(
        "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
        " VALUES (%s, 'whatsapp', 'message', 'wamid.IN1', '{}') RETURNING id",
        (tenant.id,),
    ).fetchone()[0]
    by_ana = insert_letter(db, tenant, conversation_id=ana)
    by_message = insert_letter(db, tenant, actor="send_message", related={"message_id": outbound})
    by_event = insert_letter(db, tenant, related={"inbound_event_id": event})
    unrelated = insert_letter(db, tenant)
    globex = insert_letter(db, other_tenant, conversation_id=globex_ana)

    def found(term: str) -> set[int]:
        html = owner_client.get("/t/acme/dead-letters", query_string={"q": term}).get_data(
            as_text=True
        )
        return {i for i in (by_ana, by_message, by_event, unrelated, globex) if f"#{i}<" in html}

    assert found("+52 1 55 1111 2222") == {by_ana}
    assert found(str(ana)) == {by_ana}
    assert found("wamid.OUT1") == {by_message}
    assert found("wamid.IN1") == {by_event}
    assert found("wamid.NOTHING") == set()
    # Another tenant's conversation id finds nothing in acme's pages.
    assert found(str(globex_ana)) == set()


def test_pages_go_back_in_time_without_overlap(
    owner_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    ids = [insert_letter(db, tenant) for _ in range(120)]
    # Ties on the time are ordered by id: the keyset must not skip or repeat them.
    db.execute("UPDATE dead_letters SET last_failed_at = '2026-01-01T00:00:00Z'")
    seen: list[int] = []
    url = "/t/acme/dead-letters"
    pages = 0
    while url:
        html = owner_client.get(url).get_data(as_text=True)
        seen += [i for i in ids if f"#{i}<" in html]
        pages += 1
        marker = 'class="button" href="'
        older = [part for part in html.split(marker)[1:] if "after=" in part.split('"')[0]]
        url = older[0].split('"')[0].replace("&amp;", "&") if older else ""
    assert pages == 3
    assert sorted(seen) == ids and len(seen) == len(set(seen))


def test_discard_records_who_and_leaves_it_discarded(
    owner_client: FlaskClient, owner: User, db: psycopg.Connection, tenant: Tenant
) -> None:
    letter = insert_letter(db, tenant)
    token = csrf_token(owner_client, "/t/acme/dead-letters")
    response = owner_client.post(
        f"/t/acme/dead-letters/{letter}/discard", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert state_of(db, letter) == "discarded"
    page = owner_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Discarded: it will not run again." in page
    assert audit_rows(db) == [
        (tenant.id, owner.id, "dead_letter.discard", f"dead_letter:{letter}", {"discarded": 1})
    ]
    # Discarding again changes nothing and says why.
    again = owner_client.post(
        f"/t/acme/dead-letters/{letter}/discard", data={"csrf_token": token}, follow_redirects=True
    )
    assert "only a dead letter can be" in again.get_data(as_text=True)


def test_requeue_from_the_page_then_a_real_worker_completes_it(
    owner_client: FlaskClient,
    owner: User,
    db: psycopg.Connection,
    tenant: Tenant,
    worker: None,
) -> None:
    # A real failure: the tenant's settings are broken, so the ingest step fails for good.
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"read_receipts": HOSTILE}), tenant.id),
    )
    body = fixture_body("text.json")
    webhook = owner_client.post("/webhooks/whatsapp/acme", data=body, headers=signed_headers(body))
    assert webhook.status_code == 200
    wait_for(lambda: count(db, "dead_letters") == 1)
    (letter,) = db.execute("SELECT id FROM dead_letters").fetchone()
    assert count(db, "messages") == 0
    detail = owner_client.get(f"/t/acme/dead-letters/{letter}").get_data(as_text=True)
    assert "invalid setting" in detail and HOSTILE not in detail
    assert "&lt;script&gt;" in detail

    # Fixed; requeued from the page.
    db.execute("UPDATE tenants SET settings = '{}' WHERE id = %s", (tenant.id,))
    token = csrf_token(owner_client, "/t/acme/dead-letters")
    response = owner_client.post(
        f"/t/acme/dead-letters/{letter}/requeue", data={"csrf_token": token}
    )
    assert response.status_code == 302
    wait_for(lambda: state_of(db, letter) == "resolved")
    assert count(db, "messages", "direction = 'in'") == 1

    (job, requeued_by) = db.execute(
        "SELECT message_id::text, requeued_by FROM dead_letter_requeues WHERE dead_letter_id = %s",
        (letter,),
    ).fetchone()
    assert requeued_by == owner.email
    assert audit_rows(db) == [
        (
            tenant.id,
            owner.id,
            "dead_letter.requeue",
            f"dead_letter:{letter}",
            {"outcome": "requeued", "message_id": job},
        )
    ]
    page = owner_client.get(f"/t/acme/dead-letters/{letter}").get_data(as_text=True)
    assert f"by {owner.email} as job {job}" in page
    assert "attempt 1: ok" in page
    assert ">resolved<" in page
    # Requeueing a resolved letter does nothing and says so.
    again = owner_client.post(
        f"/t/acme/dead-letters/{letter}/requeue", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Already resolved; not requeued." in again.get_data(as_text=True)
    assert count(db, "dead_letter_requeues") == 1


def test_requeue_all_filtered_asks_first_with_the_count(
    owner_client: FlaskClient,
    owner: User,
    db: psycopg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    chosen = [insert_letter(db, tenant, actor="ingest_event", args=[n]) for n in range(3)]
    other_step = insert_letter(db, tenant, actor="apply_status")
    globex = insert_letter(db, other_tenant, actor="ingest_event")
    confirm = owner_client.get("/t/acme/dead-letters/confirm?action=requeue&actor=ingest_event")
    html = confirm.get_data(as_text=True)
    assert "3 dead letters match." in html
    assert count(db, "dead_letter_requeues") == 0  # asking changed nothing

    token = csrf_token(owner_client, "/t/acme/dead-letters")
    response = owner_client.post(
        "/t/acme/dead-letters/bulk",
        data={"action": "requeue", "actor": "ingest_event", "csrf_token": token},
        follow_redirects=True,
    )
    assert "Requeued 3 of 3 dead letters." in response.get_data(as_text=True)
    assert [state_of(db, i) for i in chosen] == ["requeued"] * 3
    assert state_of(db, other_step) == "dead" and state_of(db, globex) == "dead"
    requeues = db.execute("SELECT dead_letter_id, requeued_by FROM dead_letter_requeues").fetchall()
    assert sorted(requeues) == [(i, owner.email) for i in chosen]
    audited = [(row[2], row[3], row[4]["filtered"]) for row in audit_rows(db)]
    assert sorted(audited) == [("dead_letter.requeue", f"dead_letter:{i}", True) for i in chosen]
    queued = db.execute("SELECT message->'args' FROM dramatiq.queue").fetchall()
    assert sorted(json.dumps(a) for (a,) in queued) == ["[0]", "[1]", "[2]"]


def test_the_operator_discards_all_filtered_of_one_tenant(
    operator_client: FlaskClient,
    operator: User,
    db: psycopg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    acme = [insert_letter(db, tenant) for _ in range(2)]
    globex = insert_letter(db, other_tenant)
    html = operator_client.get("/ops/dead-letters/confirm?action=discard&tenant=acme").get_data(
        as_text=True
    )
    assert "2 dead letters match." in html
    token = csrf_token(operator_client, "/ops/dead-letters")
    operator_client.post(
        "/ops/dead-letters/bulk", data={"action": "discard", "tenant": "acme", "csrf_token": token}
    )
    assert [state_of(db, i) for i in acme] == ["discarded"] * 2
    assert state_of(db, globex) == "dead"
    assert {(r[0], r[1], r[2]) for r in audit_rows(db)} == {
        (tenant.id, operator.id, "dead_letter.discard")
    }
    assert len(audit_rows(db)) == 2


def test_a_letter_without_tenant_is_for_operators_only(
    operator_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    letter = insert_letter(db, None, actor="ingest_event")
    assert operator_client.get(f"/ops/dead-letters/{letter}").status_code == 200
    assert operator_client.get(f"/t/acme/dead-letters/{letter}").status_code == 404
    token = csrf_token(operator_client, "/ops/dead-letters")
    operator_client.post(f"/ops/dead-letters/{letter}/requeue", data={"csrf_token": token})
    assert state_of(db, letter) == "requeued"
    assert audit_rows(db)[0][:3] == (None, audit_rows(db)[0][1], "dead_letter.requeue")
