"""WhatsApp Cloud API sends: request bodies, error classification, response parsing.

Builders check Meta's documented limits up front, so a request Meta would reject for its shape
fails here with a ValueError (a bug to fix) instead of as a dead-lettered send. Error messages name
the field, never its value: bodies are chat text and `to` is a phone number.
"""

import json
import re
from enum import StrEnum
from typing import Any

from domain.channels.whatsapp import parse_error
from domain.errors import UnknownMessageShape
from domain.models import ProviderError

Json = dict[str, Any]

MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})
# Audio and sticker messages have no caption in Meta's media object.
CAPTIONED_KINDS = frozenset({"image", "video", "document"})

# Meta's documented limits, in characters.
MAX_TEXT_BODY = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 512
MAX_TEMPLATE_NAME = 512
MAX_BUTTONS = 3
MAX_BUTTON_ID = 256
MAX_BUTTON_TITLE = 20
MAX_BUTTONS_BODY = 1024
MAX_LIST_BODY = 4096
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_LIST_BUTTON = 20
MAX_SECTIONS = 10
MAX_ROWS = 10
MAX_SECTION_TITLE = 24
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72

# '+' optional; E.164 allows at most 15 digits and no country code starts with 0.
_RECIPIENT = re.compile(r"\+?[1-9][0-9]{5,14}")


# --- request builders -----------------------------------------------------------------------


def text_request(
    to: str,
    body: str,
    *,
    preview_url: bool = False,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> Json:
    text = {"preview_url": preview_url, "body": _bounded(body, "body", MAX_TEXT_BODY)}
    return _message(to, "text", text, reply_to, callback_data)


def template_request(
    to: str,
    name: str,
    language: str,
    components: list[Json] | None = None,
    *,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> Json:
    template: Json = {
        "name": _bounded(name, "template name", MAX_TEMPLATE_NAME),
        "language": {"code": _bounded(language, "template language")},
    }
    if components:
        template["components"] = list(components)
    return _message(to, "template", template, reply_to, callback_data)


def media_request(
    to: str,
    kind: str,
    *,
    media_id: str | None = None,
    link: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> Json:
    if kind not in MEDIA_KINDS:
        raise ValueError(f"media kind must be one of {sorted(MEDIA_KINDS)}")
    media = _media_object(media_id, link)
    if caption is not None:
        if kind not in CAPTIONED_KINDS:
            raise ValueError(f"{kind} messages take no caption")
        media["caption"] = _bounded(caption, "caption", MAX_CAPTION)
    if filename is not None:
        if kind != "document":
            raise ValueError("only documents take a filename")
        media["filename"] = _bounded(filename, "filename")
    return _message(to, kind, media, reply_to, callback_data)


def buttons_request(
    to: str,
    body: str,
    buttons: list[tuple[str, str]],
    *,
    header: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> Json:
    """Reply buttons: (id, title) pairs, 1 to 3, ids and titles unique."""
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"a buttons message takes 1 to {MAX_BUTTONS} buttons")
    ids = [_bounded(button_id, "button id", MAX_BUTTON_ID) for button_id, _ in buttons]
    titles = [_bounded(title, "button title", MAX_BUTTON_TITLE) for _, title in buttons]
    _unique(ids, "button ids")
    _unique(titles, "button titles")
    interactive: Json = {
        "type": "button",
        "body": {"text": _bounded(body, "body", MAX_BUTTONS_BODY)},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": button_id, "title": title}}
                for button_id, title in zip(ids, titles, strict=True)
            ]
        },
    }
    _header_footer(interactive, header, footer)
    return _message(to, "interactive", interactive, reply_to, callback_data)


def list_request(
    to: str,
    body: str,
    button: str,
    sections: list[tuple[str, list[tuple[str, str, str | None]]]],
    *,
    header: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> Json:
    """A list: (section title, [(row id, row title, description or None)]) sections.

    At most 10 sections and 10 rows across all of them; a lone section may have an empty title.
    """
    if not 1 <= len(sections) <= MAX_SECTIONS:
        raise ValueError(f"a list takes 1 to {MAX_SECTIONS} sections")
    if sum(len(rows) for _, rows in sections) > MAX_ROWS:
        raise ValueError(f"a list takes at most {MAX_ROWS} rows across its sections")
    built = [_section(title, rows, titled=len(sections) > 1) for title, rows in sections]
    _unique([row["id"] for section in built for row in section["rows"]], "row ids")
    interactive: Json = {
        "type": "list",
        "body": {"text": _bounded(body, "body", MAX_LIST_BODY)},
        "action": {"button": _bounded(button, "list button", MAX_LIST_BUTTON), "sections": built},
    }
    _header_footer(interactive, header, footer)
    return _message(to, "interactive", interactive, reply_to, callback_data)


def mark_read_request(message_id: str, *, typing: bool) -> Json:
    """Mark an inbound message read; with `typing`, show the typing bubble (Meta drops it after
    25 s or at our next message)."""
    request: Json = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": _bounded(message_id, "message_id"),
    }
    if typing:
        request["typing_indicator"] = {"type": "text"}
    return request


def _message(
    to: str, kind: str, content: Json, reply_to: str | None, callback_data: str | None
) -> Json:
    if not isinstance(to, str) or not _RECIPIENT.fullmatch(to):
        raise ValueError("to must be an E.164 number, '+' optional")
    request: Json = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: content,
    }
    if reply_to is not None:
        request["context"] = {"message_id": _bounded(reply_to, "reply_to")}
    if callback_data is not None:
        request["biz_opaque_callback_data"] = _bounded(
            callback_data, "callback_data", MAX_CALLBACK_DATA
        )
    return request


def _media_object(media_id: str | None, link: str | None) -> Json:
    if media_id is not None and link is None:
        return {"id": _bounded(media_id, "media_id")}
    if link is not None and media_id is None:
        if not _bounded(link, "link").startswith(("https://", "http://")):
            raise ValueError("link must be an http(s) URL")
        return {"link": link}
    raise ValueError("give exactly one of media_id and link")


def _section(title: str, rows: list[tuple[str, str, str | None]], *, titled: bool) -> Json:
    if not rows:
        raise ValueError("every list section needs at least one row")
    section: Json = {}
    if titled or title:
        section["title"] = _bounded(title, "section title", MAX_SECTION_TITLE)
    section["rows"] = [_row(*row) for row in rows]
    return section


def _row(row_id: str, title: str, description: str | None) -> Json:
    row = {
        "id": _bounded(row_id, "row id", MAX_ROW_ID),
        "title": _bounded(title, "row title", MAX_ROW_TITLE),
    }
    if description is not None:
        row["description"] = _bounded(description, "row description", MAX_ROW_DESCRIPTION)
    return row


def _header_footer(interactive: Json, header: str | None, footer: str | None) -> None:
    if header is not None:
        interactive["header"] = {"type": "text", "text": _bounded(header, "header", MAX_HEADER)}
    if footer is not None:
        interactive["footer"] = {"text": _bounded(footer, "footer", MAX_FOOTER)}


def _bounded(value: str, what: str, limit: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    return value


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must be unique")


# --- outcomes -------------------------------------------------------------------------------


class SendErrorKind(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    # Permanent, and every other send of the tenant fails the same way: pause it, alert someone.
    TOKEN = "token"  # noqa: S105 (a kind of error, not a credential)


_TOKEN_CODES = frozenset({0, 190})
_RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057})
_PERMANENT_CODES = frozenset(
    {100, 368, 131008, 131009, 131021, 131026, 131031, 131047, 131049, 131050, 133010}
)


def classify(http_status: int, code: int | None) -> SendErrorKind:
    """What to do about a send the API answered with an error: Meta's code first, then HTTP."""
    if code in _TOKEN_CODES:
        return SendErrorKind.TOKEN
    if code in _RETRYABLE_CODES:
        return SendErrorKind.RETRYABLE
    # 132xxx: template errors (missing, paused, wrong parameters).
    if code in _PERMANENT_CODES or (code is not None and 132000 <= code <= 132999):
        return SendErrorKind.PERMANENT
    # 408: the request did not arrive in time, so it was never processed.
    if http_status >= 500 or http_status in (408, 429):
        return SendErrorKind.RETRYABLE
    # Any other 4xx (or a 3xx we do not follow) says this request will not be accepted as it
    # stands; resending the same bytes only delays the dead letter that makes it visible.
    return SendErrorKind.PERMANENT


def parse_error_body(body: bytes | str | Json) -> ProviderError | None:
    """The Graph API error in a response body, or None if it holds none (HTML, empty, junk)."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return None
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    try:
        return parse_error(body)
    except UnknownMessageShape:
        return None


def parse_send_response(body: Json) -> str:
    """The wamid of an accepted send: `messages[0].id`."""
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, dict) else None
    if not isinstance(wamid, str) or not wamid:
        raise UnknownMessageShape("send response has no messages[0].id")
    return wamid
