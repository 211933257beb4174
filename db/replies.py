"""Planned replies: the audit record of every planning outcome that reached its commit."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from domain.models import ReplyOutcome, ReplySource


@dataclass(frozen=True)
class NewReply:
    tenant_id: int
    conversation_id: int
    through_message_id: int
    outcome: ReplyOutcome
    source: ReplySource
    reply_text: str | None
    extraction: dict[str, Any] = field(hash=False)
    intent: str | None = None
    confidence: float | None = None
    fallback_reason: str | None = None
    cache_result: str | None = None
    cache_question: str | None = None
    cache_scope: str | None = None
    cache_class: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    request: dict[str, Any] | None = field(default=None, hash=False)
    response: dict[str, Any] | None = field(default=None, hash=False)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Messages shortened or left out of the prompt, and the characters cut from them.
    prompt_messages_cut: int = 0
    prompt_chars_cut: int = 0
    latency_ms: int | None = None
    cost_usd: Decimal = Decimal(0)
    handoff_reason: str | None = None
    outbound_message_id: int | None = None


@dataclass(frozen=True)
class StoredReply:
    id: int
    tenant_id: int
    conversation_id: int
    through_message_id: int
    outcome: ReplyOutcome
    source: ReplySource
    reply_text: str | None
    intent: str | None
    extraction: dict[str, Any]
    cache_question: str | None
    cache_scope: str | None
    cache_class: str | None
    created_at: datetime

    def __post_init__(self) -> None:
        # The columns' text becomes their enums here, once for every reader.
        object.__setattr__(self, "outcome", ReplyOutcome(self.outcome))
        object.__setattr__(self, "source", ReplySource(self.source))


def insert_reply(conn: Connection[object], reply: NewReply) -> int:
    columns = [name for name in NewReply.__dataclass_fields__]
    values = [getattr(reply, name) for name in columns]
    values = [Jsonb(v) if isinstance(v, dict) else v for v in values]
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        f"INSERT INTO replies ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        " RETURNING id",
        values,
    ).fetchone()
    assert row is not None
    reply_id: int = row[0]
    return reply_id


def reply_by_id(conn: Connection[object], reply_id: int) -> StoredReply | None:
    cur = conn.cursor(row_factory=class_row(StoredReply))
    return cur.execute(
        "SELECT id, tenant_id, conversation_id, through_message_id, outcome, source, reply_text,"
        " intent, extraction, cache_question, cache_scope, cache_class, created_at"
        " FROM replies WHERE id = %s",
        (reply_id,),
    ).fetchone()
