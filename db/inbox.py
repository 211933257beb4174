"""The agents' conversation list: one tenant's conversations, those needing a reply first.

Order: needs a reply (the customer wrote last), then with a person, then with the assistant, then
closed; newest activity first within each group. The order's key (conversations.inbox_group,
last_activity_at, id; kept by migration 0015's trigger) is also the keyset cursor of the pages.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from psycopg import Connection
from psycopg.rows import class_row, tuple_row

from domain.models import ConversationStatus

# Unread counts stop here: "99+" says enough, and a long-unread conversation costs no more.
UNREAD_CAP = 100
# Characters of the newest message kept for its preview.
PREVIEW_CHARS = 120


class InboxFilter(StrEnum):
    ALL = "all"
    NEEDS_REPLY = "needs_reply"
    PERSON = "person"
    BOT = "bot"
    CLOSED = "closed"
    MINE = "mine"
    UNASSIGNED = "unassigned"


# Each filter's condition on `v` (conversations); %(user_id)s is the signed-in user.
_FILTERS = {
    InboxFilter.ALL: "TRUE",
    InboxFilter.NEEDS_REPLY: "v.inbox_group = 3",
    InboxFilter.PERSON: "v.status = 'handoff'",
    InboxFilter.BOT: "v.status = 'open'",
    InboxFilter.CLOSED: "v.status = 'closed'",
    InboxFilter.MINE: "v.assigned_user_id = %(user_id)s",
    InboxFilter.UNASSIGNED: "v.assigned_user_id IS NULL AND v.status <> 'closed'",
}


@dataclass(frozen=True, order=True)
class Cursor:
    """A row's place in the list's order (compared descending)."""

    group: int
    at: datetime
    id: int

    def token(self) -> str:
        micros = (self.at - _EPOCH) // timedelta(microseconds=1)
        return f"{self.group}.{micros}.{self.id}"

    @classmethod
    def parse(cls, token: str | None) -> "Cursor | None":
        """The cursor a `token()` wrote; None for anything else (the list starts over)."""
        parts = (token or "").split(".")
        if len(parts) != 3 or not all(p.lstrip("-").isdigit() and len(p) <= 20 for p in parts):
            return None
        group, micros, row_id = (int(p) for p in parts)
        try:
            at = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return None
        return cls(group, at, row_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class InboxRow:
    id: int
    status: ConversationStatus
    inbox_group: int
    last_activity_at: datetime
    waiting_since: datetime | None
    contact_name: str | None
    # The phone number when known, else the channel's user id: staff call from it.
    contact_number: str | None
    assigned_user_id: int | None
    assigned_name: str | None
    preview: str | None
    preview_type: str | None
    preview_direction: str | None
    unread: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ConversationStatus(self.status))

    @property
    def needs_reply(self) -> bool:
        return self.inbox_group == 3

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.inbox_group, self.last_activity_at, self.id)


@dataclass(frozen=True)
class Search:
    """What the search box matches: contact name, phone number digits, or message text."""

    pattern: str
    digits: str | None

    @classmethod
    def of(cls, text: str | None) -> "Search | None":
        words = " ".join((text or "").split())[:100]
        if not words:
            return None
        escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        digits = "".join(ch for ch in words if ch.isdigit())
        # Digits only count as a number search when the text is a number ("+34 600-12").
        is_number = len(digits) >= 3 and all(ch.isdigit() or ch in "+-() " for ch in words)
        return cls(f"%{escaped}%", f"%{digits}%" if is_number else None)


_ROWS = """
    SELECT v.id, v.status, v.inbox_group, v.last_activity_at, v.waiting_since,
        c.profile_name AS contact_name,
        COALESCE(c.phone_e164, c.channel_user_id) AS contact_number,
        v.assigned_user_id, COALESCE(u.display_name, split_part(u.email, '@', 1)) AS assigned_name,
        left(m.text, %(preview_chars)s) AS preview, m.type AS preview_type,
        m.direction AS preview_direction,
        (SELECT count(*) FROM (
            SELECT 1 FROM messages n
            WHERE n.conversation_id = v.id AND n.tenant_id = v.tenant_id AND n.direction = 'in'
              AND n.id > COALESCE((
                  SELECT r.read_through_message_id FROM conversation_reads r
                  WHERE r.user_id = %(user_id)s AND r.conversation_id = v.id
                    AND r.tenant_id = v.tenant_id), 0)
            LIMIT %(unread_cap)s) unread) AS unread
    FROM conversations v
    JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = v.tenant_id
    LEFT JOIN users u ON u.id = v.assigned_user_id
        AND (u.tenant_id = v.tenant_id OR u.tenant_id IS NULL)
    LEFT JOIN messages m ON m.id = v.last_message_id AND m.tenant_id = v.tenant_id
"""

# A search is two queries, merged: the contact's name or number, and the text of any message.
_MATCH_CONTACT = """v.contact_id IN (
    SELECT k.id FROM contacts k
    WHERE k.tenant_id = %(tenant_id)s
      AND (k.profile_name ILIKE %(pattern)s OR k.phone_e164 LIKE %(digits)s)
)"""
# Text: the conversations of the matching messages when they are few (trigram index, migration
# 0015); when they are many, the list walked in order, each conversation's messages probed, which
# finds a page soon because matches are dense.
_MATCH_GATHERED = "v.id = ANY(%(ids)s)"
_MATCH_TEXT = """EXISTS (
    SELECT 1 FROM messages s
    WHERE s.conversation_id = v.id AND s.tenant_id = v.tenant_id AND s.text ILIKE %(pattern)s
)"""
# Matching messages gathered at most (~15 ms at 1,000,000 messages): more are dense enough for
# the walk to find a page soon.
GATHER_CAP = 2_000


def inbox_page(
    conn: Connection[object],
    tenant_id: int,
    user_id: int,
    *,
    view: InboxFilter = InboxFilter.ALL,
    search: Search | None = None,
    after: Cursor | None = None,
    through: Cursor | None = None,
    limit: int,
) -> list[InboxRow]:
    """Up to `limit` rows after `after` (the list's start when None) in the inbox's order; with
    `through`, only those up to and including that place (a refresh of the rows on screen)."""
    cur = conn.cursor(row_factory=class_row(InboxRow))
    if search is None:
        query, params = inbox_query(tenant_id, user_id, view, None, after, through, limit)
        return cur.execute(query, params).fetchall()
    found: dict[int, InboxRow] = {}
    ids = _gathered(conn, tenant_id, search)
    for match in (_MATCH_CONTACT, _MATCH_TEXT if ids is None else _MATCH_GATHERED):
        query, params = inbox_query(tenant_id, user_id, view, search, after, through, limit, match)
        params["ids"] = ids
        # Planned for this pattern each time: a plan kept for another would not fit it.
        found.update((row.id, row) for row in cur.execute(query, params, prepare=False))
    return sorted(found.values(), key=lambda row: row.cursor, reverse=True)[:limit]


def _gathered(conn: Connection[object], tenant_id: int, search: Search) -> list[int] | None:
    """The conversations with a message matching `search`; None when there are too many."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        "SELECT conversation_id FROM messages WHERE tenant_id = %s AND text ILIKE %s LIMIT %s",
        (tenant_id, search.pattern, GATHER_CAP + 1),
        prepare=False,
    ).fetchall()
    if len(rows) > GATHER_CAP:
        return None
    return sorted({conversation_id for (conversation_id,) in rows})


def inbox_query(
    tenant_id: int,
    user_id: int,
    view: InboxFilter,
    search: Search | None,
    after: Cursor | None,
    through: Cursor | None,
    limit: int,
    match: str = _MATCH_TEXT,
) -> tuple[str, dict[str, object]]:
    """inbox_page's SQL and parameters (bench/inbox_list.py explains them); a search applies
    one of its two `match` conditions."""
    where = ["v.tenant_id = %(tenant_id)s", _FILTERS[view]]
    if after is not None:
        where.append("(v.inbox_group, v.last_activity_at, v.id) < (%(a_g)s, %(a_at)s, %(a_id)s)")
    if through is not None:
        where.append("(v.inbox_group, v.last_activity_at, v.id) >= (%(t_g)s, %(t_at)s, %(t_id)s)")
    if search is not None:
        where.append(match)
    params: dict[str, object] = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "preview_chars": PREVIEW_CHARS,
        "unread_cap": UNREAD_CAP,
        "limit": limit,
        "pattern": search.pattern if search else None,
        # NULL matches nothing: a search that is no number skips the number columns.
        "digits": search.digits if search else None,
    }
    for prefix, cursor in (("a", after), ("t", through)):
        if cursor is not None:
            params |= {f"{prefix}_g": cursor.group, f"{prefix}_at": cursor.at}
            params[f"{prefix}_id"] = cursor.id
    query = (
        f"{_ROWS} WHERE {' AND '.join(where)}"
        " ORDER BY v.inbox_group DESC, v.last_activity_at DESC, v.id DESC LIMIT %(limit)s"
    )
    return query, params


@dataclass(frozen=True)
class Alerts:
    """Conversations that call for a person now: the page title's and menu's count."""

    # Handed to a person and not yet taken by anyone.
    handed_off: int
    # The customer has waited longer than the tenant's reply_alert_minutes.
    waiting: int
    total: int
    # The newest of them (for the browser's notifications).
    ids: tuple[int, ...]


ALERT_IDS_SHOWN = 50


def inbox_alerts(conn: Connection[object], tenant_id: int, waiting_over: timedelta) -> Alerts:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        SELECT count(*) FILTER (WHERE handed_off), count(*) FILTER (WHERE waiting), count(*),
            (array_agg(id ORDER BY inbox_group DESC, last_activity_at DESC, id DESC))[1:%(shown)s]
        FROM (
            SELECT v.id, v.inbox_group, v.last_activity_at,
                v.status = 'handoff' AND v.assigned_user_id IS NULL AS handed_off,
                v.inbox_group = 3 AND v.waiting_since < now() - %(over)s AS waiting
            FROM conversations v
            WHERE v.tenant_id = %(tenant_id)s
              AND ((v.status = 'handoff' AND v.assigned_user_id IS NULL)
                   OR (v.inbox_group = 3 AND v.waiting_since < now() - %(over)s))
        ) alerting
        """,
        {"tenant_id": tenant_id, "over": waiting_over, "shown": ALERT_IDS_SHOWN},
    ).fetchone()
    assert row is not None
    handed_off, waiting, total, ids = row
    return Alerts(handed_off=handed_off, waiting=waiting, total=total, ids=tuple(ids or ()))
