"""Users and signed-in test clients for the admin pages' route tests."""

import re
from collections.abc import Callable

import psycopg
import pytest
from flask.testing import FlaskClient

from db.tenants import Tenant, create_tenant
from db.users import User, create_user, set_password_hash
from webapp.admin.passwords import hash_password

PASSWORD = "correct horse battery"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def other_tenant(db: psycopg.Connection) -> Tenant:
    return create_tenant(
        db,
        slug="globex",
        name="Globex Dental",
        wa_phone_number_id="106540352242999",
        wa_app_secret="globex-app-secret",
        wa_verify_token="globex-verify-token",
        wa_access_token="globex-access-token",
    )


@pytest.fixture
def make_user(db: psycopg.Connection) -> Callable[..., User]:
    """make_user(tenant, role="agent", email=None): a user whose password is PASSWORD."""
    made = 0

    def make(tenant: Tenant | None, role: str = "agent", email: str | None = None) -> User:
        nonlocal made
        made += 1
        address = email or f"{role}{made}@{tenant.slug if tenant else 'ops'}.example"
        user = create_user(db, email=address, role=role, tenant_id=tenant.id if tenant else None)
        set_password_hash(db, user.id, hash_password(PASSWORD))
        return user

    return make


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page as a browser would."""
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = _CSRF_META.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, user: User, password: str = PASSWORD) -> None:
    response = client.post(
        "/login",
        data={"email": user.email, "password": password, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def agent(tenant: Tenant, make_user: Callable[..., User]) -> User:
    return make_user(tenant, "agent")


@pytest.fixture
def owner(tenant: Tenant, make_user: Callable[..., User]) -> User:
    return make_user(tenant, "owner")


@pytest.fixture
def operator(make_user: Callable[..., User]) -> User:
    return make_user(None, "operator")


@pytest.fixture
def agent_client(client: FlaskClient, agent: User) -> FlaskClient:
    sign_in(client, agent)
    return client


@pytest.fixture
def owner_client(client: FlaskClient, owner: User) -> FlaskClient:
    sign_in(client, owner)
    return client
