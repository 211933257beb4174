"""One view, two scopes: a tenant's own pages (/t/<slug>/..., owners) or all tenants' (/ops/...,
operators, optionally filtered to one tenant by ?tenant=<slug>)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, request, url_for

from db.tenants import Tenant, list_tenants, tenant_by_slug
from webapp.admin.access import ROLES_OWNER, admin_blueprint, operator_view, tenant_view
from webapp.db import transaction

blueprint = admin_blueprint("operations", __name__)


@dataclass(frozen=True)
class Scope:
    # The tenant in the URL (an owner's page), or the one an operator filtered to (None: all).
    tenant: Tenant | None
    in_url: bool
    # Operators: every tenant, for the filter and to name each row's tenant.
    tenants: tuple[Tenant, ...] = ()

    @property
    def tenant_id(self) -> int | None:
        return self.tenant.id if self.tenant else None

    def url(self, endpoint: str, **values: Any) -> str:
        """A page of this blueprint in the same scope (the tenant filter kept)."""
        if self.in_url:
            assert self.tenant is not None
            values["slug"] = self.tenant.slug
        elif self.tenant is not None and "tenant" not in values:
            values["tenant"] = self.tenant.slug
        return url_for(f"operations.{endpoint}", **values)

    def slug_of(self, tenant_id: int | None) -> str | None:
        if self.tenant is not None and self.tenant.id == tenant_id:
            return self.tenant.slug
        return next((t.slug for t in self.tenants if t.id == tenant_id), None)


def conversation_url(slug: str, conversation_id: int) -> str:
    """The conversation in the inbox (the inbox's contract URL)."""
    if "inbox.conversation" in current_app.view_functions:
        return url_for("inbox.conversation", slug=slug, conversation_id=conversation_id)
    return f"/t/{slug}/c/{conversation_id}"


def _operator_scope() -> Scope:
    with transaction() as conn:
        tenants = tuple(list_tenants(conn))
    wanted = request.values.get("tenant", "")
    if not wanted:
        return Scope(None, in_url=False, tenants=tenants)
    chosen = next((t for t in tenants if t.slug == wanted), None)
    if chosen is None:
        abort(404)
    return Scope(chosen, in_url=False, tenants=tenants)


def scoped(rule: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[Callable], Callable]:
    """Route `view(scope, **args)` at /t/<slug><rule> (owners and operators) and at /ops<rule>
    (operators), under one endpoint named after the view."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @tenant_view(ROLES_OWNER)
        def in_tenant(tenant: Tenant, **values: Any) -> Any:
            return view(Scope(tenant, in_url=True), **values)

        @operator_view
        def across(**values: Any) -> Any:
            return view(_operator_scope(), **values)

        def dispatch(**values: Any) -> Any:
            return in_tenant(**values) if "slug" in values else across(**values)

        endpoint = view.__name__
        blueprint.add_url_rule(f"/t/<slug>{rule}", endpoint, dispatch, methods=list(methods))
        blueprint.add_url_rule(f"/ops{rule}", endpoint, dispatch, methods=list(methods))
        return view

    return decorate


def tenant_of_row(scope: Scope, tenant_id: int | None) -> Tenant | None:
    """The tenant a row belongs to, for links and audit (an operator's row may be anyone's)."""
    if scope.tenant is not None and scope.tenant.id == tenant_id:
        return scope.tenant
    slug = scope.slug_of(tenant_id)
    if slug is None:
        return None
    with transaction() as conn:
        return tenant_by_slug(conn, slug)
