"""business.profile and business.restore: the business profile through a form, what the
assistant is told, and its versions."""

import json
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from db.profiles import set_profile
from db.tenants import Tenant
from db.users import User
from domain.profile import parse_profile
from domain.prompts import standing_prompt
from tests.domain.sample_profile import CLINIC_PROFILE
from tests.webapp.admin.conftest import csrf_token, sign_in
from tests.webapp.business.conftest import audit_rows, sign_in_to, tenant_row
from webapp.business.profile_form import form_values

SECRETS = ("acme-access-token", "acme-app-secret", "acme-verify-token")


def page(client: FlaskClient, slug: str = "acme") -> tuple[int, str]:
    response = client.get(f"/t/{slug}/profile")
    return response.status_code, response.get_data(as_text=True)


def post(client: FlaskClient, data: dict[str, str], slug: str = "acme", token: bool = True):
    form = {**data, "csrf_token": csrf_token(client, "/")} if token else data
    return client.post(f"/t/{slug}/profile", data=form)


def restore(client: FlaskClient, version: int, slug: str = "acme", token: bool = True):
    data = {"csrf_token": csrf_token(client, "/")} if token else {}
    return client.post(f"/t/{slug}/profile/versions/{version}/restore", data=data)


def form_of(profile: dict[str, Any], **changes: str) -> dict[str, str]:
    return {**form_values(profile, "Acme Clinic"), **changes}


def versions(db: psycopg.Connection, tenant: Tenant) -> list[tuple[int, Any, int | None]]:
    return [
        tuple(row)
        for row in db.execute(
            "SELECT version, profile, restored_from FROM profile_versions WHERE tenant_id = %s"
            " ORDER BY version",
            (tenant.id,),
        ).fetchall()
    ]


@pytest.fixture
def clinic(db: psycopg.Connection, tenant: Tenant) -> Tenant:
    set_profile(db, tenant.id, CLINIC_PROFILE)
    return tenant


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_the_form_shows_the_profile_and_what_the_assistant_is_told(
    request: pytest.FixtureRequest, client: FlaskClient, clinic: Tenant, who: str
) -> None:
    sign_in_to(client, request.getfixturevalue(who), "/t/acme/profile")

    status, html = page(client)

    assert status == 200
    assert 'name="name" value="Clínica Dental Sonrisa"' in html
    assert 'name="timezone" value="America/Mexico_City"' in html
    assert 'name="hours.sat" value="09:00-14:00"' in html
    assert '<option value="es" selected>' in html
    assert "Limpieza dental" in html
    assert "Ahora: tú." in html
    preview = standing_prompt(parse_profile(CLINIC_PROFILE, default_name="x"), "es")
    assert "You are the WhatsApp receptionist of Clínica Dental Sonrisa" in preview
    assert f'<pre class="preview">{escape(preview)}</pre>' in html
    for secret in SECRETS:
        assert secret not in html


def test_a_tenant_without_profile_is_told_the_assistant_is_off(
    owner_client: FlaskClient, tenant: Tenant
) -> None:
    status, html = page(owner_client)

    assert status == 200
    assert "Sin perfil: el asistente está apagado" in html
    assert 'name="name" value="Acme Clinic"' in html
    assert "<pre" not in html


def test_an_agent_is_refused(agent_client: FlaskClient, clinic: Tenant, db) -> None:
    before = tenant_row(db, "acme")

    assert page(agent_client)[0] == 403
    assert post(agent_client, form_of(CLINIC_PROFILE, name="Otra")).status_code == 403
    assert restore(agent_client, 1).status_code == 403
    assert tenant_row(db, "acme") == before


def test_another_tenants_owner_gets_404_and_changes_nothing(
    client: FlaskClient, clinic: Tenant, other_tenant: Tenant, make_user, db
) -> None:
    sign_in(client, make_user(other_tenant, "owner"))
    before = tenant_row(db, "acme")

    assert page(client)[0] == 404
    assert post(client, form_of(CLINIC_PROFILE, name="Otra")).status_code == 404
    assert restore(client, 1).status_code == 404
    assert tenant_row(db, "acme") == before
    assert audit_rows(db) == []


def test_posts_without_the_csrf_token_are_refused(
    owner_client: FlaskClient, clinic: Tenant, db
) -> None:
    set_profile(db, clinic.id, {**CLINIC_PROFILE, "name": "Segunda"})
    before = tenant_row(db, "acme")

    saved = post(owner_client, form_of(CLINIC_PROFILE, name="Otra"), token=False)
    restored = restore(owner_client, 1, token=False)

    assert saved.status_code == 400 and restored.status_code == 400
    assert tenant_row(db, "acme") == before


def test_a_valid_save_stores_the_profile_as_a_new_version(
    owner_client: FlaskClient, owner: User, clinic: Tenant, db
) -> None:
    services = [{"name": "Consulta", "price": 500, "currency": "MXN", "duration_minutes": 30}]
    form = form_of(
        CLINIC_PROFILE,
        name="Clínica Nueva",
        tone="amable; trata de usted",
        **{"hours.sun": "10:00-12:00", "hours.sat": ""},
        services=json.dumps(services),
        policies="Cancelar con 24 horas.\r\nPago al llegar.",
    )

    response = post(owner_client, form)

    assert response.status_code == 302
    stored = tenant_row(db, "acme")[2]
    expected_hours = {**CLINIC_PROFILE["hours"], "sun": ["10:00-12:00"]}
    del expected_hours["sat"]
    assert stored == {
        **CLINIC_PROFILE,
        "name": "Clínica Nueva",
        "tone": "amable; trata de usted",
        "hours": expected_hours,
        "services": services,
        "policies": ["Cancelar con 24 horas.", "Pago al llegar."],
    }
    assert [v[0] for v in versions(db, clinic)] == [1, 2]
    assert versions(db, clinic)[1][1] == stored
    [audit] = audit_rows(db)
    assert audit == (clinic.id, owner.id, "profile.save", "acme", {"version": 2})
    after = owner_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Perfil guardado como versión 2." in after
    assert "Ahora: usted." in after


def test_the_unchanged_form_saves_no_version(owner_client: FlaskClient, clinic: Tenant, db) -> None:
    response = post(owner_client, form_of(CLINIC_PROFILE))

    assert response.status_code == 302
    assert len(versions(db, clinic)) == 1
    assert audit_rows(db) == []


def test_the_first_save_turns_the_assistant_on(
    owner_client: FlaskClient, tenant: Tenant, db
) -> None:
    form = form_values(None, "Acme Clinic") | {"timezone": "Europe/Madrid", "tone": "breve"}

    response = post(owner_client, form)

    assert response.status_code == 302
    assert tenant_row(db, "acme")[2] == {
        "name": "Acme Clinic", "tone": "breve", "timezone": "Europe/Madrid", "language": "es",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"services": '[{"name": "Resina", "price": -1}]'},
            "services",
            "services[0].price must not be negative",
        ),
        ({"services": '[{"name": "Resina",'}, "services", "services is not valid JSON"),
        (
            {"services": '[{"name": "Resina", "prize": 5}]'},
            "services",
            "unknown key &#39;services[0].prize&#39; (did you mean &#39;price&#39;?",
        ),
        ({"faq": '[{"question": "¿Hola?"}]'}, "faq", "faq[0].answer must be a non-empty text"),
        ({"faq": '{"question": "x"}'}, "faq", "faq must be a list"),
        ({"hours.mon": "19:00-09:00"}, "hours.mon", "ends before it starts"),
        ({"hours.tue": "9 to 5"}, "hours.tue", "is not a span such as"),
        (
            {"timezone": "America/Atlantis"},
            "timezone",
            "unknown time zone &#39;America/Atlantis&#39;",
        ),
        ({"timezone": "../../etc/passwd"}, "timezone", "unknown time zone"),
        ({"language": "fr"}, "language", "language must be one of es, en, not &#39;fr&#39;"),
        ({"name": "  "}, "name", "name must be a non-empty text"),
        ({"tone": ""}, "tone", "tone must be a non-empty text"),
    ],
)
def test_an_invalid_profile_is_refused_next_to_its_field_and_nothing_saved(
    owner_client: FlaskClient, clinic: Tenant, db, changes: dict[str, str], field: str,
    message: str,
) -> None:  # fmt: skip
    before = tenant_row(db, "acme")

    response = post(owner_client, form_of(CLINIC_PROFILE, **changes))
    html = response.get_data(as_text=True)

    assert response.status_code == 400
    assert f'<p class="error" id="error-{field}" role="alert">' in html
    assert message in html
    assert tenant_row(db, "acme") == before
    assert audit_rows(db) == []


def test_the_submitted_text_is_kept_after_an_error(owner_client: FlaskClient, clinic) -> None:
    html = post(
        owner_client, form_of(CLINIC_PROFILE, name="Nombre nuevo", services="[1, 2")
    ).get_data(as_text=True)

    assert 'name="name" value="Nombre nuevo"' in html
    assert ">[1, 2</textarea>" in html


def test_restore_brings_back_a_version_as_a_new_one(
    owner_client: FlaskClient, owner: User, clinic: Tenant, db
) -> None:
    second = {**CLINIC_PROFILE, "name": "Segunda"}
    set_profile(db, clinic.id, second)

    html = page(owner_client)[1]
    response = restore(owner_client, 1)

    assert "Restaurar la versión 1" in html and "Restaurar la versión 2" not in html
    assert response.status_code == 302
    assert tenant_row(db, "acme")[2] == CLINIC_PROFILE
    assert versions(db, clinic) == [(1, CLINIC_PROFILE, None), (2, second, None),
                                    (3, CLINIC_PROFILE, 1)]  # fmt: skip
    [audit] = audit_rows(db)
    assert audit == (
        clinic.id, owner.id, "profile.restore", "acme", {"version": 3, "restored_from": 1},
    )  # fmt: skip
    after = owner_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Versión 1 restaurada como versión 3." in after
    assert "restaurada de la versión 1" in after


def test_restoring_a_missing_or_cleared_version_changes_nothing(
    owner_client: FlaskClient, clinic: Tenant, db
) -> None:
    db.execute("UPDATE tenants SET profile = NULL WHERE id = %s", (clinic.id,))
    db.execute(
        "INSERT INTO profile_versions (tenant_id, version, profile) VALUES (%s, 2, NULL)",
        (clinic.id,),
    )
    set_profile(db, clinic.id, CLINIC_PROFILE)
    before = tenant_row(db, "acme")

    assert restore(owner_client, 99).status_code == 404
    cleared = restore(owner_client, 2)

    assert cleared.status_code == 302
    assert "perfil borrado" in owner_client.get(cleared.headers["Location"]).get_data(as_text=True)
    assert tenant_row(db, "acme") == before


def test_script_in_the_profile_renders_escaped_in_the_form_and_the_preview(
    owner_client: FlaskClient, tenant: Tenant, db
) -> None:
    hostile = "<script>alert(1)</script>"
    set_profile(
        db,
        tenant.id,
        {**CLINIC_PROFILE, "name": hostile, "faq": [{"question": hostile, "answer": hostile}]},
    )

    status, html = page(owner_client)

    assert status == 200
    assert "<script>alert" not in html
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "receptionist of &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Q: &lt;script&gt;alert(1)&lt;/script&gt; A: &lt;script&gt;" in html
