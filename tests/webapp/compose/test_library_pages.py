"""The owners' canned replies and templates pages: add, edit, delete, validated, escaped, the
tenant's own rows only, owners only, behind the CSRF token."""

import psycopg
import pytest
from flask.testing import FlaskClient

from db.tenants import Tenant
from tests.webapp.compose.conftest import audit, csrf_token


def form(client: FlaskClient, **fields: object) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(client, "/t/acme/inbox"),
        **{k: str(v) for k, v in fields.items()},
    }


def canned(db: psycopg.Connection) -> list[tuple]:
    return db.execute("SELECT tenant_id, title, body FROM canned_replies ORDER BY id").fetchall()


def templates(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT tenant_id, name, language, body, parameters FROM message_templates ORDER BY id"
    ).fetchall()


def test_canned_replies_are_added_edited_and_deleted(owner_client: FlaskClient, tenant, db):
    response = owner_client.post(
        "/t/acme/canned-replies",
        data=form(owner_client, title="<script>x</script>", body="Hola {name} <b>b</b>"),
    )
    assert response.status_code == 303
    page = owner_client.get("/t/acme/canned-replies").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Hola {name} &lt;b&gt;b&lt;/b&gt;" in page
    (reply_id,) = db.execute("SELECT id FROM canned_replies").fetchone()
    edit = owner_client.get(f"/t/acme/canned-replies/{reply_id}")
    assert edit.status_code == 200 and "&lt;script&gt;" in edit.get_data(as_text=True)
    response = owner_client.post(
        f"/t/acme/canned-replies/{reply_id}", data=form(owner_client, title="Saludo", body="Hola")
    )
    assert response.status_code == 303
    assert canned(db) == [(tenant.id, "Saludo", "Hola")]
    response = owner_client.post(
        f"/t/acme/canned-replies/{reply_id}/delete", data=form(owner_client)
    )
    assert response.status_code == 303
    assert canned(db) == []
    assert [a[0] for a in audit(db)] == [
        "canned_reply.create", "canned_reply.update", "canned_reply.delete"
    ]  # fmt: skip


def test_a_canned_reply_is_validated(owner_client: FlaskClient, tenant, db):
    assert (
        owner_client.post(
            "/t/acme/canned-replies", data=form(owner_client, title="", body="x")
        ).status_code
        == 400
    )
    assert (
        owner_client.post(
            "/t/acme/canned-replies", data=form(owner_client, title="t" * 81, body="x")
        ).status_code
        == 400
    )
    owner_client.post("/t/acme/canned-replies", data=form(owner_client, title="Saludo", body="a"))
    again = owner_client.post(
        "/t/acme/canned-replies", data=form(owner_client, title="Saludo", body="b")
    )
    assert again.status_code == 400
    assert canned(db) == [(tenant.id, "Saludo", "a")]


def test_templates_are_added_and_deleted(owner_client: FlaskClient, tenant, db):
    response = owner_client.post(
        "/t/acme/templates",
        data=form(
            owner_client, name="cita_recordatorio", language="es",
            body="Hola {{1}}, <i>su cita</i> es el {{2}}.", parameters="nombre\n\n<b>fecha</b>\n",
        ),
    )  # fmt: skip
    assert response.status_code == 303
    assert templates(db) == [
        (tenant.id, "cita_recordatorio", "es", "Hola {{1}}, <i>su cita</i> es el {{2}}.",
         ["nombre", "<b>fecha</b>"]),
    ]  # fmt: skip
    page = owner_client.get("/t/acme/templates").get_data(as_text=True)
    assert "&lt;i&gt;su cita&lt;/i&gt;" in page and "&lt;b&gt;fecha&lt;/b&gt;" in page
    (template_id,) = db.execute("SELECT id FROM message_templates").fetchone()
    response = owner_client.post(f"/t/acme/templates/{template_id}/delete", data=form(owner_client))
    assert response.status_code == 303
    assert templates(db) == []
    assert [a[0] for a in audit(db)] == ["template.create", "template.delete"]


@pytest.mark.parametrize(
    ("name", "language", "body", "parameters"),
    [
        ("Cita", "es", "Hola", ""),  # Meta's names are lowercase
        ("cita", "español", "Hola", ""),
        ("cita", "es", "Hola {{2}}", "nombre"),  # {{1}} skipped
        ("cita", "es", "Hola {{1}}", ""),  # a parameter without a name
        ("cita", "es", "Hola", "nombre"),  # a name without a parameter
        ("cita", "es", "  ", ""),
    ],
)
def test_a_template_is_validated(
    owner_client: FlaskClient, db, name: str, language: str, body: str, parameters: str
):
    response = owner_client.post(
        "/t/acme/templates",
        data=form(owner_client, name=name, language=language, body=body, parameters=parameters),
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)
    assert templates(db) == []


def test_agents_cannot_open_the_owners_pages(agent_client: FlaskClient, db):
    assert agent_client.get("/t/acme/canned-replies").status_code == 403
    assert agent_client.get("/t/acme/templates").status_code == 403
    response = agent_client.post(
        "/t/acme/canned-replies", data=form(agent_client, title="t", body="b")
    )
    assert response.status_code == 403
    assert canned(db) == []


def test_another_tenants_rows_are_not_found(owner_client: FlaskClient, other_tenant: Tenant, db):
    reply_id = db.execute(
        "INSERT INTO canned_replies (tenant_id, title, body) VALUES (%s, 'x', 'y') RETURNING id",
        (other_tenant.id,),
    ).fetchone()[0]
    template_id = db.execute(
        "INSERT INTO message_templates (tenant_id, name, language, body)"
        " VALUES (%s, 'x', 'es', 'y') RETURNING id",
        (other_tenant.id,),
    ).fetchone()[0]
    assert owner_client.get(f"/t/acme/canned-replies/{reply_id}").status_code == 404
    for path in (
        f"/t/acme/canned-replies/{reply_id}",
        f"/t/acme/canned-replies/{reply_id}/delete",
        f"/t/acme/templates/{template_id}/delete",
    ):
        data = form(owner_client, title="z", body="z")
        assert owner_client.post(path, data=data).status_code == 404, path
    assert canned(db) == [(other_tenant.id, "x", "y")]
    assert len(templates(db)) == 1
    assert audit(db) == []


def test_without_the_csrf_token_nothing_changes(owner_client: FlaskClient, db):
    assert (
        owner_client.post("/t/acme/canned-replies", data={"title": "t", "body": "b"}).status_code
        == 400
    )
    assert (
        owner_client.post(
            "/t/acme/templates", data={"name": "x", "language": "es", "body": "y"}
        ).status_code
        == 400
    )
    assert canned(db) == [] and templates(db) == []
