"""The operations pages' reads: dead letters filtered and searched, quarantine, per-tenant
backlogs and the run trace of a message. Every read takes the tenant it is scoped to (None: all,
for operators)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row

from db.dead_letters import _COLUMNS as LETTER_COLUMNS
from db.dead_letters import DeadLetter
from db.events import QuarantinedBody


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters a page lists, counts or acts on."""

    tenant_id: int | None = None
    state: str | None = "dead"
    actor: str | None = None
    # The exception's class, fully qualified or by its short name.
    error: str | None = None
    since: datetime | None = None
    # A search resolved (see `search_targets`): None means no search.
    search: "SearchTargets | None" = None


@dataclass(frozen=True)
class SearchTargets:
    """What a phone number, provider message id or conversation id identifies, in the scope."""

    conversation_ids: list[int] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    inbound_event_ids: list[int] = field(default_factory=list)


# At most this many conversations or messages per search term (a phone number has a few).
_SEARCH_CAP = 50


def search_targets(
    conn: Connection[object], term: str, tenant_id: int | None, phone: str | None
) -> SearchTargets:
    """The conversations, messages and inbound events `term` names: as a conversation id, as a
    provider message id (inbound or outbound), or `phone` (E.164) as a contact's number."""
    conversation_id = int(term) if term.isascii() and term.isdigit() and len(term) < 18 else None
    cur = conn.cursor(row_factory=tuple_row)
    params = {
        "tenant": tenant_id,
        "term": term,
        "conversation": conversation_id,
        "phone": phone,
        "cap": _SEARCH_CAP,
    }
    conversations = [
        row[0]
        for row in cur.execute(
            """
            (SELECT v.id FROM conversations v
             WHERE v.id = %(conversation)s
               AND (%(tenant)s::bigint IS NULL OR v.tenant_id = %(tenant)s))
            UNION
            (SELECT v.id FROM contacts c JOIN conversations v ON v.contact_id = c.id
             WHERE c.phone_e164 = %(phone)s
               AND (%(tenant)s::bigint IS NULL OR c.tenant_id = %(tenant)s)
             LIMIT %(cap)s)
            """,
            params,
        ).fetchall()
    ]
    # Per tenant, so each lookup uses the (tenant_id, channel, provider id) unique indexes.
    rows = cur.execute(
        """
        SELECT m.id, e.id FROM tenants t
        LEFT JOIN LATERAL (
            SELECT id FROM messages
            WHERE tenant_id = t.id AND channel = 'whatsapp' AND provider_message_id = %(term)s
        ) m ON true
        LEFT JOIN LATERAL (
            SELECT id FROM inbound_events
            WHERE tenant_id = t.id AND channel = 'whatsapp' AND provider_event_id = %(term)s
        ) e ON true
        WHERE (%(tenant)s::bigint IS NULL OR t.id = %(tenant)s)
          AND (m.id IS NOT NULL OR e.id IS NOT NULL)
        LIMIT %(cap)s
        """,
        params,
    ).fetchall()
    return SearchTargets(
        conversation_ids=conversations,
        message_ids=[m for m, _ in rows if m is not None],
        inbound_event_ids=[e for _, e in rows if e is not None],
    )


_WHERE = """
    (%(tenant)s::bigint IS NULL OR tenant_id = %(tenant)s)
    AND (%(state)s::text IS NULL OR state = %(state)s)
    AND (%(actor)s::text IS NULL OR actor = %(actor)s)
    AND (%(error)s::text IS NULL OR exception_type = %(error)s
         OR exception_type LIKE '%%.' || %(error)s)
    AND (%(since)s::timestamptz IS NULL OR last_failed_at >= %(since)s)
    AND (NOT %(searching)s
         OR conversation_id = ANY(%(conversations)s)
         OR related ->> 'message_id' = ANY(%(messages)s)
         OR related ->> 'inbound_event_id' = ANY(%(events)s))
"""


def _params(letters: LetterFilter) -> dict[str, Any]:
    search = letters.search or SearchTargets()
    return {
        "tenant": letters.tenant_id,
        "state": letters.state,
        "actor": letters.actor,
        "error": letters.error,
        "since": letters.since,
        "searching": letters.search is not None,
        "conversations": search.conversation_ids,
        "messages": [str(i) for i in search.message_ids],
        "events": [str(i) for i in search.inbound_event_ids],
    }


def dead_letter_page(
    conn: Connection[object],
    letters: LetterFilter,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[DeadLetter]:
    """Newest failure first; `after` is the (last_failed_at, id) of the previous page's last."""
    cur = conn.cursor(row_factory=class_row(DeadLetter))
    return cur.execute(
        f"""
        SELECT {LETTER_COLUMNS} FROM dead_letters
        WHERE {_WHERE}
          AND (%(after_at)s::timestamptz IS NULL
               OR (last_failed_at, id) < (%(after_at)s, %(after_id)s))
        ORDER BY last_failed_at DESC, id DESC
        LIMIT %(limit)s
        """,
        {
            **_params(letters),
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    ).fetchall()


def count_dead_letters(conn: Connection[object], letters: LetterFilter) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        f"SELECT count(*) FROM dead_letters WHERE {_WHERE}", _params(letters)
    ).fetchone()
    assert row is not None
    return int(row[0])


def dead_letter_ids(conn: Connection[object], letters: LetterFilter, limit: int) -> list[int]:
    """The ids of the newest `limit` letters the filter matches."""
    cur = conn.cursor(row_factory=tuple_row)
    return [
        row[0]
        for row in cur.execute(
            f"SELECT id FROM dead_letters WHERE {_WHERE}"
            " ORDER BY last_failed_at DESC, id DESC LIMIT %(limit)s",
            {**_params(letters), "limit": limit},
        ).fetchall()
    ]


def dead_letter_in(
    conn: Connection[object], dead_letter_id: int, tenant_id: int | None
) -> DeadLetter | None:
    """The letter, if it is the tenant's (any tenant's for None)."""
    cur = conn.cursor(row_factory=class_row(DeadLetter))
    return cur.execute(
        f"SELECT {LETTER_COLUMNS} FROM dead_letters"
        " WHERE id = %s AND (%s::bigint IS NULL OR tenant_id = %s)",
        (dead_letter_id, tenant_id, tenant_id),
    ).fetchone()


@dataclass(frozen=True)
class QuarantineRow:
    id: int
    tenant_id: int
    channel: str
    reason: str
    size: int
    received_at: datetime
    replayed_at: datetime | None


def quarantine_page(
    conn: Connection[object], tenant_id: int | None, *, include_replayed: bool, limit: int
) -> list[QuarantineRow]:
    cur = conn.cursor(row_factory=class_row(QuarantineRow))
    return cur.execute(
        """
        SELECT id, tenant_id, channel, reason, octet_length(body) AS size, received_at,
               replayed_at
        FROM quarantine
        WHERE (%(tenant)s::bigint IS NULL OR tenant_id = %(tenant)s)
          AND (%(all)s OR replayed_at IS NULL)
        ORDER BY received_at DESC, id DESC LIMIT %(limit)s
        """,
        {"tenant": tenant_id, "all": include_replayed, "limit": limit},
    ).fetchall()


def quarantined_in(
    conn: Connection[object], quarantine_id: int, tenant_id: int | None, *, lock: bool = False
) -> QuarantinedBody | None:
    """One quarantined body of the tenant (any for None); `lock` for a replay."""
    cur = conn.cursor(row_factory=class_row(QuarantinedBody))
    return cur.execute(
        "SELECT id, tenant_id, channel, reason, content_type, body, received_at, replayed_at"
        " FROM quarantine WHERE id = %s AND (%s::bigint IS NULL OR tenant_id = %s)"
        + (" FOR UPDATE" if lock else ""),
        (quarantine_id, tenant_id, tenant_id),
    ).fetchone()


@dataclass(frozen=True)
class TenantHealth:
    """One tenant's line on the operator's overview."""

    id: int
    slug: str
    name: str
    dead_letters: int
    quarantined: int
    unsent: int
    unprocessed: int
    oldest_waiting: datetime | None
    open_breakers: int
    paused_at: datetime | None
    paused_reason: str | None


def tenant_health(conn: Connection[object], tenant_id: int | None) -> list[TenantHealth]:
    """Per tenant: what waits or failed. Each count reads a tenant-led or partial index."""
    cur = conn.cursor(row_factory=class_row(TenantHealth))
    return cur.execute(
        """
        SELECT t.id, t.slug, t.name,
            (SELECT count(*) FROM dead_letters d
             WHERE d.tenant_id = t.id AND d.state = 'dead') AS dead_letters,
            (SELECT count(*) FROM quarantine q
             WHERE q.tenant_id = t.id AND q.replayed_at IS NULL) AS quarantined,
            o.unsent, e.unprocessed,
            least(o.oldest, e.oldest) AS oldest_waiting,
            (SELECT count(*) FROM circuit_breakers b
             WHERE b.tenant_id = t.id AND b.state <> 'closed') AS open_breakers,
            t.sending_paused_at AS paused_at, t.sending_paused_reason AS paused_reason
        FROM tenants t
        CROSS JOIN LATERAL (
            SELECT count(*) AS unsent, min(created_at) AS oldest FROM messages m
            WHERE m.tenant_id = t.id AND m.delivery_status IN ('pending', 'sending')
        ) o
        CROSS JOIN LATERAL (
            SELECT count(*) AS unprocessed, min(received_at) AS oldest FROM inbound_events i
            WHERE i.tenant_id = t.id AND i.processed_at IS NULL
        ) e
        WHERE %(tenant)s::bigint IS NULL OR t.id = %(tenant)s
        ORDER BY t.slug
        """,
        {"tenant": tenant_id},
    ).fetchall()


@dataclass(frozen=True)
class BreakerRow:
    tenant_id: int
    slug: str
    channel: str
    state: str
    failures: int
    until: datetime | None
    updated_at: datetime


def breakers(conn: Connection[object], tenant_id: int | None) -> list[BreakerRow]:
    """Every breaker not plainly closed, of the tenant (all for None)."""
    cur = conn.cursor(row_factory=class_row(BreakerRow))
    return cur.execute(
        """
        SELECT b.tenant_id, t.slug, b.channel, b.state, b.failures, b.until, b.updated_at
        FROM circuit_breakers b JOIN tenants t ON t.id = b.tenant_id
        WHERE (b.state <> 'closed' OR b.failures > 0)
          AND (%(tenant)s::bigint IS NULL OR b.tenant_id = %(tenant)s)
        ORDER BY t.slug, b.channel
        """,
        {"tenant": tenant_id},
    ).fetchall()


@dataclass(frozen=True)
class TracedMessage:
    id: int
    tenant_id: int
    conversation_id: int
    direction: str
    type: str
    text: str | None
    provider_message_id: str | None
    inbound_event_id: int | None
    delivery_status: str | None
    created_at: datetime


_TRACED = (
    "m.id, m.tenant_id, m.conversation_id, m.direction, m.type, m.text, m.provider_message_id,"
    " m.inbound_event_id, m.delivery_status, m.created_at"
)


def inbound_message(
    conn: Connection[object], tenant_id: int, message_id: int
) -> TracedMessage | None:
    cur = conn.cursor(row_factory=class_row(TracedMessage))
    return cur.execute(
        f"SELECT {_TRACED} FROM messages m"
        " WHERE m.tenant_id = %s AND m.id = %s AND m.direction = 'in'",
        (tenant_id, message_id),
    ).fetchone()


@dataclass(frozen=True)
class ReplyOutcome:
    reply_id: int
    outcome: str
    source: str
    created_at: datetime
    outbound: TracedMessage | None


def replies_through(
    conn: Connection[object], tenant_id: int, message_id: int
) -> list[ReplyOutcome]:
    """The replies planned through this inbound message, each with the outbound it produced."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        f"""
        SELECT r.id, r.outcome, r.source, r.created_at, {_TRACED}
        FROM replies r LEFT JOIN messages m
            ON m.id = r.outbound_message_id AND m.tenant_id = r.tenant_id
        WHERE r.tenant_id = %s AND r.through_message_id = %s
        ORDER BY r.id
        """,
        (tenant_id, message_id),
    ).fetchall()
    return [
        ReplyOutcome(
            row[0], row[1], row[2], row[3], TracedMessage(*row[4:]) if row[4] is not None else None
        )
        for row in rows
    ]
