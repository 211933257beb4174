"""The conversation list (/t/<slug>/inbox): filters, search, keyset pages, live refresh, alerts.

Three answers from one URL: the page; `part=rows`, the next page's rows for htmx's "load more"
(the "Older" link without JavaScript); `part=refresh`, every row on screen again, fetched by the
live events with the page's filters, search and extent.
"""

from datetime import datetime, timedelta

from flask import current_app, g, render_template, request, url_for
from psycopg import Connection

from db.errors import QueryTimedOut
from db.inbox import Cursor, InboxFilter, InboxRow, Search, inbox_alerts, inbox_page
from db.pool import limit_statement_time
from db.tenants import Tenant
from domain.tenant_settings import TenantSettings, parse_tenant_settings
from webapp.admin.access import tenant_view
from webapp.admin.i18n import _
from webapp.db import transaction
from webapp.inbox import blueprint

PAGE_SIZE = 50
# A refresh redraws at most this many rows (ten pages of "load more").
REFRESH_ROWS = 500
# A search in message text may scan many rows where the server has no trigram index.
SEARCH_TIME = timedelta(seconds=3)
FILTER_LABELS = {
    InboxFilter.ALL: "All",
    InboxFilter.NEEDS_REPLY: "Needs reply",
    InboxFilter.PERSON: "With a person",
    InboxFilter.BOT: "With the assistant",
    InboxFilter.CLOSED: "Closed",
    InboxFilter.MINE: "Mine",
    InboxFilter.UNASSIGNED: "Unassigned",
}


@blueprint.get("/t/<slug>/inbox")
@tenant_view()
def conversations(tenant: Tenant) -> str:
    view = _filter(request.args.get("filter"))
    query = " ".join(request.args.get("q", "").split())[:100]
    search = Search.of(query)
    part = request.args.get("part")
    after = Cursor.parse(request.args.get("after"))
    # "Load more" is told where the page began; a page or a refresh begins at `after`.
    start = Cursor.parse(request.args.get("start")) if part == "rows" else after
    through = Cursor.parse(request.args.get("through")) if part == "refresh" else None
    rows: list[InboxRow] = []
    has_more = False
    search_failed = False
    alerts = None
    try:
        with transaction() as conn:
            alerts = inbox_alerts(conn, tenant.id, _alert_after(tenant))
            rows, has_more = _rows(conn, tenant, view, search, after, through)
    except QueryTimedOut:
        if alerts is None:
            raise
        search_failed = True
    context = {
        "tenant": tenant,
        "view": view,
        "query": query,
        "rows": rows,
        "has_more": has_more,
        "alerts": alerts,
        "search_failed": search_failed,
        # Where the page on screen starts (a refresh redraws from there) and ends.
        "start": start.token() if start else "",
        "through": rows[-1].cursor.token() if rows else "",
        "filters": FILTER_LABELS,
        "now": datetime.now(tz=g.zone),
        "waited": waited,
        "conversation_url": _conversation_url,
    }
    if part == "rows":
        # An empty next page (its rows moved up meanwhile) says nothing: the list is above it.
        return render_template("inbox/more.html", part_rows=True, **context)
    if part == "refresh":
        context["through"] = through.token() if through else context["through"]
        return render_template("inbox/refresh.html", **context)
    return render_template("inbox/conversations.html", **context)


def _rows(
    conn: Connection[object],
    tenant: Tenant,
    view: InboxFilter,
    search: Search | None,
    after: Cursor | None,
    through: Cursor | None,
) -> tuple[list[InboxRow], bool]:
    """The rows and whether more follow them."""
    if search is not None:
        limit_statement_time(conn, SEARCH_TIME)
    wanted = REFRESH_ROWS if through is not None else PAGE_SIZE
    rows = inbox_page(
        conn,
        tenant.id,
        g.user.id,
        view=view,
        search=search,
        after=after,
        through=through,
        limit=wanted + 1,
    )
    if through is not None and len(rows) <= wanted:
        # Every row down to `through` is there: is anything below it?
        last = rows[-1].cursor if rows else through
        below = inbox_page(
            conn, tenant.id, g.user.id, view=view, search=search, after=last, limit=1
        )
        return rows, bool(below)
    return rows[:wanted], len(rows) > wanted


def _filter(raw: str | None) -> InboxFilter:
    try:
        return InboxFilter(raw or InboxFilter.ALL)
    except ValueError:
        return InboxFilter.ALL


def _alert_after(tenant: Tenant) -> timedelta:
    try:
        settings = parse_tenant_settings(tenant.settings or {})
    except ValueError:
        # Another key stored wrong must not take the inbox down: the default applies.
        settings = TenantSettings()
    return timedelta(minutes=settings.reply_alert_minutes)


def waited(since: datetime | None, now: datetime) -> str:
    """How long the customer has waited, in words: "3 min", "2 h 5 min", "4 d"."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return _("{minutes} min", minutes=minutes)
    if minutes < 24 * 60:
        return _("{hours} h {minutes} min", hours=minutes // 60, minutes=minutes % 60)
    return _("{days} d", days=minutes // (24 * 60))


def _conversation_url(tenant: Tenant, conversation_id: int) -> str:
    # The conversation page is another module of this blueprint; its URL is fixed by contract.
    if "inbox.conversation" in current_app.view_functions:
        return url_for("inbox.conversation", slug=tenant.slug, conversation_id=conversation_id)
    return f"/t/{tenant.slug}/c/{conversation_id}"
