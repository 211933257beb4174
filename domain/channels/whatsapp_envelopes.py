"""Build WhatsApp Cloud API webhook envelopes, shaped as Meta sends them.

Used by `recado simulate whatsapp`, the benchmark and tests. Pure: ids and timestamps come in.
"""

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

# Placeholders for the parts of an envelope recado does not route on.
DEFAULT_ACCOUNT_ID = "100000000000000"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550100000"


class TextMessage(NamedTuple):
    wa_id: str
    profile_name: str
    wamid: str
    text: str
    timestamp: int


class MediaMessage(NamedTuple):
    wa_id: str
    profile_name: str
    wamid: str
    kind: str  # image | audio | video | document | sticker
    media_id: str
    mime_type: str
    caption: str | None
    timestamp: int


class DeliveryReport(NamedTuple):
    wamid: str
    status: str  # sent | delivered | read | failed
    recipient_wa_id: str
    timestamp: int


def text_envelope(
    phone_number_id: str,
    messages: Iterable[TextMessage | tuple[str, str, str, str, int]],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
) -> dict[str, Any]:
    """One envelope carrying inbound text messages, each with its sender in `contacts`."""
    items = [TextMessage(*m) for m in messages]
    contacts: dict[str, dict[str, Any]] = {}
    for m in items:
        contacts.setdefault(m.wa_id, {"profile": {"name": m.profile_name}, "wa_id": m.wa_id})
    value = _value(phone_number_id, display_phone_number)
    value["contacts"] = list(contacts.values())
    value["messages"] = [
        {
            "from": m.wa_id,
            "id": m.wamid,
            "timestamp": str(m.timestamp),
            "type": "text",
            "text": {"body": m.text},
        }
        for m in items
    ]
    return _envelope(account_id, value)


def media_envelope(
    phone_number_id: str,
    messages: Iterable[MediaMessage],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
) -> dict[str, Any]:
    """One envelope carrying inbound media messages: ids to fetch from the Graph API, as Meta
    sends them (the bytes are never in the webhook)."""
    items = list(messages)
    contacts: dict[str, dict[str, Any]] = {}
    for m in items:
        contacts.setdefault(m.wa_id, {"profile": {"name": m.profile_name}, "wa_id": m.wa_id})
    value = _value(phone_number_id, display_phone_number)
    value["contacts"] = list(contacts.values())
    value["messages"] = []
    for m in items:
        media: dict[str, Any] = {"id": m.media_id, "mime_type": m.mime_type}
        if m.caption is not None:
            media["caption"] = m.caption
        if m.kind == "audio":
            media["voice"] = True
        value["messages"].append(
            {"from": m.wa_id, "id": m.wamid, "timestamp": str(m.timestamp), "type": m.kind,
             m.kind: media}
        )  # fmt: skip
    return _envelope(account_id, value)


def status_envelope(
    phone_number_id: str,
    statuses: Iterable[DeliveryReport | tuple[str, str, str, int]],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    error_code: int = 131026,
    error_title: str = "Message undeliverable",
) -> dict[str, Any]:
    """One envelope carrying delivery statuses; a `failed` status carries Meta's `errors` list."""
    value = _value(phone_number_id, display_phone_number)
    value["statuses"] = []
    for s in (DeliveryReport(*s) for s in statuses):
        item: dict[str, Any] = {
            "id": s.wamid,
            "status": s.status,
            "timestamp": str(s.timestamp),
            "recipient_id": s.recipient_wa_id,
        }
        if s.status == "failed":
            item["errors"] = [{"code": error_code, "title": error_title}]
        value["statuses"].append(item)
    return _envelope(account_id, value)


def encode(envelope: dict[str, Any]) -> bytes:
    """The exact bytes to post and sign: the signature covers these bytes, not the dict."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _value(phone_number_id: str, display_phone_number: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }


def _envelope(account_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": account_id, "changes": [{"value": value, "field": "messages"}]}],
    }
