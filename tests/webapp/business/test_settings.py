"""business.settings: the assistant settings through a form, checked as the CLI checks them."""

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from psycopg.types.json import Jsonb

from db.tenants import Tenant
from db.users import User
from domain.tenant_settings import SETTINGS
from ops.cli import main
from tests.ops.test_conversations_cli import add_conversation, add_message
from tests.ops.test_operator_input import parked_plan_jobs
from tests.webapp.admin.conftest import csrf_token, sign_in
from tests.webapp.business.conftest import audit_rows, sign_in_to, tenant_row

SECRETS = ("acme-access-token", "acme-app-secret", "acme-verify-token")


def page(client: FlaskClient, slug: str = "acme") -> tuple[int, str]:
    response = client.get(f"/t/{slug}/settings")
    return response.status_code, response.get_data(as_text=True)


def post(client: FlaskClient, data: dict[str, str], slug: str = "acme", token: bool = True):
    form = {**data, "csrf_token": csrf_token(client, "/")} if token else data
    return client.post(f"/t/{slug}/settings", data=form)


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_every_setting_shows_its_value_default_and_meaning(
    request: pytest.FixtureRequest, client: FlaskClient, tenant: Tenant, db, who: str
) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"quiet_window_seconds": 7, "handoff_keywords": ["humano", "persona"]}), tenant.id),
    )
    sign_in_to(client, request.getfixturevalue(who), "/t/acme/settings")

    status, html = page(client)

    assert status == 200
    for key in SETTINGS:
        assert f'name="{key}"' in html
        assert f'<label for="setting-{key}">{key}</label>' in html
    assert 'name="quiet_window_seconds" value="7"' in html
    assert "humano, persona</textarea>" in html
    # Defaults and what each setting means, in the page's language (Spanish by default).
    assert "Predeterminado: 0.5" in html
    assert "segundos de silencio del cliente" in html
    # And the bounds the check enforces.
    assert "De 0 a 600 segundos." in html
    assert "De 0.01 a 1,000,000 USD" in html


def test_secrets_are_never_rendered_only_whether_set(owner_client: FlaskClient, tenant) -> None:
    status, html = page(owner_client)

    assert status == 200
    for secret in SECRETS:
        assert secret not in html
    assert tenant.wa_phone_number_id in html
    assert html.count(">configurado<") == 3


def test_an_agent_is_refused(agent_client: FlaskClient, tenant: Tenant, db) -> None:
    before = tenant_row(db, "acme")

    assert page(agent_client)[0] == 403
    assert post(agent_client, {"quiet_window_seconds": "9"}).status_code == 403
    assert tenant_row(db, "acme") == before


def test_another_tenants_owner_gets_404_and_changes_nothing(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, make_user, db
) -> None:
    sign_in(client, make_user(other_tenant, "owner"))
    before = tenant_row(db, "acme")

    assert page(client)[0] == 404
    assert post(client, {"quiet_window_seconds": "9"}).status_code == 404
    assert tenant_row(db, "acme") == before
    assert audit_rows(db) == []


def test_a_post_without_the_csrf_token_is_refused(owner_client: FlaskClient, db) -> None:
    before = tenant_row(db, "acme")

    response = post(owner_client, {"quiet_window_seconds": "9"}, token=False)

    assert response.status_code == 400
    assert tenant_row(db, "acme") == before


def test_a_valid_save_changes_exactly_what_the_cli_would(
    owner_client: FlaskClient, owner: User, tenant: Tenant, other_tenant: Tenant, db
) -> None:
    values = {
        "quiet_window_seconds": "5",
        "handoff_keywords": "humano, persona, humano",
        "low_confidence_threshold": "0.35",
        "handoff_message": "Le atiende una persona de {name}.\r\nGracias.",
        "llm_monthly_usd_cap": "12.50",
        "read_receipts": "true",
        "typing_indicator": "",
        "unanswered_on_return": "person",
        "pacing": '{"recipient": {"per_second": 0.5, "burst": 3}}',
        "reengagement_template": '{"name": "seguimiento", "language": "es"}',
    }

    response = post(owner_client, values)
    for key, value in values.items():
        if value:
            result = CliRunner().invoke(
                main, ["tenants", "settings", "set", "globex", key, value.replace("\r\n", "\n")]
            )
            assert result.exit_code == 0, result.output

    assert response.status_code == 302
    saved = tenant_row(db, "acme")[1]
    assert saved == tenant_row(db, "globex")[1]
    assert saved["handoff_keywords"] == ["humano", "persona"]
    assert saved["handoff_message"] == "Le atiende una persona de {name}.\nGracias."
    assert "typing_indicator" not in saved
    [audit] = audit_rows(db)
    assert audit[:4] == (tenant.id, owner.id, "settings.update", "acme")
    assert set(audit[4]["changes"]) == {k for k, v in values.items() if v}
    assert "Ajustes guardados" in owner_client.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_an_empty_field_unsets_and_an_unchanged_form_saves_nothing(
    owner_client: FlaskClient, tenant: Tenant, db
) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"quiet_window_seconds": 7, "read_receipts": True}), tenant.id),
    )

    unchanged = post(owner_client, {"quiet_window_seconds": "7", "read_receipts": "true"})
    assert unchanged.status_code == 302
    assert audit_rows(db) == []

    emptied = post(owner_client, {"quiet_window_seconds": "", "read_receipts": "true"})
    assert emptied.status_code == 302
    assert tenant_row(db, "acme")[1] == {"read_receipts": True}
    assert audit_rows(db)[0][4] == {"changes": {"quiet_window_seconds": None}}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("quiet_window_seconds", "9999", "quiet_window_seconds must be 0 to 600 seconds, not 9999"),
        ("quiet_window_seconds", "soon", "must be a number, not &#39;soon&#39;"),
        ("low_confidence_threshold", "1.5", "low_confidence_threshold must be between 0 and 1"),
        ("read_receipts", "maybe", "read_receipts must be true or false, not &#39;maybe&#39;"),
        ("llm_monthly_token_cap", "-3", "llm_monthly_token_cap must be above 0"),
        ("pacing", '{"number": {"per_second": 5000, "burst": 1}}', "pacing.number.per_second"),
        ("handoff_message", "Hola {cliente}", "may contain only the {name} placeholder"),
    ],
)
def test_an_invalid_value_is_refused_with_the_message_and_nothing_saved(
    owner_client: FlaskClient, tenant: Tenant, db, key: str, value: str, message: str
) -> None:
    before = tenant_row(db, "acme")

    # A valid change in the same form is not saved either.
    response = post(owner_client, {key: value, "typing_indicator": "true"})
    html = response.get_data(as_text=True)

    assert response.status_code == 400
    assert message in html
    assert f'id="error-{key}"' in html
    assert 'aria-invalid="true"' in html or "<select" in html
    assert tenant_row(db, "acme") == before
    assert audit_rows(db) == []


def test_the_submitted_value_is_kept_next_to_its_error(owner_client: FlaskClient) -> None:
    html = post(owner_client, {"quiet_window_seconds": "9999"}).get_data(as_text=True)

    assert 'name="quiet_window_seconds" value="9999"' in html


def test_stored_and_submitted_text_is_escaped(owner_client: FlaskClient, tenant, db) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"handoff_message": "<script>alert(1)</script> {name}"}), tenant.id),
    )

    shown = page(owner_client)[1]
    refused = post(owner_client, {"llm_monthly_token_cap": "<script>x</script>"})

    assert "&lt;script&gt;alert(1)&lt;/script&gt; {name}</textarea>" in shown
    assert "<script>alert" not in shown
    refused_html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "<script>x" not in refused_html
    assert "&lt;script&gt;x&lt;/script&gt;" in refused_html


def test_a_shorter_quiet_window_brings_a_parked_reply_forward_as_the_cli_does(
    owner_client: FlaskClient, tenant: Tenant, db
) -> None:
    from actors.chain import enqueue
    from actors.plan import plan_reply

    conversation = add_conversation(db, tenant.id, "5215512345678")
    message = add_message(db, tenant.id, conversation, "in", "hola")
    with db.transaction():
        enqueue(db, [plan_reply.message(conversation, message)], delay_ms=10**12)

    response = post(owner_client, {"quiet_window_seconds": "3"})

    assert response.status_code == 302
    old, new = parked_plan_jobs(db)
    assert old[:2] == ("assistant.DQ", "done")
    assert new[:3] == ("assistant.DQ", "queued", [conversation, message])
    # The new window, counted from the save: a generous bound.
    assert new[3] <= 3
