"""Rows the operations pages show: dead letters, quarantined bodies, breakers, and users."""

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg.types.json import Jsonb

from db.tenants import Tenant
from db.users import User, create_user, set_language, set_password_hash

# The admin pages' fixtures (users, signed-in clients), shared with these tests.
from tests.webapp.admin.conftest import (
    PASSWORD,
    agent,
    agent_client,
    operator,
    other_tenant,
    owner,
    owner_client,
    sign_in,
)
from webapp.admin.passwords import hash_password

__all__ = [
    "agent",
    "agent_client",
    "audit_rows",
    "insert_letter",
    "insert_quarantine",
    "operator",
    "other_tenant",
    "owner",
    "owner_client",
]


def insert_letter(
    db: psycopg.Connection,
    tenant: Tenant | None,
    *,
    actor: str = "ingest_event",
    args: list[Any] | None = None,
    exception_type: str = "domain.errors.PermanentError",
    exception_text: str = "boom",
    conversation_id: int | None = None,
    related: dict[str, Any] | None = None,
    state: str = "dead",
) -> int:
    return db.execute(
        "INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,"
        " exception_text, traceback, tenant_id, conversation_id, related, state)"
        " VALUES (%s, 'ingest', %s, %s, 21, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            uuid.uuid4(),
            actor,
            Jsonb(args if args is not None else [42]),
            exception_type,
            exception_text,
            f"Traceback (most recent call last):\n  {exception_text}",
            tenant.id if tenant else None,
            conversation_id,
            Jsonb(related or {}),
            state,
        ),
    ).fetchone()[0]


def insert_quarantine(
    db: psycopg.Connection, tenant: Tenant, body: bytes, reason: str = "not JSON"
) -> int:
    return db.execute(
        "INSERT INTO quarantine (tenant_id, channel, reason, content_type, body)"
        " VALUES (%s, 'whatsapp', %s, 'application/json', %s) RETURNING id",
        (tenant.id, reason, body),
    ).fetchone()[0]


def audit_rows(db: psycopg.Connection) -> list[tuple]:
    """(tenant_id, user_id, action, target, details) of every audit row, oldest first."""
    return db.execute(
        "SELECT tenant_id, user_id, action, target, details FROM audit_log ORDER BY id"
    ).fetchall()


@pytest.fixture
def operator_client(client: FlaskClient, operator: User) -> FlaskClient:
    sign_in(client, operator)
    return client


@pytest.fixture
def make_user(db: psycopg.Connection) -> Callable[..., User]:
    """As the admin pages' `make_user`, with English pages, which these tests read."""
    made = 0

    def make(tenant: Tenant | None, role: str = "agent", email: str | None = None) -> User:
        nonlocal made
        made += 1
        address = email or f"{role}{made}@{tenant.slug if tenant else 'ops'}.example"
        user = create_user(db, email=address, role=role, tenant_id=tenant.id if tenant else None)
        set_password_hash(db, user.id, hash_password(PASSWORD))
        set_language(db, user.id, "en")
        return user

    return make
