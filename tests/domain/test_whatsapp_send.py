"""WhatsApp send requests against Meta's documented shapes; error classification; responses."""

import json
from pathlib import Path

import pytest

from domain.channels.whatsapp_send import (
    SendErrorKind,
    buttons_request,
    classify,
    list_request,
    mark_read_request,
    media_request,
    parse_error_body,
    parse_send_response,
    template_request,
    text_request,
)
from domain.errors import UnknownMessageShape
from domain.models import ProviderError
from domain.outbox import callback_data

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "whatsapp"
TO = "+16505551234"
ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# --- builders ---------------------------------------------------------------------------------


def test_text_request_equals_metas_example() -> None:
    expected = fixture("send_text_request.json")
    body = expected["text"]["body"]
    assert text_request(TO, body, preview_url=True) == expected


def test_text_request_defaults_and_digits_only_recipient() -> None:
    assert text_request("16505551234", "Hi") == {
        **ENVELOPE,
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Hi"},
    }


def test_reply_to_and_callback_data_are_top_level() -> None:
    request = text_request(TO, "Hi", reply_to="wamid.IN1", callback_data=callback_data(42))
    assert request["context"] == {"message_id": "wamid.IN1"}
    assert request["biz_opaque_callback_data"] == "recado:42"
    assert "context" not in text_request(TO, "Hi")
    assert "biz_opaque_callback_data" not in text_request(TO, "Hi")


@pytest.mark.parametrize(
    "to", ["", "+", "abc", "+0123456789", "+1 650 555 1234", "1234", "+1234567890123456", "١٢٣٤٥٦٧"]
)
def test_recipient_must_be_e164(to: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164") as caught:
        text_request(to, "Hi")
    if len(to) > 3:
        assert to not in str(caught.value)


def test_text_limits() -> None:
    assert text_request(TO, "x" * 4096)["text"]["body"] == "x" * 4096
    with pytest.raises(ValueError, match="longer than 4096") as caught:
        text_request(TO, "secret " * 700)
    assert "secret" not in str(caught.value)
    for body in ("", "   "):
        with pytest.raises(ValueError, match="non-empty"):
            text_request(TO, body)
    with pytest.raises(ValueError, match="callback_data"):
        text_request(TO, "Hi", callback_data="x" * 513)
    assert text_request(TO, "Hi", callback_data="x" * 512)["biz_opaque_callback_data"]
    with pytest.raises(ValueError, match="reply_to"):
        text_request(TO, "Hi", reply_to="")


def test_template_request() -> None:
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]
    request = template_request(
        TO, "reengage", "pt_BR", components, callback_data="recado:7", reply_to="wamid.X"
    )
    assert request == {
        **ENVELOPE,
        "type": "template",
        "template": {"name": "reengage", "language": {"code": "pt_BR"}, "components": components},
        "context": {"message_id": "wamid.X"},
        "biz_opaque_callback_data": "recado:7",
    }
    assert request["template"]["components"] is not components
    assert "components" not in template_request(TO, "hello_world", "en_US")["template"]
    with pytest.raises(ValueError, match="template name"):
        template_request(TO, "", "en_US")
    with pytest.raises(ValueError, match="template language"):
        template_request(TO, "hello_world", "")


def test_media_by_id_and_by_link() -> None:
    assert media_request(TO, "image", media_id="1013859600285441", caption="Aloe") == {
        **ENVELOPE,
        "type": "image",
        "image": {"id": "1013859600285441", "caption": "Aloe"},
    }
    assert media_request(
        TO, "document", link="https://example.com/a.pdf", caption="Invoice", filename="a.pdf"
    )["document"] == {
        "link": "https://example.com/a.pdf",
        "caption": "Invoice",
        "filename": "a.pdf",
    }
    assert media_request(TO, "video", media_id="9", caption="c")["video"] == {
        "id": "9",
        "caption": "c",
    }
    assert media_request(TO, "audio", media_id="9")["audio"] == {"id": "9"}
    sticker = media_request(TO, "sticker", link="https://example.com/s.webp", reply_to="wamid.Y")
    assert sticker["sticker"] == {"link": "https://example.com/s.webp"}
    assert sticker["context"] == {"message_id": "wamid.Y"}


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("image", {}, "exactly one"),
        ("image", {"media_id": "1", "link": "https://example.com/a.png"}, "exactly one"),
        ("image", {"link": "ftp://example.com/a.png"}, "http"),
        ("image", {"media_id": ""}, "media_id"),
        ("audio", {"media_id": "1", "caption": "no"}, "no caption"),
        ("sticker", {"media_id": "1", "caption": "no"}, "no caption"),
        ("image", {"media_id": "1", "filename": "a.png"}, "filename"),
        ("video", {"media_id": "1", "filename": "a.mp4"}, "filename"),
        ("image", {"media_id": "1", "caption": "x" * 1025}, "longer than 1024"),
        ("location", {"media_id": "1"}, "media kind"),
    ],
)
def test_media_rejects(kind: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        media_request(TO, kind, **kwargs)


def test_buttons_request_matches_metas_shape() -> None:
    request = buttons_request(
        TO,
        "Your workshop is at 9am tomorrow.",
        [("change-button", "Change"), ("cancel-button", "Cancel")],
        header="Workshop",
        footer="Lucky Shrub",
        callback_data="recado:1",
    )
    assert request == {
        **ENVELOPE,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Workshop"},
            "body": {"text": "Your workshop is at 9am tomorrow."},
            "footer": {"text": "Lucky Shrub"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "change-button", "title": "Change"}},
                    {"type": "reply", "reply": {"id": "cancel-button", "title": "Cancel"}},
                ]
            },
        },
        "biz_opaque_callback_data": "recado:1",
    }
    bare = buttons_request(TO, "Ok?", [("y", "Yes")])["interactive"]
    assert "header" not in bare and "footer" not in bare


@pytest.mark.parametrize(
    ("buttons", "kwargs", "match"),
    [
        ([], {}, "1 to 3"),
        ([("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")], {}, "1 to 3"),
        ([("a", "x" * 21)], {}, "button title is longer than 20"),
        ([("a", "")], {}, "button title"),
        ([("x" * 257, "A")], {}, "button id is longer than 256"),
        ([("a", "A"), ("a", "B")], {}, "button ids must be unique"),
        ([("a", "A"), ("b", "A")], {}, "button titles must be unique"),
        ([("a", "A")], {"header": "h" * 61}, "header"),
        ([("a", "A")], {"footer": "f" * 61}, "footer"),
    ],
)
def test_buttons_reject(buttons: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        buttons_request(TO, "Body", buttons, **kwargs)


def test_buttons_boundaries_accepted() -> None:
    buttons = [("a" * 256, "x" * 20), ("b", "y" * 20), ("c", "z")]
    request = buttons_request(TO, "b" * 1024, buttons, header="h" * 60, footer="f" * 60)
    assert len(request["interactive"]["action"]["buttons"]) == 3
    with pytest.raises(ValueError, match="longer than 1024"):
        buttons_request(TO, "b" * 1025, buttons)


def test_list_request_matches_metas_shape() -> None:
    request = list_request(
        TO,
        "Which shipping option do you prefer?",
        "Shipping Options",
        [
            (
                "I want it ASAP!",
                [
                    ("priority_express", "Priority Mail Express", "Next Day to 2 Days"),
                    ("priority_mail", "Priority Mail", None),
                ],
            ),
            ("I can wait a bit", [("ground", "USPS Ground", "2 to 5 Days")]),
        ],
        header="Choose Shipping Option",
        footer="Lucky Shrub",
        reply_to="wamid.Z",
    )
    assert request == {
        **ENVELOPE,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "header": {"type": "text", "text": "Choose Shipping Option"},
            "body": {"text": "Which shipping option do you prefer?"},
            "footer": {"text": "Lucky Shrub"},
            "action": {
                "button": "Shipping Options",
                "sections": [
                    {
                        "title": "I want it ASAP!",
                        "rows": [
                            {
                                "id": "priority_express",
                                "title": "Priority Mail Express",
                                "description": "Next Day to 2 Days",
                            },
                            {"id": "priority_mail", "title": "Priority Mail"},
                        ],
                    },
                    {
                        "title": "I can wait a bit",
                        "rows": [
                            {"id": "ground", "title": "USPS Ground", "description": "2 to 5 Days"}
                        ],
                    },
                ],
            },
        },
        "context": {"message_id": "wamid.Z"},
    }


def test_list_single_section_may_be_untitled() -> None:
    sections = list_request(TO, "Pick", "Open", [("", [("a", "A", None)])])["interactive"][
        "action"
    ]["sections"]
    assert sections == [{"rows": [{"id": "a", "title": "A"}]}]


def _rows(n: int, prefix: str = "r") -> list[tuple[str, str, str | None]]:
    return [(f"{prefix}{i}", f"Row {i}", None) for i in range(n)]


@pytest.mark.parametrize(
    ("button", "sections", "match"),
    [
        ("Open", [], "1 to 10 sections"),
        ("Open", [(f"S{i}", _rows(1, f"s{i}-")) for i in range(11)], "1 to 10 sections"),
        ("Open", [("A", _rows(6, "a")), ("B", _rows(5, "b"))], "at most 10 rows"),
        ("Open", [("A", _rows(11))], "at most 10 rows"),
        ("Open", [("A", [])], "at least one row"),
        ("Open", [("A", _rows(1, "a")), ("", _rows(1, "b"))], "section title"),
        ("Open", [("x" * 25, _rows(1))], "section title is longer than 24"),
        ("Open", [("A", [("a", "t" * 25, None)])], "row title is longer than 24"),
        ("Open", [("A", [("a", "T", "d" * 73)])], "row description is longer than 72"),
        ("Open", [("A", [("i" * 201, "T", None)])], "row id is longer than 200"),
        ("Open", [("A", _rows(1)), ("B", _rows(1))], "row ids must be unique"),
        ("x" * 21, [("A", _rows(1))], "list button is longer than 20"),
        ("", [("A", _rows(1))], "list button"),
    ],
)
def test_list_rejects(button: str, sections: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        list_request(TO, "Body", button, sections)


def test_list_boundaries_accepted() -> None:
    sections = [("x" * 24, [("i" * 200, "t" * 24, "d" * 72), *_rows(4, "a")]), ("B", _rows(5, "b"))]
    request = list_request(TO, "b" * 4096, "x" * 20, sections)
    assert sum(len(s["rows"]) for s in request["interactive"]["action"]["sections"]) == 10
    with pytest.raises(ValueError, match="longer than 4096"):
        list_request(TO, "b" * 4097, "x" * 20, sections)


def test_mark_read_requests() -> None:
    expected = fixture("mark_read_typing_request.json")
    assert mark_read_request(expected["message_id"], typing=True) == expected
    plain = {key: value for key, value in expected.items() if key != "typing_indicator"}
    assert mark_read_request(expected["message_id"], typing=False) == plain
    with pytest.raises(ValueError, match="message_id"):
        mark_read_request("", typing=False)


# --- classification ---------------------------------------------------------------------------

R, P, T = SendErrorKind.RETRYABLE, SendErrorKind.PERMANENT, SendErrorKind.TOKEN

CLASSIFICATION = [
    # Retryable codes, whatever the status says.
    *[(400, code, R) for code in (4, 80007, 130429, 131056, 131057, 1, 2, 131000, 131016)],
    (429, 130429, R),
    (500, 131000, R),
    (503, 131016, R),
    # Token: permanent, and the tenant is paused.
    (401, 190, T),
    (400, 0, T),
    (500, 190, T),
    # Permanent codes, even under a 5xx or 429.
    *[
        (400, code, P)
        for code in (100, 131008, 131009, 131021, 131026, 131047, 131049, 131050, 133010)
    ],
    (400, 131031, P),
    (403, 368, P),
    (500, 131026, P),
    (429, 100, P),
    # Templates: the whole 132xxx block and nothing beside it.
    (400, 132000, P),
    (400, 132001, P),
    (500, 132999, P),
    (500, 131999, R),
    (500, 133000, R),
    (400, 131999, P),
    # Unknown or missing code: the HTTP status decides.
    (500, None, R),
    (502, None, R),
    (503, 999999, R),
    (599, 42, R),
    (429, None, R),
    (429, 999999, R),
    (408, None, R),
    (400, None, P),
    (400, 999999, P),
    (401, None, P),
    (404, 803, P),
    (413, None, P),
    (499, None, P),
    (301, None, P),
    (302, 3, P),
]


@pytest.mark.parametrize(("status", "code", "kind"), CLASSIFICATION)
def test_classify(status: int, code: int | None, kind: SendErrorKind) -> None:
    assert classify(status, code) is kind


def test_kinds_are_strings() -> None:
    assert [str(kind) for kind in SendErrorKind] == ["retryable", "permanent", "token"]


# --- error and success bodies -----------------------------------------------------------------

META_ERROR = {
    "error": {
        "message": "(#131047) Re-engagement message",
        "type": "OAuthException",
        "code": 131047,
        "error_subcode": 2494010,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Message failed to send because more than 24 hours have passed",
        },
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
}
EXPECTED_ERROR = ProviderError(
    code=131047,
    title="(#131047) Re-engagement message",
    message="(#131047) Re-engagement message",
    details="Message failed to send because more than 24 hours have passed",
)


@pytest.mark.parametrize(
    "body", [META_ERROR, json.dumps(META_ERROR), json.dumps(META_ERROR).encode("utf-8")]
)
def test_parse_error_body_reads_graph_errors(body: object) -> None:
    assert parse_error_body(body) == EXPECTED_ERROR


def test_parse_error_body_minimal_and_string_code() -> None:
    assert parse_error_body(b'{"error": {"code": "190", "message": "Invalid OAuth"}}') == (
        ProviderError(code=190, title="Invalid OAuth", message="Invalid OAuth", details=None)
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"\xff\xfe\x00garbage",
        "not json",
        b"null",
        b"[]",
        b'"error"',
        {},
        {"error": "boom"},
        {"error": {"message": "no code"}},
        {"error": {"code": True}},
        {"error": {"code": "12a"}},
        {"code": 131047, "title": "bare item, not a response body"},
    ],
)
def test_parse_error_body_tolerates_junk(body: object) -> None:
    assert parse_error_body(body) is None


def test_parse_send_response_reads_the_wamid() -> None:
    assert parse_send_response(fixture("send_text_response.json")) == (
        "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": {}},
        {"messages": ["wamid.X"]},
        {"messages": [{"id": ""}]},
        {"messages": [{"id": 5}]},
        {"success": True},
        [],
    ],
)
def test_parse_send_response_without_wamid(body: object) -> None:
    with pytest.raises(UnknownMessageShape):
        parse_send_response(body)  # type: ignore[arg-type]
