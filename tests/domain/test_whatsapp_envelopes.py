import json

from domain.channels import whatsapp
from domain.channels.whatsapp_envelopes import (
    DeliveryReport,
    TextMessage,
    encode,
    status_envelope,
    text_envelope,
)
from domain.models import EventKind, MessageType
from domain.statuses import DeliveryStatus

PHONE_NUMBER_ID = "106540352242922"


def test_text_envelope_splits_into_one_message_event_per_message() -> None:
    envelope = text_envelope(
        PHONE_NUMBER_ID,
        [
            TextMessage("15550100001", "Ana", "wamid.A", "Hello", 1749416383),
            TextMessage("15550100002", "Bo", "wamid.B", "Any slot Friday?", 1749416384),
            TextMessage("15550100001", "Ana", "wamid.C", "Thanks", 1749416385),
        ],
    )

    events = whatsapp.split_envelope(encode(envelope))

    assert [e.provider_event_id for e in events] == ["wamid.A", "wamid.B", "wamid.C"]
    assert {e.kind for e in events} == {EventKind.MESSAGE}
    assert {e.phone_number_id for e in events} == {PHONE_NUMBER_ID}
    parsed = [whatsapp.parse_message(e.item) for e in events]
    assert [(m.wa_id, m.profile_name, m.type, m.text) for m in parsed] == [
        ("15550100001", "Ana", MessageType.TEXT, "Hello"),
        ("15550100002", "Bo", MessageType.TEXT, "Any slot Friday?"),
        ("15550100001", "Ana", MessageType.TEXT, "Thanks"),
    ]
    assert int(parsed[0].sent_at.timestamp()) == 1749416383


def test_text_envelope_lists_each_sender_once_and_accepts_plain_tuples() -> None:
    envelope = text_envelope(
        PHONE_NUMBER_ID,
        [("15550100001", "Ana", "wamid.A", "one", 1), ("15550100001", "Ana", "wamid.B", "two", 2)],
    )

    value = envelope["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": "15550100001"}]
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    # Meta sends timestamps as strings.
    assert value["messages"][1]["timestamp"] == "2"


def test_status_envelope_parses_and_failed_carries_errors() -> None:
    envelope = status_envelope(
        PHONE_NUMBER_ID,
        [
            DeliveryReport("wamid.OUT1", "delivered", "15550100001", 1750030073),
            ("wamid.OUT2", "failed", "15550100002", 1750030074),
        ],
    )

    events = whatsapp.split_envelope(encode(envelope))

    assert [e.kind for e in events] == [EventKind.STATUS, EventKind.STATUS]
    delivered, failed = (whatsapp.parse_status(e.item) for e in events)
    assert delivered.provider_message_id == "wamid.OUT1"
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.errors == ()
    assert failed.status is DeliveryStatus.FAILED
    assert [e.code for e in failed.errors] == [131026]


def test_encode_is_compact_utf8_and_the_signature_covers_those_bytes() -> None:
    envelope = text_envelope(PHONE_NUMBER_ID, [("1555", "Zoë", "wamid.Z", "olá", 1)])

    body = encode(envelope)

    assert body == encode(envelope)
    assert b": " not in body and b", " not in body
    assert json.loads(body) == envelope
    assert "olá".encode() in body
    assert whatsapp.verify_signature("secret", body, whatsapp.sign("secret", body))
    assert not whatsapp.verify_signature("secret", body + b" ", whatsapp.sign("secret", body))
