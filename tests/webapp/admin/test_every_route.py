"""Guarantees checked over every admin route the app registers, present and future.

Each area's own tests prove its object-level scoping (another tenant's conversation id → 404);
these prove the gates no route may forget: sign-in, the tenant in the URL, the operator-only
pages, and CSRF on every state change.
"""

import re
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from db.tenants import Tenant
from db.users import User
from tests.webapp.admin.conftest import csrf_token, sign_in

# Reached without a session by design: providers, probes, static files, the sign-in itself.
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.set_password", "auth.logout"}
PUBLIC_BLUEPRINTS = {"webhooks", "health"}
STATE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _admin_rules(app: Flask) -> Iterator[Rule]:
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.endpoint in PUBLIC_ENDPOINTS or blueprint in PUBLIC_BLUEPRINTS:
            continue
        yield rule


def _path(rule: Rule, slug: str) -> str:
    integers = set(re.findall(r"<int:(\w+)>", rule.rule))
    values: dict[str, object] = {}
    for argument in rule.arguments:
        values[argument] = slug if argument == "slug" else (1 if argument in integers else "x")
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def _methods(rule: Rule) -> list[str]:
    return sorted(m for m in rule.methods or () if m in ("GET", *STATE_METHODS))


def _row_counts(db: psycopg.Connection) -> dict[str, int]:
    tables = [
        name
        for (name,) in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT IN ('recado_migrations', 'user_sessions')"
        ).fetchall()
    ]
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_the_admin_has_tenant_routes(app: Flask) -> None:
    assert any("slug" in rule.arguments for rule in _admin_rules(app))


def test_every_page_needs_a_session(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    for rule in _admin_rules(app):
        for method in _methods(rule):
            response = client.open(_path(rule, "acme"), method=method)
            if method == "GET":
                assert response.status_code in (302, 401), (method, rule.rule)
                assert "/login" in response.headers.get("Location", "") + response.headers.get(
                    "HX-Redirect", ""
                ), rule.rule
            else:
                # No session means no CSRF token either: refused before anything runs.
                assert response.status_code in (302, 400, 401), (method, rule.rule)


@pytest.mark.parametrize("role", ["agent", "owner"])
def test_another_tenants_urls_answer_404_and_change_nothing(
    app: Flask,
    client: FlaskClient,
    make_user,
    tenant: Tenant,
    other_tenant: Tenant,
    db: psycopg.Connection,
    role: str,
) -> None:
    user: User = make_user(tenant, role)
    sign_in(client, user)
    token = csrf_token(client, "/")
    before = _row_counts(db)
    checked = 0
    for rule in _admin_rules(app):
        if "slug" not in rule.arguments:
            continue
        for method in _methods(rule):
            data = {"csrf_token": token} if method != "GET" else None
            response = client.open(_path(rule, other_tenant.slug), method=method, data=data)
            assert response.status_code == 404, (method, rule.rule, response.status_code)
            checked += 1
    assert checked > 0
    assert _row_counts(db) == before


@pytest.mark.parametrize("role", ["agent", "owner"])
def test_operator_pages_answer_404_to_tenant_users(
    app: Flask, client: FlaskClient, make_user, tenant: Tenant, role: str
) -> None:
    sign_in(client, make_user(tenant, role))
    token = csrf_token(client, "/")
    for rule in _admin_rules(app):
        if not rule.rule.startswith("/ops"):
            continue
        for method in _methods(rule):
            data = {"csrf_token": token} if method != "GET" else None
            response = client.open(_path(rule, "acme"), method=method, data=data)
            assert response.status_code == 404, (method, rule.rule)


def test_every_state_change_needs_the_csrf_token(
    app: Flask, client: FlaskClient, operator: User, tenant: Tenant, db: psycopg.Connection
) -> None:
    # An operator passes every role gate, so the CSRF check is what refuses.
    sign_in(client, operator)
    before = _row_counts(db)
    checked = 0
    for rule in _admin_rules(app):
        for method in _methods(rule):
            if method == "GET":
                continue
            response = client.open(_path(rule, "acme"), method=method, data={})
            assert response.status_code == 400, (method, rule.rule, response.status_code)
            checked += 1
    assert checked > 0
    assert _row_counts(db) == before
