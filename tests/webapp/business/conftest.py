"""The business pages' tests: the admin fixtures, and what they read back from the database."""

from typing import Any

import psycopg
from flask.testing import FlaskClient

from db.users import User

# The admin pages' fixtures (users, signed-in clients), shared with these tests.
from tests.webapp.admin.conftest import (
    PASSWORD,
    agent,
    agent_client,
    csrf_token,
    make_user,
    operator,
    other_tenant,
    owner,
    owner_client,
)

__all__ = [
    "agent",
    "agent_client",
    "audit_rows",
    "make_user",
    "operator",
    "other_tenant",
    "owner",
    "owner_client",
    "sign_in_to",
    "tenant_row",
]


def sign_in_to(client: FlaskClient, user: User, page: str) -> None:
    """Sign in straight to `page` (an operator's home page is another area's)."""
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "next": page,
              "csrf_token": csrf_token(client)},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == page


def tenant_row(db: psycopg.Connection, slug: str) -> tuple[Any, ...]:
    """Everything a business page could change about a tenant."""
    row = db.execute(
        "SELECT name, settings, profile, wa_access_token, wa_app_secret, wa_verify_token,"
        " (SELECT count(*) FROM profile_versions v WHERE v.tenant_id = t.id)"
        " FROM tenants t WHERE slug = %s",
        (slug,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def audit_rows(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in db.execute(
            "SELECT tenant_id, user_id, action, target, details FROM audit_log ORDER BY id"
        ).fetchall()
    ]
