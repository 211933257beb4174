"""Quarantine: signed webhook bodies we could not parse, viewed safely and replayed."""

from flask import abort, flash, g, redirect, render_template, request
from psycopg import Connection
from werkzeug.wrappers import Response

from actors.intake import Replay, replay_quarantined
from db import operations
from db.tenants import tenant_by_id
from db.users import record_audit
from webapp.admin.i18n import _
from webapp.db import transaction
from webapp.operations.scope import Scope, scoped

PAGE = 100
# A body is shown up to this many bytes (Meta's envelopes are far smaller; the rest is cut).
SHOWN_BYTES = 64 * 1024
# Binary bodies are shown as hex, this many bytes of them.
HEX_BYTES = 4 * 1024


@scoped("/quarantine")
def quarantine(scope: Scope) -> str:
    include_replayed = request.args.get("all") == "1"
    with transaction() as conn:
        rows = operations.quarantine_page(
            conn, scope.tenant_id, include_replayed=include_replayed, limit=PAGE
        )
    return render_template(
        "operations/quarantine.html", scope=scope, rows=rows, include_replayed=include_replayed
    )


def _readable(body: bytes) -> tuple[str, bool, bool]:
    """(text to show, whether it is a hex dump of binary, whether it was cut)."""
    try:
        text = body[:SHOWN_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or any(c < " " and c not in "\t\r\n" for c in text):
        shown = body[:HEX_BYTES]
        lines = [shown[i : i + 16].hex(" ") for i in range(0, len(shown), 16)]
        return "\n".join(lines), True, len(body) > HEX_BYTES
    return text, False, len(body) > SHOWN_BYTES


@scoped("/quarantine/<int:quarantine_id>")
def quarantined_body(scope: Scope, quarantine_id: int) -> str:
    with transaction() as conn:
        body = operations.quarantined_in(conn, quarantine_id, scope.tenant_id)
    if body is None:
        abort(404)
    text, binary, cut = _readable(bytes(body.body))
    return render_template(
        "operations/quarantined_body.html",
        scope=scope,
        body=body,
        size=len(body.body),
        text=text,
        binary=binary,
        cut=cut,
    )


@scoped("/quarantine/<int:quarantine_id>/replay", methods=("POST",))
def quarantine_replay(scope: Scope, quarantine_id: int) -> Response:
    with transaction() as conn:
        body = operations.quarantined_in(conn, quarantine_id, scope.tenant_id, lock=True)
        if body is None:
            abort(404)
        tenant_id = body.tenant_id
        result = replay_quarantined(conn, body, tenant_by_id(conn, body.tenant_id))
        if result.status == "replayed":
            _audit(conn, tenant_id, quarantine_id, result)
        else:
            # A failed replay may leave the transaction failed: undo it, record the attempt next.
            conn.rollback()
    if result.status != "replayed":
        with transaction() as conn:
            _audit(conn, tenant_id, quarantine_id, result)
    if result.status == "replayed":
        flash(_("Replayed: {count} new events queued.", count=result.new_events), "status")
    elif result.status == "already_replayed":
        flash(_("Already replayed."), "status")
    elif result.status == "unsupported":
        flash(_("Bodies of this channel cannot be replayed."), "error")
    else:
        flash(_("Still not accepted: {reason}", reason=result.detail or ""), "error")
    return redirect(scope.url("quarantined_body", quarantine_id=quarantine_id))


def _audit(conn: Connection, tenant_id: int, quarantine_id: int, result: Replay) -> None:
    record_audit(
        conn,
        tenant_id=tenant_id,
        user_id=g.user.id,
        action="quarantine.replay",
        target=f"quarantine:{quarantine_id}",
        details={"outcome": result.status, "detail": result.detail, "new": result.new_events},
    )
