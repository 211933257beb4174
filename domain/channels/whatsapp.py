"""WhatsApp Cloud API webhooks: signature, verification handshake, envelope splitting, parsing.

`split_envelope` only checks what it needs to key and store events; the detailed parsing
(`parse_message`, `parse_status`, `parse_error`) runs later in the actor on the stored item, so a
shape we do not understand is quarantined there instead of refusing the whole webhook.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from domain.errors import UnknownMessageShape, UnparseableEnvelope
from domain.models import (
    EnvelopeEvent,
    EventKind,
    InboundMessage,
    MediaRef,
    MessageType,
    ProviderError,
    StatusUpdate,
)
from domain.statuses import DeliveryStatus

# Meta puts at most 1,000 updates in one POST; more means the body is not Meta's.
MAX_ITEMS = 1000
# Python's own default cap on int() (which also reads stored payloads back); converting longer
# integers costs quadratic time. Meta's numbers are codes and timestamps of a dozen digits.
MAX_INT_DIGITS = 4300
# The longest id recado stores and indexes, in UTF-8 bytes. Meta's are far shorter (a wamid is
# about 60 bytes, a biz_opaque_callback_data at most 512 characters); a btree index entry holds
# about 2,700 bytes, so a longer id would fail its whole envelope's insert, or its step forever.
MAX_ID_BYTES = 1024
ENVELOPE_OBJECT = "whatsapp_business_account"
SIGNATURE_PREFIX = "sha256="

_HEX = frozenset("0123456789abcdef")
_MEDIA_TYPES = frozenset(
    {
        MessageType.IMAGE,
        MessageType.AUDIO,
        MessageType.VIDEO,
        MessageType.DOCUMENT,
        MessageType.STICKER,
    }
)
_CAPTIONED = frozenset({MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT})
# pending and sending are recado's own pre-send states; Meta never reports them.
_PROVIDER_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED}
)

Json = dict[str, Any]


# --- authentication -------------------------------------------------------------------------


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value Meta would send for `body`."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """True only if `header` is a valid X-Hub-Signature-256 for `body`. Never raises."""
    # An empty secret is a misconfiguration, not a key that should accept anything signed with it.
    if not app_secret or not isinstance(header, str) or not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header[len(SIGNATURE_PREFIX) :].lower()
    if len(given) != 64 or not _HEX.issuperset(given):
        return False
    try:
        expected = sign(app_secret, body)[len(SIGNATURE_PREFIX) :]
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(given, expected)


def handshake_challenge(
    mode: str | None, token: str | None, challenge: str | None, verify_token: str
) -> str | None:
    """The hub.challenge to echo for a valid subscription handshake, else None."""
    if mode != "subscribe" or not token or not challenge or not verify_token:
        return None
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    return challenge


# --- envelope ---------------------------------------------------------------------------------


def split_envelope(body: bytes, *, error_period: str = "") -> list[EnvelopeEvent]:
    """Split a verified webhook body into keyed events, in order, first occurrence of each key;
    each event's `position` is its index in the returned list.

    Value-level errors carry no id: identical reports within one `error_period` (a label the
    caller derives from the time it received the body, e.g. the hour) are one event, so a
    redelivery is not counted twice while the same error tomorrow is still recorded.

    Raises UnparseableEnvelope when the body is not a WhatsApp messages envelope at all.
    """
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnparseableEnvelope(f"body is not UTF-8 (invalid byte at {exc.start})") from None
    try:
        doc = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise UnparseableEnvelope(
            f"body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise UnparseableEnvelope("body is not JSON we can read: nested too deeply") from None
    if not isinstance(doc, dict):
        raise UnparseableEnvelope(f"body is a JSON {_json_type(doc)}, not an object")
    if "object" not in doc:
        raise UnparseableEnvelope("body has no 'object': not a webhook envelope")
    if doc["object"] != ENVELOPE_OBJECT:
        raise UnparseableEnvelope(f"'object' is {doc['object']!r}, expected {ENVELOPE_OBJECT!r}")

    events: dict[str, EnvelopeEvent] = {}
    count = 0
    for i, entry in enumerate(_list_of(doc, "entry", "envelope")):
        if not isinstance(entry, dict):
            raise UnparseableEnvelope(f"entry[{i}] is a {_json_type(entry)}, not an object")
        for j, change in enumerate(_list_of(entry, "changes", f"entry[{i}]")):
            where = f"entry[{i}].changes[{j}]"
            if not isinstance(change, dict):
                raise UnparseableEnvelope(f"{where} is a {_json_type(change)}, not an object")
            # Other subscribed fields (templates, account updates...) are not messages to store.
            if change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                raise UnparseableEnvelope(f"{where}.value is missing or not an object")
            # Count before building anything, so an oversized body costs no more work.
            count += sum(
                len(items)
                for items in (value.get(k) for k in ("messages", "statuses", "errors"))
                if isinstance(items, list)
            )
            if count > MAX_ITEMS:
                raise UnparseableEnvelope(f"more than {MAX_ITEMS} items in one envelope")
            for event in _value_events(value, f"{where}.value", error_period):
                events.setdefault(event.provider_event_id, event)
    return [replace(event, position=n) for n, event in enumerate(events.values())]


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise UnparseableEnvelope(
            f"body is not JSON we can read: an integer of more than {MAX_INT_DIGITS} digits"
        )
    return int(digits)


def storable_events(events: list[EnvelopeEvent]) -> tuple[list[EnvelopeEvent], list[str]]:
    """Split events into those recado can store and why each of the others cannot be.

    An item whose ids are too long to index is left out alone, so the rest of its envelope is
    still stored; the caller quarantines the body for it.
    """
    storable: list[EnvelopeEvent] = []
    refused: list[str] = []
    for n, event in enumerate(events):
        oversize = oversize_id(event.item)
        if oversize is None:
            storable.append(event)
        else:
            refused.append(f"{event.kind.value} item {n}: {oversize}")
    return storable, refused


# The ids of a stored item that PostgreSQL indexes, directly or as part of an event key.
_INDEXED_IDS = (
    ("message", ("id", "from", "from_user_id")),
    ("contact", ("wa_id", "user_id")),
    ("status", ("id", "status", "recipient_id", "recipient_user_id", "biz_opaque_callback_data")),
)


def oversize_id(item: Json) -> str | None:
    """Which id of a stored item is longer than MAX_ID_BYTES (never quoting it), else None."""
    for part, keys in _INDEXED_IDS:
        obj = item.get(part)
        if not isinstance(obj, dict):
            continue
        for key in keys:
            value = obj.get(key)
            # Lone surrogates (from \ud800 escapes) are measured, not refused here.
            size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else 0
            if size > MAX_ID_BYTES:
                return f"{part}.{key} is {size} bytes, more than {MAX_ID_BYTES}"
    return None


def _value_events(value: Json, where: str, error_period: str) -> list[EnvelopeEvent]:
    metadata = value.get("metadata")
    phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    if (
        not isinstance(metadata, dict)
        or not isinstance(phone_number_id, str)
        or not phone_number_id
    ):
        raise UnparseableEnvelope(f"{where}.metadata.phone_number_id is missing")
    raw_contacts = value.get("contacts")
    contacts = (
        [c for c in raw_contacts if isinstance(c, dict)] if isinstance(raw_contacts, list) else []
    )

    events: list[EnvelopeEvent] = []
    for k, message in enumerate(_items(value, "messages", where)):
        key = _required_id(message, "id", f"{where}.messages[{k}]")
        item = {"message": message, "contact": _sender_contact(contacts, message)}
        events.append(_event(EventKind.MESSAGE, key, phone_number_id, item, metadata))
    for k, status in enumerate(_items(value, "statuses", where)):
        at = f"{where}.statuses[{k}]"
        key = f"{_required_id(status, 'id', at)}:{_required_id(status, 'status', at)}"
        events.append(_event(EventKind.STATUS, key, phone_number_id, {"status": status}, metadata))
    for error in _items(value, "errors", where):
        # Value-level errors carry no id; the content itself (per number) is the identity.
        canonical = json.dumps(
            [phone_number_id, error], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        key = "error:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        if error_period:
            key = f"{key}:{error_period}"
        events.append(_event(EventKind.ERROR, key, phone_number_id, {"error": error}, metadata))
    return events


def _event(
    kind: EventKind, key: str, phone_number_id: str, item: Json, metadata: Json
) -> EnvelopeEvent:
    return EnvelopeEvent(kind, key, phone_number_id, {**item, "metadata": metadata})


def _items(value: Json, key: str, where: str) -> list[Json]:
    raw = value.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise UnparseableEnvelope(f"{where}.{key} is a {_json_type(raw)}, not an array")
    for k, obj in enumerate(raw):
        if not isinstance(obj, dict):
            raise UnparseableEnvelope(f"{where}.{key}[{k}] is a {_json_type(obj)}, not an object")
    return raw


def _list_of(obj: Json, key: str, where: str) -> list[Any]:
    raw = obj.get(key)
    if not isinstance(raw, list):
        what = "missing" if raw is None else f"a {_json_type(raw)}, not an array"
        raise UnparseableEnvelope(f"{where} '{key}' is {what}")
    return raw


def _required_id(obj: Json, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise UnparseableEnvelope(f"{where} has no '{key}'")
    return value


def _sender_contact(contacts: list[Json], message: Json) -> Json | None:
    sender, user_id = message.get("from"), message.get("from_user_id")
    for contact in contacts:
        if (sender and contact.get("wa_id") == sender) or (
            user_id and contact.get("user_id") == user_id
        ):
            return contact
    # With several contacts, an unmatched one belongs to someone else: never borrow its name.
    return contacts[0] if len(contacts) == 1 else None


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"


# --- stored items -----------------------------------------------------------------------------


def parse_message(item: Json) -> InboundMessage:
    """Parse a stored message item; unknown types become UNSUPPORTED rather than failing."""
    message = _part(item, "message")
    _refuse_oversize_ids(item)
    contact = item.get("contact")
    contact = contact if isinstance(contact, dict) else {}

    message_id = _str(message, "id")
    if message_id is None:
        raise UnknownMessageShape("message has no 'id'")
    sent_at = _timestamp(message.get("timestamp"), "message")
    wa_id = _str(message, "from")
    user_id = _str(message, "from_user_id") or _str(contact, "user_id")
    # A username-only sender has no 'from' (phone), only a business-scoped 'from_user_id'.
    if wa_id is None and _str(message, "from_user_id") is None:
        raise UnknownMessageShape("message has neither 'from' nor 'from_user_id'")
    wa_id = wa_id or _str(contact, "wa_id")
    raw_type = message.get("type")
    if not isinstance(raw_type, str) or not raw_type:
        raise UnknownMessageShape("message has no 'type'")

    details: Json = {}
    try:
        mtype = MessageType(raw_type)
    except ValueError:
        mtype = MessageType.UNSUPPORTED
        details["original_type"] = raw_type
    body = message.get(raw_type)
    body = body if isinstance(body, dict) else {}

    media: MediaRef | None = None
    if mtype in _MEDIA_TYPES:
        media = _media(mtype, body)
        text = media.caption
        for flag in ("voice", "animated"):
            if flag in body:
                details[flag] = body[flag]
    elif mtype == MessageType.CONTACTS:
        text = _contacts(message.get("contacts"), details)
    else:
        text = _READERS.get(mtype, _no_text)(body, details)

    errors = message.get("errors")
    if isinstance(errors, list) and errors:
        parsed = [_provider_error(e) for e in errors if isinstance(e, dict)]
        details["errors"] = [asdict(e) for e in parsed]
        details["error_codes"] = [e.code for e in parsed]
    context = message.get("context")
    reply_to = _str(context, "id") if isinstance(context, dict) else None
    if isinstance(message.get("referral"), dict):
        details["referral"] = message["referral"]  # click-to-WhatsApp ad the chat started from

    profile = contact.get("profile")
    return InboundMessage(
        provider_message_id=message_id,
        wa_id=wa_id,
        user_id=user_id,
        phone_e164=f"+{wa_id}" if wa_id and wa_id.isascii() and wa_id.isdigit() else None,
        profile_name=_str(profile, "name") if isinstance(profile, dict) else None,
        type=mtype,
        text=text,
        media=media,
        reply_to=reply_to,
        sent_at=sent_at,
        details=details,
    )


def parse_status(item: Json) -> StatusUpdate:
    """Parse a stored status item (sent, delivered, read or failed)."""
    status = _part(item, "status")
    _refuse_oversize_ids(item)
    message_id = _str(status, "id")
    if message_id is None:
        raise UnknownMessageShape("status has no 'id'")
    raw = status.get("status")
    if not isinstance(raw, str) or raw not in _PROVIDER_STATUSES:
        raise UnknownMessageShape(f"unknown delivery status {raw!r}")
    errors = status.get("errors")
    return StatusUpdate(
        provider_message_id=message_id,
        status=DeliveryStatus(raw),
        at=_timestamp(status.get("timestamp"), "status"),
        # A username-only recipient may only be known by its business-scoped id.
        recipient_id=_str(status, "recipient_id") or _str(status, "recipient_user_id"),
        errors=tuple(
            _provider_error(e)
            for e in (errors if isinstance(errors, list) else ())
            if isinstance(e, dict)
        ),
        callback_data=_str(status, "biz_opaque_callback_data"),
    )


def parse_error(item: Json) -> ProviderError:
    """Parse a stored value-level error item (or a bare Meta error object)."""
    error = item.get("error") if isinstance(item, dict) else None
    return _provider_error(error if isinstance(error, dict) else item)


def _provider_error(error: Json) -> ProviderError:
    if not isinstance(error, dict):
        raise UnknownMessageShape("error is not an object")
    code = error.get("code")
    if isinstance(code, str) and code.isascii() and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        raise UnknownMessageShape("error has no numeric 'code'")
    data = error.get("error_data")
    message = _str(error, "message")
    return ProviderError(
        code=code,
        title=_str(error, "title") or message or "",
        message=message,
        details=_str(data, "details") if isinstance(data, dict) else None,
    )


# --- per-type readers: return the human-readable text, fill details ---------------------------


def _no_text(body: Json, details: Json) -> str | None:
    return None


def _text(body: Json, details: Json) -> str | None:
    return _str(body, "body")


def _location(body: Json, details: Json) -> str | None:
    for key in ("latitude", "longitude", "name", "address", "url"):
        if body.get(key) is not None:
            details[key] = body[key]
    summary = ", ".join(s for s in (_str(body, "name"), _str(body, "address")) if s)
    if summary:
        return summary
    lat, long = body.get("latitude"), body.get("longitude")
    return f"{lat}, {long}" if lat is not None and long is not None else None


def _interactive(body: Json, details: Json) -> str | None:
    kind = _str(body, "type")
    details["interactive_type"] = kind
    reply = body.get(kind) if kind else None
    if not isinstance(reply, dict):
        return None
    # button_reply/list_reply: id, title, description; nfm_reply (Flows): name, body, response_json.
    for key in ("id", "title", "description", "name", "body", "response_json"):
        if reply.get(key) is not None:
            details[key] = reply[key]
    return _str(reply, "title") or _str(reply, "body")


def _button(body: Json, details: Json) -> str | None:
    details["payload"] = body.get("payload")
    return _str(body, "text") or _str(body, "payload")


def _reaction(body: Json, details: Json) -> str | None:
    details["reaction_to"] = body.get("message_id")
    emoji = _str(body, "emoji")
    details["emoji"] = emoji  # None: the customer removed their reaction
    return emoji


def _order(body: Json, details: Json) -> str | None:
    details["catalog_id"] = body.get("catalog_id")
    items = body.get("product_items")
    details["product_items"] = items if isinstance(items, list) else []
    return _str(body, "text")


def _system(body: Json, details: Json) -> str | None:
    details["system_type"] = body.get("type")
    for key in ("wa_id", "new_wa_id", "user_id", "new_user_id"):
        if body.get(key) is not None:
            details[key] = body[key]
    return _str(body, "body")


def _unsupported(body: Json, details: Json) -> str | None:
    if _str(body, "type"):
        details["unsupported_type"] = body["type"]  # e.g. 'edit'
    return None


_READERS: dict[MessageType, Callable[[Json, Json], str | None]] = {
    MessageType.TEXT: _text,
    MessageType.LOCATION: _location,
    MessageType.INTERACTIVE: _interactive,
    MessageType.BUTTON: _button,
    MessageType.REACTION: _reaction,
    MessageType.ORDER: _order,
    MessageType.SYSTEM: _system,
    MessageType.UNSUPPORTED: _unsupported,
}


def _media(mtype: MessageType, body: Json) -> MediaRef:
    media_id = _str(body, "id")
    if media_id is None:
        raise UnknownMessageShape(f"{mtype} message has no media id")
    return MediaRef(
        media_id=media_id,
        mime_type=_str(body, "mime_type"),
        sha256=_str(body, "sha256"),
        caption=_str(body, "caption") if mtype in _CAPTIONED else None,
        filename=_str(body, "filename") if mtype == MessageType.DOCUMENT else None,
    )


def _contacts(shared: object, details: Json) -> str | None:
    cards = [c for c in shared if isinstance(c, dict)] if isinstance(shared, list) else []
    details["contacts"] = cards
    names = []
    for card in cards:
        name = card.get("name")
        if isinstance(name, dict):
            full = _str(name, "formatted_name") or " ".join(
                n for n in (_str(name, "first_name"), _str(name, "last_name")) if n
            )
            if full:
                names.append(full)
    return ", ".join(names) or None


# --- small helpers ----------------------------------------------------------------------------


def _refuse_oversize_ids(item: Json) -> None:
    # Stored before ids were measured at the webhook, or inserted by hand: retrying cannot help.
    oversize = oversize_id(item)
    if oversize is not None:
        raise UnknownMessageShape(oversize)


def _part(item: Json, key: str) -> Json:
    part = item.get(key) if isinstance(item, dict) else None
    if not isinstance(part, dict):
        raise UnknownMessageShape(f"item has no '{key}' object")
    return part


def _str(obj: object, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value else None


def _timestamp(raw: object, what: str) -> datetime:
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        seconds = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    else:
        raise UnknownMessageShape(f"{what} has no unix 'timestamp'")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise UnknownMessageShape(f"{what} timestamp {raw!r} is out of range") from None
