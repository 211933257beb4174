"""Who may open the operations pages: owners their tenant's, operators all, agents none, and
another tenant's ids answer 404 and change nothing."""

import psycopg
import pytest
from flask.testing import FlaskClient

from db.tenants import Tenant
from tests.webapp.admin.conftest import csrf_token, sign_in
from tests.webapp.operations.conftest import insert_letter, insert_quarantine

OPS_PAGES = ["/ops", "/ops/dead-letters", "/ops/quarantine", "/ops/queue"]


@pytest.fixture
def acme_rows(db: psycopg.Connection, tenant: Tenant) -> dict[str, int]:
    """One of each row acme's pages act on: a dead letter, a quarantined body, a message."""
    contact = db.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164)"
        " VALUES (%s, 'whatsapp', '5215512345678', '+5215512345678') RETURNING id",
        (tenant.id,),
    ).fetchone()[0]
    conversation = db.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel) VALUES (%s, %s, 'whatsapp')"
        " RETURNING id",
        (tenant.id, contact),
    ).fetchone()[0]
    message = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
        " VALUES (%s, %s, 'whatsapp', 'in', 'text', 'hi') RETURNING id",
        (tenant.id, conversation),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO circuit_breakers (tenant_id, channel, state, failures, until)"
        " VALUES (%s, 'whatsapp', 'open', 5, now() + interval '1 minute')",
        (tenant.id,),
    )
    db.execute(
        "UPDATE tenants SET sending_paused_at = now(), sending_paused_reason = 'token'"
        " WHERE id = %s",
        (tenant.id,),
    )
    return {
        "letter": insert_letter(db, tenant, conversation_id=conversation),
        "quarantine": insert_quarantine(db, tenant, b"{}"),
        "message": message,
        "conversation": conversation,
    }


def tenant_pages(slug: str, rows: dict[str, int]) -> list[str]:
    return [
        f"/t/{slug}/dead-letters",
        f"/t/{slug}/dead-letters/{rows['letter']}",
        f"/t/{slug}/dead-letters/confirm?action=requeue",
        f"/t/{slug}/quarantine",
        f"/t/{slug}/quarantine/{rows['quarantine']}",
        f"/t/{slug}/queue",
        f"/t/{slug}/messages/{rows['message']}/trace",
    ]


def tenant_actions(slug: str, rows: dict[str, int]) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/t/{slug}/dead-letters/{rows['letter']}/requeue", {}),
        (f"/t/{slug}/dead-letters/{rows['letter']}/discard", {}),
        (f"/t/{slug}/dead-letters/bulk", {"action": "discard", "state": "dead"}),
        (f"/t/{slug}/quarantine/{rows['quarantine']}/replay", {}),
        (f"/t/{slug}/queue/breakers/whatsapp/resume", {}),
        (f"/t/{slug}/queue/resume-sending", {}),
    ]


def snapshot(db: psycopg.Connection) -> tuple:
    return (
        db.execute("SELECT id, state FROM dead_letters ORDER BY id").fetchall(),
        db.execute("SELECT id, replayed_at FROM quarantine ORDER BY id").fetchall(),
        db.execute("SELECT tenant_id, state FROM circuit_breakers ORDER BY 1").fetchall(),
        db.execute("SELECT id, sending_paused_at FROM tenants ORDER BY id").fetchall(),
        db.execute("SELECT count(*) FROM audit_log").fetchone(),
        db.execute("SELECT count(*) FROM dramatiq.queue").fetchone(),
        db.execute("SELECT count(*) FROM inbound_events").fetchone(),
    )


def test_the_owner_opens_every_page_of_the_tenant(
    owner_client: FlaskClient, acme_rows: dict[str, int]
) -> None:
    for page in tenant_pages("acme", acme_rows):
        assert owner_client.get(page).status_code == 200, page


def test_an_agent_is_refused_every_page_and_action(
    agent_client: FlaskClient, acme_rows: dict[str, int], db: psycopg.Connection
) -> None:
    before = snapshot(db)
    token = csrf_token(agent_client, "/t/acme/inbox")
    for page in tenant_pages("acme", acme_rows):
        assert agent_client.get(page).status_code == 403, page
    for action, data in tenant_actions("acme", acme_rows):
        response = agent_client.post(action, data={**data, "csrf_token": token})
        assert response.status_code == 403, action
    for page in OPS_PAGES:
        assert agent_client.get(page).status_code == 404, page
    assert snapshot(db) == before


def test_another_tenants_owner_gets_404_for_every_url_and_id(
    client: FlaskClient,
    make_user,
    other_tenant: Tenant,
    acme_rows: dict[str, int],
    db: psycopg.Connection,
) -> None:
    sign_in(client, make_user(other_tenant, "owner"))
    token = csrf_token(client, "/t/globex/queue")
    before = snapshot(db)
    # acme's URLs, and acme's ids under globex's own URLs.
    for slug in ("acme", "globex"):
        for page in tenant_pages(slug, acme_rows):
            if slug == "globex" and page.endswith(("/dead-letters", "/quarantine", "/queue")):
                continue
            if slug == "globex" and "confirm" in page:
                continue
            assert client.get(page).status_code == 404, page
        for action, data in tenant_actions(slug, acme_rows):
            if slug == "globex" and action.endswith(
                ("/bulk", "/breakers/whatsapp/resume", "/resume-sending")
            ):
                continue
            response = client.post(action, data={**data, "csrf_token": token})
            assert response.status_code == 404, action
    for page in OPS_PAGES:
        assert client.get(page).status_code == 404, page
    assert snapshot(db) == before


def test_globex_owner_acting_on_all_filtered_touches_no_acme_letter(
    client: FlaskClient, make_user, other_tenant: Tenant, acme_rows, db: psycopg.Connection
) -> None:
    sign_in(client, make_user(other_tenant, "owner"))
    token = csrf_token(client, "/t/globex/queue")
    before = snapshot(db)
    page = client.get("/t/globex/dead-letters/confirm?action=discard").get_data(as_text=True)
    assert "No dead letter matches this filter" in page
    for action in ("discard", "requeue"):
        response = client.post(
            "/t/globex/dead-letters/bulk", data={"action": action, "csrf_token": token}
        )
        assert response.status_code == 302
    assert snapshot(db) == before


def test_the_operator_sees_every_tenant_and_can_filter_to_one(
    client: FlaskClient, operator, other_tenant: Tenant, tenant: Tenant, db, acme_rows
) -> None:
    sign_in(client, operator)
    globex_letter = insert_letter(db, other_tenant, exception_text="globex trouble")
    everything = client.get("/ops/dead-letters").get_data(as_text=True)
    assert f"#{acme_rows['letter']}<" in everything and f"#{globex_letter}<" in everything
    only_globex = client.get("/ops/dead-letters?tenant=globex").get_data(as_text=True)
    assert f"#{globex_letter}<" in only_globex and f"#{acme_rows['letter']}<" not in only_globex
    assert client.get("/ops/dead-letters?tenant=nobody").status_code == 404
    for page in [*OPS_PAGES, *tenant_pages("acme", acme_rows)]:
        assert client.get(page).status_code == 200, page
    assert client.get(f"/ops/dead-letters/{globex_letter}").status_code == 200
    assert client.get(f"/ops/quarantine/{acme_rows['quarantine']}").status_code == 200
    # Filtered to globex, an acme id is not there.
    assert client.get(f"/ops/dead-letters/{acme_rows['letter']}?tenant=globex").status_code == 404


def test_the_owner_lists_only_the_tenants_own_rows(
    owner_client: FlaskClient, other_tenant: Tenant, db, acme_rows
) -> None:
    globex_letter = insert_letter(db, other_tenant)
    insert_quarantine(db, other_tenant, b"globex body")
    letters = owner_client.get("/t/acme/dead-letters").get_data(as_text=True)
    assert f"#{acme_rows['letter']}<" in letters and f"#{globex_letter}<" not in letters
    quarantine = owner_client.get("/t/acme/quarantine").get_data(as_text=True)
    assert quarantine.count('href="/t/acme/quarantine/') == 1
    queue = owner_client.get("/t/acme/queue").get_data(as_text=True)
    assert "Globex" not in queue and "Jobs by state" not in queue


def test_every_action_without_the_csrf_token_is_refused_and_changes_nothing(
    client: FlaskClient, operator, acme_rows, db: psycopg.Connection
) -> None:
    sign_in(client, operator)
    before = snapshot(db)
    actions = [
        *tenant_actions("acme", acme_rows),
        (f"/ops/dead-letters/{acme_rows['letter']}/requeue", {}),
        ("/ops/dead-letters/bulk", {"action": "requeue"}),
    ]
    for action, data in actions:
        assert client.post(action, data=data).status_code == 400, action
    assert snapshot(db) == before
