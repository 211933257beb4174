"""A customer's media, fetched from the channel with the tenant's token and streamed through.

The browser only ever sees this route: never the token, never Meta's short-lived URL. Only
images, audio and video of common, inert types are shown inline; anything else (documents, SVG,
HTML...) is a download, and the answer is sandboxed, so a file cannot run as this site's page.
"""

from flask import abort, current_app, render_template
from werkzeug.wrappers import Response

from actors.clients.whatsapp_media import MediaGone, MediaRefused, open_media
from db import timeline
from db.tenants import Tenant
from domain.models import Channel
from domain.settings import Settings
from webapp.admin.access import tenant_view
from webapp.admin.i18n import _
from webapp.db import transaction
from webapp.inbox import blueprint

_INLINE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "audio/aac",
        "audio/mp4",
        "audio/mpeg",
        "audio/amr",
        "audio/ogg",
        "audio/wav",
        "video/mp4",
        "video/3gpp",
    }
)


@blueprint.get("/t/<slug>/media/<int:message_id>")
@tenant_view()
def media(tenant: Tenant, message_id: int) -> Response | tuple[str, int]:
    with transaction() as conn:
        ref = timeline.inbound_media(conn, tenant.id, message_id)
    if ref is None or ref.channel != Channel.WHATSAPP:
        abort(404)
    if not tenant.wa_access_token:
        return _failed(_("This business has no WhatsApp access token configured."), 502)
    settings: Settings = current_app.extensions["recado.settings"]
    try:
        download = open_media(
            settings.whatsapp_api_base_url,
            tenant.wa_access_token,
            ref.media_id,
            phone_number_id=tenant.wa_phone_number_id,
        )
    except MediaGone:
        return _failed(_("WhatsApp no longer has this file."), 404)
    except MediaRefused as refused:
        return _failed(_refusal_text(refused.kind), 502)
    mime = (download.info.mime_type or ref.mime_type or "").split(";")[0].strip().lower()
    inline = mime in _INLINE
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        # The bytes of a message never change; the page shows them again without a new fetch.
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": "inline" if inline else _attachment(ref.filename, ref.type),
    }
    if download.info.size is not None:
        headers["Content-Length"] = str(download.info.size)
    response = Response(
        download.chunks(),
        mimetype=mime if inline else "application/octet-stream",
        headers=headers,
        direct_passthrough=True,
    )
    # A body never read (HEAD, a client gone before the first byte) still frees the connection.
    response.call_on_close(download.close)
    return response


def _attachment(filename: str | None, kind: str) -> str:
    # Only characters that need no quoting survive: the name is the customer's text.
    safe = "".join(c for c in (filename or "") if c.isascii() and (c.isalnum() or c in "._- "))
    return f'attachment; filename="{safe.strip() or kind}"'


def _refusal_text(kind: str) -> str:
    if kind == "too_large":
        return _("The file is too large to show here.")
    if kind == "token":
        return _("WhatsApp refused this business's access token.")
    if kind == "unreachable":
        return _("WhatsApp is not answering. Try again in a moment.")
    return _("WhatsApp's answer could not be used.")


def _failed(message: str, status: int) -> tuple[str, int]:
    page = render_template("admin/error.html", title=_("Media unavailable"), message=message)
    return page, status
