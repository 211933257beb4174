"""`recado users`: accounts and one-time password links, against the real test database; the
printed link is opened with the app, as the person it is handed to would."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from db.tenants import Tenant, create_tenant
from db.users import create_session, session_user
from ops.cli import main
from ops.cli_run import DEMO_OWNER_EMAIL, DemoSignIn, demo_owner_sign_in, sign_in_help

LINK = re.compile(r"(https?://\S+/set-password/[\w-]+)")
NEW_PASSWORD = "a long enough secret"


def recado(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def printed_link(result: Result) -> str:
    assert result.exit_code == 0, result.output
    found = LINK.findall(result.output)
    assert len(found) == 1, result.output
    return found[0]


def choose_password(client: FlaskClient, link: str, password: str = NEW_PASSWORD) -> int:
    """Open the link and set the password; the status of the POST."""
    path = urlsplit(link).path
    page = client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert token
    return client.post(
        path,
        data={"password": password, "confirmation": password, "csrf_token": token.group(1)},
    ).status_code


def sign_in_status(app: Flask, email: str, password: str = NEW_PASSWORD) -> int:
    """Sign in from a new browser: 302 when it worked, 401 when refused."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    ).status_code


def users_rows(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT email, role, tenant_id, display_name FROM users ORDER BY id"
    ).fetchall()


def test_add_owner_prints_a_link_that_sets_the_password_and_signs_in(
    db: psycopg.Connection, tenant: Tenant, app: Flask, client: FlaskClient
) -> None:
    result = recado("users", "add", "Ana@Acme.Example", "--tenant", "acme", "--role", "owner",
                    "--name", "Ana")  # fmt: skip
    link = printed_link(result)

    assert "added owner of acme: ana@acme.example" in result.output
    assert link.startswith("http://127.0.0.1:8000/set-password/")
    assert users_rows(db) == [("ana@acme.example", "owner", tenant.id, "Ana")]
    assert choose_password(client, link) == 302
    assert sign_in_status(app, "ana@acme.example") == 302
    # Used once: the same link no longer works.
    assert client.get(urlsplit(link).path).status_code == 404
    audit = db.execute("SELECT action, target, tenant_id FROM audit_log").fetchall()
    assert audit == [("user.add", "ana@acme.example", tenant.id)]


def test_add_agent_and_operator(db: psycopg.Connection, tenant: Tenant) -> None:
    agent = recado("users", "add", "bo@acme.example", "--tenant", "acme", "--role", "agent")
    operator = recado("users", "add", "night@ops.example", "--operator")

    printed_link(agent)
    printed_link(operator)
    assert "added operator: night@ops.example" in operator.output
    assert users_rows(db) == [
        ("bo@acme.example", "agent", tenant.id, None),
        ("night@ops.example", "operator", None, None),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x@acme.example", "--tenant", "nope", "--role", "agent"], "no tenant 'nope'"),
        (["x@acme.example", "--operator", "--tenant", "acme"], "an operator belongs to no tenant"),
        (["x@acme.example", "--operator", "--role", "owner"], "an operator belongs to no tenant"),
        (["x@acme.example", "--tenant", "acme"], "give --tenant SLUG and --role"),
        (["x@acme.example", "--role", "agent"], "give --tenant SLUG and --role"),
        (["x@acme.example", "--tenant", "acme", "--role", "operator"], "Invalid value for"),
        (["not-an-email", "--tenant", "acme", "--role", "agent"], "invalid email 'not-an-email'"),
    ],
)
def test_add_refuses_clearly_and_creates_nothing(
    db: psycopg.Connection, tenant: Tenant, args: list[str], message: str
) -> None:
    result = recado("users", "add", *args)

    assert result.exit_code != 0
    assert message in result.output
    assert users_rows(db) == []


def test_a_duplicate_email_is_refused(db: psycopg.Connection, tenant: Tenant) -> None:
    printed_link(recado("users", "add", "ana@acme.example", "--tenant", "acme", "--role", "agent"))

    result = recado("users", "add", "ANA@acme.example", "--operator")

    assert result.exit_code == 1
    assert "a user with email 'ana@acme.example' already exists" in result.output
    assert len(users_rows(db)) == 1


def test_reset_password_voids_the_old_link_and_the_new_password_ends_sessions(
    db: psycopg.Connection, tenant: Tenant, app: Flask, client: FlaskClient
) -> None:
    first = printed_link(
        recado("users", "add", "ana@acme.example", "--tenant", "acme", "--role", "owner")
    )
    assert choose_password(client, first, "the first password") == 302
    user_id = db.execute("SELECT id FROM users").fetchone()[0]
    other_session = create_session(db, user_id, timedelta(hours=1))

    reset = recado("users", "reset-password", "ana@acme.example")
    unused = printed_link(recado("users", "reset-password", "ana@acme.example"))
    second = printed_link(reset)

    # Only the newest link works; until it is used the old password still does.
    assert client.get(urlsplit(second).path).status_code == 404
    assert sign_in_status(app, "ana@acme.example", "the first password") == 302
    assert choose_password(client, unused) == 302
    assert session_user(db, other_session) is None
    assert sign_in_status(app, "ana@acme.example", "the first password") == 401
    assert sign_in_status(app, "ana@acme.example") == 302


def test_disable_ends_sessions_and_links_at_once(
    db: psycopg.Connection, tenant: Tenant, client: FlaskClient
) -> None:
    link = printed_link(
        recado("users", "add", "ana@acme.example", "--tenant", "acme", "--role", "agent")
    )
    user_id = db.execute("SELECT id FROM users").fetchone()[0]
    session = create_session(db, user_id, timedelta(hours=1))

    result = recado("users", "disable", "ana@acme.example")
    again = recado("users", "disable", "ana@acme.example")
    reset = recado("users", "reset-password", "ana@acme.example")

    assert result.exit_code == 0
    assert "ana@acme.example disabled" in result.output
    assert "already disabled" in again.output
    assert reset.exit_code == 1 and "ana@acme.example is disabled" in reset.output
    assert session_user(db, session) is None
    assert client.get(urlsplit(link).path).status_code == 404


def test_unknown_email_is_an_error(db: psycopg.Connection) -> None:
    for command in ("reset-password", "disable"):
        result = recado("users", command, "who@nowhere.example")
        assert result.exit_code == 1
        assert "no user with email 'who@nowhere.example'" in result.output


def test_list_shows_users_without_password_hashes(
    db: psycopg.Connection, tenant: Tenant, client: FlaskClient
) -> None:
    create_tenant(
        db,
        slug="globex",
        name="Globex Dental",
        wa_phone_number_id="106540352242999",
        wa_app_secret="globex-app-secret",
        wa_verify_token="globex-verify-token",
        wa_access_token="globex-access-token",
    )
    link = printed_link(
        recado("users", "add", "ana@acme.example", "--tenant", "acme", "--role", "owner")
    )
    printed_link(recado("users", "add", "gus@globex.example", "--tenant", "globex",
                        "--role", "agent"))  # fmt: skip
    printed_link(recado("users", "add", "night@ops.example", "--operator"))
    choose_password(client, link)
    stored_hash = db.execute("SELECT password_hash FROM users WHERE password_hash IS NOT NULL")
    password_hash = stored_hash.fetchone()[0]

    everyone = recado("users", "list")
    acme = recado("users", "list", "--tenant", "acme")
    unknown = recado("users", "list", "--tenant", "nope")

    assert everyone.exit_code == 0
    lines = everyone.output.splitlines()
    assert lines[0].split() == ["ID", "EMAIL", "ROLE", "TENANT", "NAME", "PASSWORD", "STATE"]
    assert "night@ops.example" in lines[1]
    assert re.search(r"ana@acme\.example\s+owner\s+acme\s+-\s+set\s+active", everyone.output)
    assert re.search(r"gus@globex\.example\s+agent\s+globex\s+-\s+not set", everyone.output)
    assert password_hash not in everyone.output and "argon2" not in everyone.output
    assert "ana@acme.example" in acme.output and "gus@globex" not in acme.output
    assert "night@ops" not in acme.output
    assert unknown.exit_code == 1 and "no tenant 'nope'" in unknown.output


def test_list_without_users(db: psycopg.Connection) -> None:
    result = recado("users", "list")
    assert result.exit_code == 0
    assert "no users yet" in result.output


# --- make run's demo owner -------------------------------------------------------------------


def test_the_demo_owner_is_created_once_with_a_fresh_link_each_run(
    db: psycopg.Connection, tenant: Tenant, app: Flask, client: FlaskClient
) -> None:
    first = demo_owner_sign_in(db, tenant, "http://127.0.0.1:8000")
    second = demo_owner_sign_in(db, tenant, "http://127.0.0.1:8000")

    assert users_rows(db) == [(DEMO_OWNER_EMAIL, "owner", tenant.id, "Demo owner")]
    assert first.link and second.link and first.link != second.link
    # Only the last run's link works.
    assert client.get(urlsplit(first.link).path).status_code == 404
    assert choose_password(client, second.link) == 302
    assert sign_in_status(app, DEMO_OWNER_EMAIL) == 302

    after = demo_owner_sign_in(db, tenant, "http://127.0.0.1:8000")
    assert after == DemoSignIn(DEMO_OWNER_EMAIL, None)
    assert len(users_rows(db)) == 1


def test_the_banner_says_how_to_sign_in() -> None:
    with_link = sign_in_help(
        "http://127.0.0.1:8000", DemoSignIn(DEMO_OWNER_EMAIL, "http://x/set-password/t"), "recado"
    )
    chosen = sign_in_help("http://127.0.0.1:8000", DemoSignIn(DEMO_OWNER_EMAIL, None), "recado")

    assert "http://127.0.0.1:8000/login" in with_link
    assert "http://x/set-password/t" in with_link and DEMO_OWNER_EMAIL in with_link
    assert "http://127.0.0.1:8000/login" in chosen and DEMO_OWNER_EMAIL in chosen
    assert f"recado users reset-password {DEMO_OWNER_EMAIL}" in chosen
    assert "/set-password/" not in chosen
