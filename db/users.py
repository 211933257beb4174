"""Users of the admin pages: accounts, sessions, one-time password links, failed sign-ins, audit.

Session ids and password links are random tokens handed to the browser or printed once; only their
SHA-256 is stored, so whoever reads these tables cannot sign in with what they find.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

ROLES = ("agent", "owner", "operator")


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    tenant_id: int | None
    display_name: str | None
    language: str | None
    disabled_at: datetime | None
    has_password: bool

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def name(self) -> str:
        return self.display_name or self.email.split("@", 1)[0]


_COLUMNS = (
    "u.id, u.email, u.role, u.tenant_id, u.display_name, u.language, u.disabled_at,"
    " u.password_hash IS NOT NULL AS has_password"
)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def normalized_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    conn: Connection[object],
    *,
    email: str,
    role: str,
    tenant_id: int | None,
    display_name: str | None = None,
) -> User:
    cur = conn.cursor(row_factory=class_row(User))
    row = cur.execute(
        f"""
        INSERT INTO users AS u (email, role, tenant_id, display_name) VALUES (%s, %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (normalized_email(email), role, tenant_id, display_name),
    ).fetchone()
    assert row is not None
    return row


def user_by_email(conn: Connection[object], email: str) -> User | None:
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM users u WHERE u.email = %s", (normalized_email(email),)
    ).fetchone()


def user_by_id(conn: Connection[object], user_id: int) -> User | None:
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(f"SELECT {_COLUMNS} FROM users u WHERE u.id = %s", (user_id,)).fetchone()


def users_of_tenant(conn: Connection[object], tenant_id: int) -> list[User]:
    """The tenant's agents and owners who can sign in, by name: assignment choices."""
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(
        f"""
        SELECT {_COLUMNS} FROM users u
        WHERE u.tenant_id = %s AND u.disabled_at IS NULL
        ORDER BY coalesce(u.display_name, u.email)
        """,
        (tenant_id,),
    ).fetchall()


def password_hash_of(conn: Connection[object], user_id: int) -> str | None:
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT password_hash FROM users WHERE id = %s AND disabled_at IS NULL", (user_id,)
        )
        .fetchone()
    )
    return None if row is None else row[0]


def set_password_hash(conn: Connection[object], user_id: int, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def set_language(conn: Connection[object], user_id: int, language: str | None) -> None:
    conn.execute("UPDATE users SET language = %s WHERE id = %s", (language, user_id))


def disable_user(conn: Connection[object], user_id: int) -> None:
    """No more sign-ins, and every open session ends now."""
    conn.execute(
        "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE id = %s", (user_id,)
    )
    conn.execute("DELETE FROM user_sessions WHERE user_id = %s", (user_id,))
    conn.execute("UPDATE password_links SET used_at = now() WHERE user_id = %s", (user_id,))


def create_password_link(conn: Connection[object], user_id: int, valid_for: timedelta) -> str:
    """A new one-time token; earlier unused links of the user stop working."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        "UPDATE password_links SET used_at = now() WHERE user_id = %s AND used_at IS NULL",
        (user_id,),
    )
    conn.execute(
        "INSERT INTO password_links (token_hash, user_id, expires_at) VALUES (%s, %s, now() + %s)",
        (_digest(token), user_id, valid_for),
    )
    return token


def password_link_user(conn: Connection[object], token: str) -> User | None:
    """The enabled user an unused, unexpired link is for."""
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(
        f"""
        SELECT {_COLUMNS} FROM password_links l JOIN users u ON u.id = l.user_id
        WHERE l.token_hash = %s AND l.used_at IS NULL AND l.expires_at > now()
          AND u.disabled_at IS NULL
        """,
        (_digest(token),),
    ).fetchone()


def use_password_link(conn: Connection[object], token: str, password_hash: str) -> User | None:
    """Set the password through the link, once: a second use (or a race) finds it used."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            UPDATE password_links SET used_at = now()
            WHERE token_hash = %s AND used_at IS NULL AND expires_at > now()
            RETURNING user_id
            """,
            (_digest(token),),
        )
        .fetchone()
    )
    if row is None:
        return None
    user = user_by_id(conn, row[0])
    if user is None or user.disabled_at is not None:
        return None
    set_password_hash(conn, user.id, password_hash)
    # A new password ends every session signed in with the old one.
    conn.execute("DELETE FROM user_sessions WHERE user_id = %s", (user.id,))
    return user_by_id(conn, user.id)


def create_session(conn: Connection[object], user_id: int, valid_for: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO user_sessions (token_hash, user_id, expires_at) VALUES (%s, %s, now() + %s)",
        (_digest(token), user_id, valid_for),
    )
    return token


def session_user(conn: Connection[object], token: str) -> User | None:
    """The enabled user of a live session; seen now (at most one write a minute per session)."""
    cur = conn.cursor(row_factory=class_row(User))
    user = cur.execute(
        f"""
        SELECT {_COLUMNS} FROM user_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = %s AND s.expires_at > now() AND u.disabled_at IS NULL
        """,
        (_digest(token),),
    ).fetchone()
    if user is not None:
        conn.execute(
            "UPDATE user_sessions SET last_seen_at = now()"
            " WHERE token_hash = %s AND last_seen_at < now() - interval '1 minute'",
            (_digest(token),),
        )
    return user


def delete_session(conn: Connection[object], token: str) -> None:
    conn.execute("DELETE FROM user_sessions WHERE token_hash = %s", (_digest(token),))


def purge_expired(conn: Connection[object], failures_older_than: timedelta) -> None:
    conn.execute("DELETE FROM user_sessions WHERE expires_at < now()")
    conn.execute("DELETE FROM login_failures WHERE at < now() - %s", (failures_older_than,))


def record_login_failure(conn: Connection[object], email: str, address: str) -> None:
    conn.execute(
        "INSERT INTO login_failures (email, address) VALUES (%s, %s)",
        (normalized_email(email), address),
    )


def login_failures_since(
    conn: Connection[object], email: str, address: str, window: timedelta
) -> tuple[int, int]:
    """Failed sign-ins within `window`: (for this account, from this address)."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            SELECT (SELECT count(*) FROM login_failures WHERE email = %s AND at > now() - %s),
                   (SELECT count(*) FROM login_failures WHERE address = %s AND at > now() - %s)
            """,
            (normalized_email(email), window, address, window),
        )
        .fetchone()
    )
    assert row is not None
    return int(row[0]), int(row[1])


def clear_login_failures(conn: Connection[object], email: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE email = %s", (normalized_email(email),))


def record_audit(
    conn: Connection[object],
    *,
    tenant_id: int | None,
    user_id: int | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Written in the same transaction as the action, so the record and the deed go together."""
    conn.execute(
        "INSERT INTO audit_log (tenant_id, user_id, action, target, details)"
        " VALUES (%s, %s, %s, %s, %s)",
        (tenant_id, user_id, action, target, Jsonb(details or {})),
    )


def list_users(conn: Connection[object], tenant_id: int | None = None) -> list[User]:
    """Every user (or the tenant's), operators first, then by tenant and email."""
    cur = conn.cursor(row_factory=class_row(User))
    if tenant_id is None:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM users u ORDER BY u.tenant_id NULLS FIRST, u.email"
        ).fetchall()
    return cur.execute(
        f"SELECT {_COLUMNS} FROM users u WHERE u.tenant_id = %s ORDER BY u.email", (tenant_id,)
    ).fetchall()
