"""The menu of the admin pages: which areas a user sees, in order."""

from dataclasses import dataclass

from flask import current_app, url_for

from db.tenants import Tenant
from db.users import User
from webapp.admin.access import ROLES_ALL, ROLES_OWNER


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[str, ...]


TENANT_MENU = (
    NavItem("inbox.conversations", "Inbox", ROLES_ALL),
    NavItem("operations.dead_letters", "Dead letters", ROLES_OWNER),
    NavItem("operations.quarantine", "Quarantine", ROLES_OWNER),
    NavItem("operations.queue", "Queue", ROLES_OWNER),
    NavItem("business.settings", "Settings", ROLES_OWNER),
    NavItem("compose.canned_replies", "Canned replies", ROLES_OWNER),
    NavItem("compose.templates", "Templates", ROLES_OWNER),
)
OPERATOR_MENU = (NavItem("operations.overview", "All tenants", ("operator",)),)


def menu(user: User | None, tenant: Tenant | None) -> list[tuple[str, str, str]]:
    """(endpoint, label, url) of each area the user may open from the current page."""
    if user is None:
        return []
    items: list[tuple[str, str, str]] = []
    # An area appears once its blueprint is registered (the app's routes decide, not this list).
    known = current_app.view_functions
    if tenant is not None:
        for item in TENANT_MENU:
            if user.role in item.roles and item.endpoint in known:
                items.append((item.endpoint, item.label, url_for(item.endpoint, slug=tenant.slug)))
    for item in OPERATOR_MENU:
        if user.role in item.roles and item.endpoint in known:
            items.append((item.endpoint, item.label, url_for(item.endpoint)))
    return items
