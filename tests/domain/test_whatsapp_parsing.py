"""WhatsApp webhook parsing against Meta's documented payloads, plus variants derived in code."""

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.channels.whatsapp import (
    MAX_ID_BYTES,
    MAX_INT_DIGITS,
    MAX_ITEMS,
    handshake_challenge,
    parse_error,
    parse_message,
    parse_status,
    sign,
    split_envelope,
    storable_events,
    verify_signature,
)
from domain.errors import UnknownMessageShape, UnparseableEnvelope
from domain.models import (
    DeliveryStatus,
    EnvelopeEvent,
    EventKind,
    InboundMessage,
    MediaRef,
    MessageType,
    ProviderError,
    StatusUpdate,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "whatsapp"

ENVELOPES = [
    "button.json",
    "errors_value_level.json",
    "image.json",
    "interactive_button_reply.json",
    "interactive_list_reply.json",
    "location.json",
    "status_failed.json",
    "status_sent.json",
    "status_v24_minimal.json",
    "text.json",
    "unsupported.json",
]
# Graph API request/response bodies: they share the folder but are not webhooks.
NOT_ENVELOPES = [
    "mark_read_typing_request.json",
    "send_text_request.json",
    "send_text_response.json",
]

PHONE_NUMBER_ID = "106540352242922"
SECRET = "app-secret-for-tests"
BSUID = "US.13491208655302741918"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> dict[str, Any]:
    return json.loads(raw(name))


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def value_of(envelope: dict[str, Any]) -> dict[str, Any]:
    return envelope["entry"][0]["changes"][0]["value"]


def only(events: list[EnvelopeEvent]) -> EnvelopeEvent:
    assert len(events) == 1, events
    return events[0]


def message_from(name: str) -> InboundMessage:
    event = only(split_envelope(raw(name)))
    assert event.kind is EventKind.MESSAGE
    return parse_message(event.item)


def status_from(name: str) -> StatusUpdate:
    event = only(split_envelope(raw(name)))
    assert event.kind is EventKind.STATUS
    return parse_status(event.item)


def with_message(message: dict[str, Any], contacts: list[dict[str, Any]] | None = None) -> bytes:
    """text.json with its message (and optionally contacts) replaced."""
    envelope = doc("text.json")
    value_of(envelope)["messages"] = [message]
    if contacts is not None:
        value_of(envelope)["contacts"] = contacts
    return encode(envelope)


def parse_variant(message: dict[str, Any], contacts: list[dict[str, Any]] | None = None):
    return parse_message(only(split_envelope(with_message(message, contacts))).item)


def base_message(type_: str, body: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": f"wamid.variant-{type_}",
        "timestamp": "1750000000",
        "type": type_,
        type_: body,
    }


# --- the fixture folder ---------------------------------------------------------------------


def test_every_fixture_is_covered():
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(ENVELOPES + NOT_ENVELOPES)


@pytest.mark.parametrize("name", ENVELOPES)
def test_every_envelope_splits_and_parses(name: str):
    events = split_envelope(raw(name))
    assert len(events) == 1
    event = events[0]
    assert event.phone_number_id == PHONE_NUMBER_ID
    assert event.item["metadata"] == {
        "display_phone_number": "15550783881",
        "phone_number_id": PHONE_NUMBER_ID,
    }
    # The item is stored as JSON and re-parsed later: a round trip must not change the result.
    stored = json.loads(json.dumps(event.item))
    parser = {
        EventKind.MESSAGE: parse_message,
        EventKind.STATUS: parse_status,
        EventKind.ERROR: parse_error,
    }[event.kind]
    assert parser(stored) == parser(event.item)
    hash(event)  # stays usable in sets despite its dict payload


@pytest.mark.parametrize("name", NOT_ENVELOPES)
def test_send_bodies_are_not_envelopes(name: str):
    with pytest.raises(UnparseableEnvelope, match="object"):
        split_envelope(raw(name))


# --- messages from the fixtures -------------------------------------------------------------


def test_text():
    event = only(split_envelope(raw("text.json")))
    assert event.kind is EventKind.MESSAGE
    assert event.provider_event_id == (
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    )
    assert event.item["contact"] == {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
    assert parse_message(event.item) == InboundMessage(
        provider_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        wa_id="16505551234",
        user_id=None,
        phone_e164="+16505551234",
        profile_name="Sheena Nelson",
        type=MessageType.TEXT,
        text="Does it come in another color?",
        media=None,
        reply_to=None,
        sent_at=datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
        details={},
    )


def test_image():
    message = message_from("image.json")
    assert message.type is MessageType.IMAGE
    assert message.text == "Taj Mahal"
    assert message.media == MediaRef(
        media_id="1003383421387256",
        mime_type="image/jpeg",
        sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
        caption="Taj Mahal",
        filename=None,
    )
    assert message.sent_at == datetime.fromtimestamp(1744344496, tz=UTC)
    assert message.sent_at.utcoffset().total_seconds() == 0


def test_interactive_list_reply():
    message = message_from("interactive_list_reply.json")
    assert message.type is MessageType.INTERACTIVE
    assert message.text == "Priority Mail Express"
    assert message.details == {
        "interactive_type": "list_reply",
        "id": "priority_express",
        "title": "Priority Mail Express",
        "description": "Next Day to 2 Days",
    }
    assert message.reply_to == "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
    assert message.sent_at == datetime.fromtimestamp(1749854575, tz=UTC)


def test_interactive_button_reply():
    message = message_from("interactive_button_reply.json")
    assert message.type is MessageType.INTERACTIVE
    assert message.text == "Cancel"
    assert message.details == {
        "interactive_type": "button_reply",
        "id": "cancel-button",
        "title": "Cancel",
    }
    assert message.reply_to == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"


def test_template_quick_reply_button():
    message = message_from("button.json")
    assert message.type is MessageType.BUTTON
    assert message.text == "Unsubscribe"
    assert message.details == {"payload": "Unsubscribe"}
    assert message.reply_to == "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
    assert message.provider_message_id == (
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    )


def test_location():
    message = message_from("location.json")
    assert message.type is MessageType.LOCATION
    assert message.text == "Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301"
    assert message.details == {
        "latitude": 37.44221496582,
        "longitude": -122.16165924072,
        "name": "Philz Coffee",
        "address": "101 Forest Ave, Palo Alto, CA 94301",
        "url": "https://philzcoffee.com/",
    }
    assert message.media is None


def test_unsupported_keeps_error_codes():
    message = message_from("unsupported.json")
    assert message.type is MessageType.UNSUPPORTED
    assert message.text is None
    assert message.details["unsupported_type"] == "edit"
    assert message.details["error_codes"] == [131051]
    assert message.details["errors"][0]["title"] == "Message type unknown"
    assert message.details["errors"][0]["details"] == "Message type is currently not supported."


# --- statuses and errors from the fixtures --------------------------------------------------


def test_status_sent():
    event = only(split_envelope(raw("status_sent.json")))
    assert event.provider_event_id == (
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=:sent"
    )
    assert parse_status(event.item) == StatusUpdate(
        provider_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
        status=DeliveryStatus.SENT,
        at=datetime(2025, 6, 15, 23, 27, 53, tzinfo=UTC),
        recipient_id="16505551234",
        errors=(),
        callback_data=None,
    )


def test_status_v24_minimal_matches_the_full_one():
    minimal = only(split_envelope(raw("status_v24_minimal.json")))
    full = only(split_envelope(raw("status_sent.json")))
    # Same message and status: a redelivery in the newer shape must collide with the old one.
    assert minimal.provider_event_id == full.provider_event_id
    assert parse_status(minimal.item) == parse_status(full.item)


def test_status_failed_carries_131049():
    status = status_from("status_failed.json")
    assert status.status is DeliveryStatus.FAILED
    assert (
        status.provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"
    )
    assert status.at == datetime.fromtimestamp(1751142888, tz=UTC)
    assert status.recipient_id == "16505551234"
    title = "This message was not delivered to maintain healthy ecosystem engagement."
    assert status.errors == (
        ProviderError(
            code=131049,
            title=title,
            message=title,
            details=(
                "In order to maintain a healthy ecosystem engagement, "
                "the message failed to be delivered."
            ),
        ),
    )


def test_value_level_error_130429():
    event = only(split_envelope(raw("errors_value_level.json")))
    assert event.kind is EventKind.ERROR
    assert re.fullmatch(r"error:[0-9a-f]{64}", event.provider_event_id)
    assert parse_error(event.item) == ProviderError(
        code=130429,
        title="Rate limit hit",
        message="Rate limit hit",
        details=(
            "Message failed to send because there were too many messages sent from this "
            "phone number in a short period of time"
        ),
    )


def test_value_level_error_key_is_stable_and_per_number():
    envelope = doc("errors_value_level.json")
    first = only(split_envelope(encode(envelope))).provider_event_id
    # Key order and whitespace do not matter: a redelivery keys the same.
    assert only(split_envelope(raw("errors_value_level.json"))).provider_event_id == first
    value_of(envelope)["metadata"]["phone_number_id"] = "999"
    assert only(split_envelope(encode(envelope))).provider_event_id != first
    value_of(envelope)["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    value_of(envelope)["errors"][0]["code"] = 131056
    assert only(split_envelope(encode(envelope))).provider_event_id != first


def test_parse_error_accepts_a_bare_error_object():
    assert parse_error({"code": "4", "title": "Too many calls"}) == ProviderError(
        code=4, title="Too many calls", message=None, details=None
    )
    with pytest.raises(UnknownMessageShape):
        parse_error({"error": {"title": "no code"}})
    with pytest.raises(UnknownMessageShape):
        parse_error({"error": {"code": True, "title": "a bool is not a code"}})


# --- signature and handshake ----------------------------------------------------------------


def test_signature_round_trip():
    body = raw("text.json")
    header = sign(SECRET, body)
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", header)
    assert verify_signature(SECRET, body, header)
    assert verify_signature(SECRET, body, header.upper().replace("SHA256=", "sha256="))


def test_known_signature_value():
    # HMAC-SHA256 of an empty body under key "key" (a published test vector).
    assert sign("key", b"") == (
        "sha256=5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"
    )


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("wrong-secret", raw("text.json"), sign(SECRET, raw("text.json"))),
        (SECRET, raw("text.json") + b" ", sign(SECRET, raw("text.json"))),
        (SECRET, raw("text.json").replace(b"color", b"colour"), sign(SECRET, raw("text.json"))),
        (SECRET, raw("text.json"), None),
        (SECRET, raw("text.json"), ""),
        (SECRET, raw("text.json"), "sha256="),
        (SECRET, raw("text.json"), sign(SECRET, raw("text.json"))[len("sha256=") :]),
        (SECRET, raw("text.json"), "sha1=" + sign(SECRET, raw("text.json"))[len("sha256=") :]),
        (SECRET, raw("text.json"), sign(SECRET, raw("text.json"))[:-1]),
        (SECRET, raw("text.json"), sign(SECRET, raw("text.json")) + "0"),
        (SECRET, raw("text.json"), " " + sign(SECRET, raw("text.json"))),
        (SECRET, raw("text.json"), "sha256=" + "z" * 64),
        (SECRET, raw("text.json"), "sha256=" + "é" * 64),
        ("", raw("text.json"), sign("", raw("text.json"))),
    ],
    ids=[
        "wrong-secret",
        "appended-byte",
        "tampered-body",
        "missing-header",
        "empty-header",
        "prefix-only",
        "no-prefix",
        "wrong-prefix",
        "truncated",
        "too-long",
        "leading-space",
        "not-hex",
        "non-ascii",
        "empty-secret",
    ],
)
def test_signature_rejected(secret: str, body: bytes, header: str | None):
    assert verify_signature(secret, body, header) is False


def test_signature_never_raises_on_odd_input():
    assert verify_signature(SECRET, "not bytes", sign(SECRET, b"not bytes")) is False  # type: ignore[arg-type]
    assert verify_signature(SECRET, b"x", 42) is False  # type: ignore[arg-type]


def test_handshake():
    assert handshake_challenge("subscribe", "tok", "1158201444", "tok") == "1158201444"


@pytest.mark.parametrize(
    ("mode", "token", "challenge", "verify_token"),
    [
        ("subscribe", "wrong", "1158201444", "tok"),
        ("subscribe", "tok2", "1158201444", "tok"),
        ("subscribe", None, "1158201444", "tok"),
        ("unsubscribe", "tok", "1158201444", "tok"),
        (None, "tok", "1158201444", "tok"),
        ("subscribe", "tok", None, "tok"),
        ("subscribe", "tok", "", "tok"),
        ("subscribe", "", "1158201444", ""),
    ],
)
def test_handshake_rejected(mode, token, challenge, verify_token):
    assert handshake_challenge(mode, token, challenge, verify_token) is None


# --- envelopes that are not envelopes -------------------------------------------------------


def _mutated(mutate) -> bytes:
    envelope = doc("text.json")
    mutate(envelope)
    return encode(envelope)


def _set_value(key: str, new: Any):
    return lambda e: value_of(e).__setitem__(key, new)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"<xml/>", "not JSON"),
        (b"[]", "array"),
        (b'"whatsapp_business_account"', "string"),
        (b"null", "null"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (_mutated(lambda e: e.__setitem__("object", "page")), "'page'"),
        (_mutated(lambda e: e.__setitem__("object", "instagram")), "'instagram'"),
        (_mutated(lambda e: e.pop("object")), "object"),
        (_mutated(lambda e: e.pop("entry")), "entry"),
        (_mutated(lambda e: e.__setitem__("entry", {})), "entry"),
        (_mutated(lambda e: e.__setitem__("entry", ["x"])), "entry[0]"),
        (_mutated(lambda e: e["entry"][0].pop("changes")), "changes"),
        (_mutated(lambda e: e["entry"][0].__setitem__("changes", "x")), "changes"),
        (_mutated(lambda e: e["entry"][0].__setitem__("changes", [None])), "changes[0]"),
        (_mutated(lambda e: e["entry"][0]["changes"][0].pop("value")), "value"),
        (_mutated(lambda e: e["entry"][0]["changes"][0].__setitem__("value", [])), "value"),
        (_mutated(lambda e: value_of(e).pop("metadata")), "phone_number_id"),
        (_mutated(lambda e: value_of(e)["metadata"].pop("phone_number_id")), "phone_number_id"),
        (_mutated(lambda e: value_of(e)["metadata"].__setitem__("phone_number_id", 1)), "phone"),
        (_mutated(_set_value("messages", {"id": "x"})), "messages"),
        (_mutated(_set_value("messages", ["x"])), "messages[0]"),
        (_mutated(lambda e: value_of(e)["messages"][0].pop("id")), "'id'"),
        (_mutated(lambda e: value_of(e)["messages"][0].__setitem__("id", "")), "'id'"),
        (_mutated(_set_value("statuses", [{"status": "sent"}])), "'id'"),
        (_mutated(_set_value("statuses", [{"id": "wamid.x"}])), "'status'"),
        (_mutated(_set_value("errors", [42])), "errors[0]"),
    ],
)
def test_unparseable_envelopes(body: bytes, reason: str):
    with pytest.raises(UnparseableEnvelope) as raised:
        split_envelope(body)
    assert reason in raised.value.reason
    assert str(raised.value) == raised.value.reason


def _statuses(n: int) -> bytes:
    envelope = doc("status_v24_minimal.json")
    template = value_of(envelope)["statuses"][0]
    value_of(envelope)["statuses"] = [{**template, "id": f"wamid.{i}"} for i in range(n)]
    return encode(envelope)


def test_max_items():
    assert len(split_envelope(_statuses(MAX_ITEMS))) == MAX_ITEMS
    with pytest.raises(UnparseableEnvelope, match="more than 1000"):
        split_envelope(_statuses(MAX_ITEMS + 1))


def test_max_items_counts_across_changes():
    envelope = json.loads(_statuses(600))
    envelope["entry"].append(copy.deepcopy(envelope["entry"][0]))
    with pytest.raises(UnparseableEnvelope, match="more than 1000"):
        split_envelope(encode(envelope))


# --- envelopes with nothing, or several things, to store ------------------------------------


def test_other_fields_are_skipped():
    envelope = doc("text.json")
    envelope["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    assert split_envelope(encode(envelope)) == []
    # Other fields have other shapes; none of them is validated as a messages value.
    envelope["entry"][0]["changes"][0]["value"] = {"event": "APPROVED"}
    assert split_envelope(encode(envelope)) == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"object": "whatsapp_business_account", "entry": []}',
        b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]}',
        _mutated(lambda e: value_of(e).pop("messages")),
        _mutated(_set_value("messages", [])),
    ],
)
def test_empty_envelopes_are_valid(body: bytes):
    assert split_envelope(body) == []


def test_duplicates_keep_the_first():
    envelope = doc("text.json")
    first = value_of(envelope)["messages"][0]
    second = {**first, "text": {"body": "a redelivered copy"}}
    third = {**first, "id": "wamid.third"}
    value_of(envelope)["messages"] = [first, second, third]
    events = split_envelope(encode(envelope))
    assert parse_message(events[0].item).text == "Does it come in another color?"
    # Positions count the events kept, with no gap where the duplicate was.
    assert [(e.provider_event_id, e.position) for e in events] == [
        (first["id"], 0),
        ("wamid.third", 1),
    ]


def test_one_message_many_statuses_are_distinct_events():
    envelope = doc("status_v24_minimal.json")
    sent = value_of(envelope)["statuses"][0]
    delivered = {**sent, "status": "delivered", "timestamp": "1750030080"}
    read = {**sent, "status": "read", "timestamp": "1750030090"}
    value_of(envelope)["statuses"] = [read, sent, delivered, sent]
    events = split_envelope(encode(envelope))
    assert [e.provider_event_id.rsplit(":", 1)[1] for e in events] == ["read", "sent", "delivered"]
    assert [parse_status(e.item).status for e in events] == [
        DeliveryStatus.READ,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ]


def test_mixed_envelope_keeps_order_across_entries_and_changes():
    envelope = doc("text.json")
    envelope["entry"][0]["changes"].append(doc("status_failed.json")["entry"][0]["changes"][0])
    envelope["entry"].append(doc("errors_value_level.json")["entry"][0])
    envelope["entry"].append(doc("location.json")["entry"][0])
    events = split_envelope(encode(envelope))
    assert [e.kind for e in events] == [
        EventKind.MESSAGE,
        EventKind.STATUS,
        EventKind.ERROR,
        EventKind.MESSAGE,
    ]
    # Each event carries its place in the body: one envelope's messages keep their order.
    assert [e.position for e in events] == [0, 1, 2, 3]


def test_fixtures_reuse_wamids():
    # Meta's samples reuse ids (text/image; button/list_reply/location/unsupported): batched
    # together they collapse to the first, exactly as a redelivery would.
    envelope = doc("text.json")
    envelope["entry"].append(doc("image.json")["entry"][0])
    assert parse_message(only(split_envelope(encode(envelope))).item).type is MessageType.TEXT


def test_each_message_gets_its_own_contact():
    envelope = doc("text.json")
    first = value_of(envelope)["messages"][0]
    other = {**first, "id": "wamid.other", "from": "5511987654321"}
    stranger = {**first, "id": "wamid.stranger", "from": "4915112345678"}
    value_of(envelope)["messages"] = [first, other, stranger]
    value_of(envelope)["contacts"].append({"profile": {"name": "Ana"}, "wa_id": "5511987654321"})
    parsed = [parse_message(e.item) for e in split_envelope(encode(envelope))]
    assert [(m.profile_name, m.phone_e164) for m in parsed] == [
        ("Sheena Nelson", "+16505551234"),
        ("Ana", "+5511987654321"),
        # No contact matches and several exist: never borrow someone else's name.
        (None, "+4915112345678"),
    ]


def test_message_without_contacts():
    envelope = doc("text.json")
    del value_of(envelope)["contacts"]
    event = only(split_envelope(encode(envelope)))
    assert event.item["contact"] is None
    message = parse_message(event.item)
    assert message.profile_name is None
    assert message.wa_id == "16505551234"


# --- business-scoped user ids (usernames) ---------------------------------------------------


def test_bsuid_only_sender():
    # Documented shape once a user adopts a username: no 'from'/'wa_id', only user ids.
    message = {k: v for k, v in base_message("text", {"body": "hi"}).items() if k != "from"}
    message["from_user_id"] = BSUID
    contacts = [{"profile": {"name": "Sheena", "username": "@sheena"}, "user_id": BSUID}]
    event = only(split_envelope(with_message(message, contacts)))
    assert event.item["contact"] == contacts[0]
    parsed = parse_message(event.item)
    assert parsed.wa_id is None
    assert parsed.phone_e164 is None
    assert parsed.user_id == BSUID
    assert parsed.profile_name == "Sheena"
    assert parsed.text == "hi"


def test_bsuid_beside_phone():
    message = {**base_message("text", {"body": "hi"}), "from_user_id": BSUID}
    contacts = [{"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": BSUID}]
    parsed = parse_variant(message, contacts)
    assert (parsed.wa_id, parsed.user_id, parsed.phone_e164) == (
        "16505551234",
        BSUID,
        "+16505551234",
    )


def test_bsuid_contact_is_matched_among_several():
    message = {k: v for k, v in base_message("text", {"body": "hi"}).items() if k != "from"}
    message["from_user_id"] = BSUID
    contacts = [
        {"profile": {"name": "Someone else"}, "user_id": "BR.1502576394655843"},
        {"profile": {"name": "Sheena"}, "user_id": BSUID},
    ]
    assert parse_variant(message, contacts).profile_name == "Sheena"


def test_status_for_a_username_only_recipient():
    envelope = doc("status_v24_minimal.json")
    status = value_of(envelope)["statuses"][0]
    del status["recipient_id"]
    status["recipient_user_id"] = BSUID
    status["biz_opaque_callback_data"] = "outbox:42"
    parsed = parse_status(only(split_envelope(encode(envelope))).item)
    assert parsed.recipient_id == BSUID
    assert parsed.callback_data == "outbox:42"


# --- every message type, from the documented shapes -----------------------------------------


def test_audio_voice_note():
    body = {"mime_type": "audio/ogg; codecs=opus", "sha256": "h", "id": "m-audio", "voice": True}
    parsed = parse_variant(base_message("audio", body))
    assert parsed.type is MessageType.AUDIO
    assert parsed.media == MediaRef("m-audio", "audio/ogg; codecs=opus", "h", None, None)
    assert parsed.text is None
    assert parsed.details == {"voice": True}


def test_video_with_caption():
    body = {"caption": "look", "mime_type": "video/mp4", "sha256": "h", "id": "m-video"}
    parsed = parse_variant(base_message("video", body))
    assert parsed.media == MediaRef("m-video", "video/mp4", "h", "look", None)
    assert parsed.text == "look"


def test_document_with_filename():
    body = {
        "caption": "my exam",
        "filename": "exam.pdf",
        "mime_type": "application/pdf",
        "sha256": "h",
        "id": "m-doc",
    }
    parsed = parse_variant(base_message("document", body))
    assert parsed.media == MediaRef("m-doc", "application/pdf", "h", "my exam", "exam.pdf")


def test_sticker():
    body = {"mime_type": "image/webp", "sha256": "h", "id": "m-sticker", "animated": False}
    parsed = parse_variant(base_message("sticker", body))
    assert parsed.type is MessageType.STICKER
    assert parsed.media is not None and parsed.media.media_id == "m-sticker"
    assert parsed.details == {"animated": False}


def test_media_without_id_is_broken():
    with pytest.raises(UnknownMessageShape, match="media id"):
        parse_variant(base_message("image", {"mime_type": "image/jpeg"}))


def test_contacts():
    cards = [
        {
            "name": {"formatted_name": "Ana Souza", "first_name": "Ana"},
            "phones": [{"phone": "+55"}],
        },
        {"name": {"first_name": "Bo", "last_name": "Li"}},
        {"phones": [{"phone": "+1"}]},
    ]
    message = {k: v for k, v in base_message("contacts", None).items()}
    message["contacts"] = cards
    parsed = parse_variant(message)
    assert parsed.type is MessageType.CONTACTS
    assert parsed.text == "Ana Souza, Bo Li"
    assert parsed.details == {"contacts": cards}


def test_reaction_and_removed_reaction():
    parsed = parse_variant(base_message("reaction", {"message_id": "wamid.target", "emoji": "👍"}))
    assert parsed.type is MessageType.REACTION
    assert parsed.text == "👍"
    assert parsed.details == {"reaction_to": "wamid.target", "emoji": "👍"}
    removed = parse_variant(base_message("reaction", {"message_id": "wamid.target"}))
    assert removed.text is None
    assert removed.details == {"reaction_to": "wamid.target", "emoji": None}


def test_order():
    items = [{"product_retailer_id": "sku-1", "quantity": 2, "item_price": 10.5, "currency": "BRL"}]
    body = {"catalog_id": "cat-1", "text": "for tomorrow", "product_items": items}
    parsed = parse_variant(base_message("order", body))
    assert parsed.type is MessageType.ORDER
    assert parsed.text == "for tomorrow"
    assert parsed.details == {"catalog_id": "cat-1", "product_items": items}


def test_system_number_change():
    body = {
        "body": "User Sheena changed from 16505551234 to 16505559999",
        "wa_id": "16505559999",
        "type": "user_changed_number",
    }
    parsed = parse_variant(base_message("system", body), contacts=[])
    assert parsed.type is MessageType.SYSTEM
    assert parsed.text == body["body"]
    assert parsed.details == {"system_type": "user_changed_number", "wa_id": "16505559999"}
    assert parsed.profile_name is None


def test_flow_reply():
    body = {
        "type": "nfm_reply",
        "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"flow_token": "t"}'},
    }
    parsed = parse_variant(base_message("interactive", body))
    assert parsed.text == "Sent"
    assert parsed.details == {
        "interactive_type": "nfm_reply",
        "name": "flow",
        "body": "Sent",
        "response_json": '{"flow_token": "t"}',
    }


def test_unknown_type_becomes_unsupported():
    parsed = parse_variant(base_message("carrier_pigeon", {"coo": True}))
    assert parsed.type is MessageType.UNSUPPORTED
    assert parsed.details == {"original_type": "carrier_pigeon"}
    assert parsed.text is None


def test_referral_is_kept():
    message = {**base_message("text", {"body": "from the ad"}), "referral": {"source_id": "ad-1"}}
    assert parse_variant(message).details == {"referral": {"source_id": "ad-1"}}


@pytest.mark.parametrize(
    ("drop_or_set", "match"),
    [
        ({"id": None}, "'id'"),
        ({"timestamp": None}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "99999999999999999999"}, "timestamp"),
        ({"from": None}, "'from'"),
        ({"type": None}, "'type'"),
    ],
)
def test_structurally_broken_messages(drop_or_set: dict[str, Any], match: str):
    message = base_message("text", {"body": "hi"})
    for key, new in drop_or_set.items():
        if new is None:
            del message[key]
        else:
            message[key] = new
    item = {"message": message, "contact": None, "metadata": {}}
    with pytest.raises(UnknownMessageShape, match=match):
        parse_message(item)


@pytest.mark.parametrize("item", [{}, {"message": "x"}, {"status": {}}])
def test_items_without_a_message(item: dict[str, Any]):
    with pytest.raises(UnknownMessageShape):
        parse_message(item)


@pytest.mark.parametrize("status", ["deleted", "pending", "sending", "", None, 3])
def test_unknown_delivery_status(status: Any):
    item = json.loads(raw("status_v24_minimal.json"))["entry"][0]["changes"][0]["value"]
    stored = {"status": {**item["statuses"][0], "status": status}, "metadata": item["metadata"]}
    with pytest.raises(UnknownMessageShape, match="status"):
        parse_status(stored)


def test_status_without_timestamp():
    item = only(split_envelope(raw("status_v24_minimal.json"))).item
    broken = {**item, "status": {k: v for k, v in item["status"].items() if k != "timestamp"}}
    with pytest.raises(UnknownMessageShape, match="timestamp"):
        parse_status(broken)


def test_value_level_error_repeats_in_another_period_are_new_events():
    body = (FIXTURES / "errors_value_level.json").read_bytes()
    (first,) = split_envelope(body, error_period="2026-11-22T10")
    (again,) = split_envelope(body, error_period="2026-11-22T10")
    (later,) = split_envelope(body, error_period="2026-11-22T11")
    assert first.provider_event_id == again.provider_event_id
    assert later.provider_event_id != first.provider_event_id


# --- hostile values: huge integers, oversize ids ------------------------------------------


@pytest.mark.parametrize("digits", [MAX_INT_DIGITS + 1, 100_000])
@pytest.mark.parametrize("sign", ["", "-"])
def test_integers_longer_than_python_reads_make_the_body_unparseable(digits: int, sign: str):
    body = raw("text.json").replace(b'"1749416383"', (sign + "9" * digits).encode())
    with pytest.raises(UnparseableEnvelope, match=f"more than {MAX_INT_DIGITS} digits"):
        split_envelope(body)


def test_integers_up_to_the_limit_are_read():
    body = raw("text.json").replace(b'"1749416383"', b"-" + b"9" * MAX_INT_DIGITS)
    assert only(split_envelope(body)).item["message"]["timestamp"] == -int("9" * MAX_INT_DIGITS)


def _with_ids(message: dict[str, Any], status: dict[str, Any]) -> list[EnvelopeEvent]:
    envelope = doc("text.json")
    value_of(envelope)["messages"][0].update(message)
    value_of(envelope)["contacts"][0]["wa_id"] = value_of(envelope)["messages"][0]["from"]
    value_of(envelope)["statuses"] = [
        {"id": "wamid.out", "status": "sent", "timestamp": "1749416383", **status}
    ]
    return split_envelope(encode(envelope))


def test_ids_up_to_the_limit_are_storable():
    at_limit = "é" * (MAX_ID_BYTES // 2)  # two bytes each in UTF-8
    events = _with_ids(
        {"id": at_limit, "from": at_limit}, {"id": at_limit, "biz_opaque_callback_data": at_limit}
    )
    assert storable_events(events) == (events, [])


@pytest.mark.parametrize(
    ("message", "status", "refused"),
    [
        ({"id": "w" * (MAX_ID_BYTES + 1)}, {}, "message item 0: message.id is 1025 bytes"),
        ({"from": "1" * 300_000}, {}, "message item 0: message.from is 300000 bytes"),
        ({"from_user_id": "US." * 400}, {}, "message.from_user_id is 1200 bytes"),
        ({}, {"id": "é" * 513}, "status item 1: status.id is 1026 bytes"),
        ({}, {"status": "s" * 2000}, "status.status is 2000 bytes"),
        ({}, {"recipient_id": "1" * 5000}, "status.recipient_id is 5000 bytes"),
        ({}, {"biz_opaque_callback_data": "c" * 1025}, "status.biz_opaque_callback_data is"),
    ],
)
def test_an_item_with_an_oversize_id_is_refused_alone(message, status, refused: str):
    events = _with_ids(message, status)
    storable, reasons = storable_events(events)
    assert len(storable) == 1
    (reason,) = reasons
    assert refused in reason
    assert f"more than {MAX_ID_BYTES}" in reason
    assert len(reason) < 100  # never the id itself
    # The parsers refuse it too, should such an item be stored (permanent, never retried).
    (kept,) = storable
    (left_out,) = (e for e in events if e is not kept)
    parse = parse_message if left_out.kind is EventKind.MESSAGE else parse_status
    with pytest.raises(UnknownMessageShape, match="bytes, more than"):
        parse(left_out.item)


def test_an_oversize_contact_id_is_refused_with_its_message():
    envelope = doc("text.json")
    value_of(envelope)["contacts"][0]["user_id"] = "U" * 2000
    (event,) = split_envelope(encode(envelope))
    assert storable_events([event]) == (
        [],
        ["message item 0: contact.user_id is 2000 bytes, more than 1024"],
    )
