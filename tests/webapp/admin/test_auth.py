"""Sign-in, sessions, one-time password links and tenant isolation of the admin pages."""

from datetime import timedelta

import psycopg
from flask.testing import FlaskClient

from db.tenants import Tenant
from db.users import User, create_password_link, disable_user
from tests.conftest import count
from tests.webapp.admin.conftest import PASSWORD, csrf_token, sign_in


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("recado_session")
    assert cookie is not None
    return cookie.value


def test_login_page_is_a_form_with_a_csrf_token(client: FlaskClient, tenant: Tenant) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="csrf_token"' in page and 'type="password"' in page


def test_pages_send_visitors_to_sign_in(client: FlaskClient, tenant: Tenant) -> None:
    response = client.get("/t/acme/inbox")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/t/acme/inbox")
    htmx = client.get("/t/acme/inbox", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/login")


def test_sign_in_lands_on_the_tenants_inbox(client: FlaskClient, agent: User) -> None:
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": agent.email.upper(), "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/t/acme/inbox"
    cookie_header = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Lax" in cookie_header
    assert client.get("/t/acme/inbox").status_code == 200


def test_next_never_leaves_the_site(client: FlaskClient, agent: User) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(
            "/login",
            data={
                "email": agent.email,
                "password": PASSWORD,
                "next": target,
                "csrf_token": csrf_token(client),
            },
        )
        assert response.headers["Location"] == "/t/acme/inbox", target


def test_wrong_password_is_refused_and_counted(
    client: FlaskClient, agent: User, db: psycopg.Connection
) -> None:
    response = client.post(
        "/login", data={"email": agent.email, "password": "nope", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 401
    assert count(db, "login_failures") == 1
    assert client.get("/t/acme/inbox").status_code == 302


def test_sign_in_is_rate_limited_per_account(
    client: FlaskClient, agent: User, db: psycopg.Connection
) -> None:
    for _ in range(5):
        data = {"email": agent.email, "password": "guess", "csrf_token": csrf_token(client)}
        assert client.post("/login", data=data).status_code == 401
    # The right password does not help once the account is locked for the window.
    data = {"email": agent.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    assert client.post("/login", data=data).status_code == 429
    assert client.get("/t/acme/inbox").status_code == 302


def test_sign_in_is_rate_limited_per_address(
    client: FlaskClient, agent: User, db: psycopg.Connection
) -> None:
    db.execute(
        "INSERT INTO login_failures (email, address)"
        " SELECT 'someone' || n || '@x.example', '127.0.0.1' FROM generate_series(1, 30) n"
    )
    data = {"email": agent.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    assert client.post("/login", data=data).status_code == 429


def test_login_without_csrf_token_is_refused(client: FlaskClient, agent: User) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/t/acme/inbox").status_code == 302


def test_each_sign_in_gets_a_new_session(client: FlaskClient, agent: User) -> None:
    sign_in(client, agent)
    first = _session_cookie(client)
    sign_in(client, agent)
    assert _session_cookie(client) != first


def test_a_session_id_planted_before_sign_in_is_not_kept(
    client: FlaskClient, agent: User, db: psycopg.Connection
) -> None:
    sign_in(client, agent)
    sign_in(client, agent)
    # Only the latest sign-in's session exists: the earlier id was dropped, not carried over.
    assert count(db, "user_sessions") == 1


def test_logout_ends_the_session_on_the_server(app, client: FlaskClient, agent: User) -> None:
    sign_in(client, agent)
    stolen = _session_cookie(client)
    token = csrf_token(client, "/t/acme/inbox")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/t/acme/inbox").status_code == 302
    # A copy of the cookie taken before logout opens nothing either.
    replay = app.test_client()
    replay.set_cookie("recado_session", stolen)
    assert replay.get("/t/acme/inbox").status_code == 302


def test_logout_without_csrf_token_changes_nothing(client: FlaskClient, agent: User) -> None:
    sign_in(client, agent)
    assert client.post("/logout").status_code == 400
    assert client.get("/t/acme/inbox").status_code == 200


def test_disabling_a_user_ends_their_sessions(
    client: FlaskClient, agent: User, db: psycopg.Connection
) -> None:
    sign_in(client, agent)
    disable_user(db, agent.id)
    assert client.get("/t/acme/inbox").status_code == 302
    data = {"email": agent.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    assert client.post("/login", data=data).status_code == 401


def test_a_password_link_works_once(
    client: FlaskClient, make_user, tenant: Tenant, db: psycopg.Connection
) -> None:
    user = make_user(tenant, "owner")
    link = create_password_link(db, user.id, timedelta(hours=1))
    assert client.get(f"/set-password/{link}").status_code == 200
    token = csrf_token(client, f"/set-password/{link}")
    short = {"password": "short", "confirmation": "short", "csrf_token": token}
    assert client.post(f"/set-password/{link}", data=short).status_code == 400
    new = "a new long password"
    good = {"password": new, "confirmation": new, "csrf_token": token}
    response = client.post(f"/set-password/{link}", data=good)
    assert response.status_code == 302 and response.headers["Location"] == "/t/acme/inbox"
    assert client.get("/t/acme/inbox").status_code == 200
    again = {**good, "csrf_token": csrf_token(client, "/t/acme/inbox")}
    assert client.post(f"/set-password/{link}", data=again).status_code == 404
    other = client.application.test_client()
    sign_in(other, user, new)


def test_an_expired_password_link_opens_nothing(
    client: FlaskClient, make_user, tenant: Tenant, db: psycopg.Connection
) -> None:
    user = make_user(tenant)
    link = create_password_link(db, user.id, timedelta(seconds=-1))
    assert client.get(f"/set-password/{link}").status_code == 404
    assert client.get("/set-password/not-a-token").status_code == 404


def test_another_tenants_pages_answer_404(agent_client: FlaskClient, other_tenant: Tenant) -> None:
    assert agent_client.get("/t/globex/inbox").status_code == 404
    assert agent_client.get("/t/no-such-tenant/inbox").status_code == 404


def test_an_operator_opens_any_tenant(
    client: FlaskClient, operator: User, tenant: Tenant, other_tenant: Tenant
) -> None:
    sign_in(client, operator)
    assert client.get("/t/acme/inbox").status_code == 200
    assert client.get("/t/globex/inbox").status_code == 200


def test_language_follows_the_user_then_the_profile(
    agent_client: FlaskClient, db: psycopg.Connection
) -> None:
    # No profile and no choice: Spanish.
    assert "Bandeja de entrada" in agent_client.get("/t/acme/inbox").get_data(as_text=True)
    db.execute("""UPDATE tenants SET profile = '{"language": "en"}' WHERE slug = 'acme'""")
    assert ">Inbox<" in agent_client.get("/t/acme/inbox").get_data(as_text=True)
    token = csrf_token(agent_client, "/t/acme/inbox")
    response = agent_client.post("/language", data={"language": "es", "csrf_token": token})
    assert response.status_code == 302
    assert "Bandeja de entrada" in agent_client.get("/t/acme/inbox").get_data(as_text=True)


def test_webhooks_need_no_csrf_token_and_keep_plain_errors(client: FlaskClient) -> None:
    response = client.post("/webhooks/whatsapp/nobody", data=b"{}")
    assert response.status_code == 404
    assert 'name="csrf-token"' not in response.get_data(as_text=True)
