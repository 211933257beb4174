"""Channel webhooks: verify, split, store once with the first job, answer. Nothing else."""

import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, request
from psycopg import Connection

from actors.intake import accept_whatsapp_envelope
from db import events, tenants
from db.errors import DatabaseUnavailable, TransactionConflict, translated
from db.tenants import Tenant
from domain.channels import whatsapp
from domain.errors import UnparseableEnvelope
from domain.models import Channel
from webapp.db import run_transaction, transaction, unavailable

logger = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@blueprint.get("/whatsapp/<tenant_slug>")
def whatsapp_handshake(tenant_slug: str) -> Response:
    try:
        with transaction() as conn:
            tenant = _tenant(conn, tenant_slug)
    except DatabaseUnavailable:
        return unavailable()
    if tenant is None or not tenant.wa_verify_token:
        abort(404)
    challenge = whatsapp.handshake_challenge(
        request.args.get("hub.mode"),
        request.args.get("hub.verify_token"),
        request.args.get("hub.challenge"),
        tenant.wa_verify_token,
    )
    if challenge is None:
        abort(403)
    return Response(challenge, mimetype="text/plain")


@blueprint.post("/whatsapp/<tenant_slug>")
def whatsapp_events(tenant_slug: str) -> Response:
    # Reading the body first lets Flask refuse oversized requests (413) before any work.
    body = request.get_data(cache=False)
    # Without a Content-Length (chunked), Werkzeug stops reading at the limit instead of
    # refusing; a byte left over means the body was larger than allowed.
    if (
        request.content_length is None
        and len(body) == current_app.config["MAX_CONTENT_LENGTH"]
        and request.environ["wsgi.input"].read(1)
    ):
        abort(413)
    try:
        run_transaction(lambda conn: _receive(conn, tenant_slug, body))
    except DatabaseUnavailable:
        logger.warning("webhook for %s refused: database unavailable", tenant_slug)
        return unavailable()
    except TransactionConflict as error:
        # Nothing was stored; the provider retries.
        logger.warning("webhook for %s refused: %s", tenant_slug, error)
        return unavailable("database busy")
    return Response("ok\n", mimetype="text/plain")


def _receive(conn: Connection[object], tenant_slug: str, body: bytes) -> None:
    """The tenant, its signature, then the body stored or quarantined."""
    tenant = _tenant(conn, tenant_slug)
    if tenant is None:
        abort(404)
    signature = request.headers.get("X-Hub-Signature-256")
    if not tenant.wa_app_secret or not whatsapp.verify_signature(
        tenant.wa_app_secret, body, signature
    ):
        # Nothing is stored for a request we cannot attribute to the tenant.
        abort(401)
    _store(conn, tenant, body)


def _tenant(conn: Connection[object], slug: str) -> Tenant | None:
    # A NUL (from %00 in the path) names no tenant, and PostgreSQL text cannot even hold it.
    return None if "\x00" in slug else tenants.tenant_by_slug(conn, slug)


def _store(conn: Connection[object], tenant: Tenant, body: bytes) -> None:
    try:
        with translated():
            accepted = accept_whatsapp_envelope(conn, tenant, body, datetime.now(UTC))
    except UnparseableEnvelope as error:
        # The transaction may have failed (a body jsonb refuses). Nothing was written in it (the
        # tenant was only read), so start it over and keep the body as bytes.
        conn.rollback()
        _quarantine(conn, tenant, body, error.reason)
    else:
        if accepted.refused:
            # The rest of the envelope is stored; the body is kept for the items left out.
            more = len(accepted.refused) - 1
            reason = accepted.refused[0] + (f" (and {more} more)" if more else "")
            _quarantine(conn, tenant, body, reason)


def _quarantine(conn: Connection[object], tenant: Tenant, body: bytes, reason: str) -> None:
    content_type = request.content_type
    quarantine_id = events.quarantine_body(
        conn,
        tenant_id=tenant.id,
        channel=Channel.WHATSAPP,
        # The reason can quote the body (a foreign phone_number_id), the content type is the
        # sender's: either may hold what a text column refuses.
        reason=_storable(reason),
        content_type=None if content_type is None else _storable(content_type),
        body=body,
    )
    logger.warning("quarantined webhook body %s for %s: %s", quarantine_id, tenant.slug, reason)


def _storable(text: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates: escape them rather than fail.
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
