"""Generated webhook requests against the app and the real database.

Properties, for every request: the answer is 2xx or 4xx, never 5xx; a request we cannot
attribute to a tenant (bad signature, unknown tenant, too large) stores nothing; a correctly
signed request for a known tenant is stored (each of its events, with its first job) or
quarantined, a redelivery of stored events adding nothing. (A database outage answers 503;
tests/webapp/test_database_outage.py covers that, not this module.)

`make test` runs 600 examples across the strategies; a full run generates 10,000:

    RECADO_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/webapp/test_webhook_fuzz.py
"""

import hashlib
import io
import itertools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.channels.whatsapp import (
    MAX_ID_BYTES,
    MAX_INT_DIGITS,
    sign,
    split_envelope,
    storable_events,
)
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from domain.models import EventKind
from tests.conftest import fixture_body, signed_headers
from tests.webapp.test_slow_clients import (
    Server,
    chunked_request,
    raw_exchange,
    recado_serve,
    status_of,
)
from webapp import MAX_BODY_BYTES

URL = "/webhooks/whatsapp/acme"
PHONE_NUMBER_ID = "106540352242922"
# The app's connection pool opens connections from its own thread, using `random` for jitter;
# Hypothesis can see that as a strategy touching `random` while it draws.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
TOTAL_EXAMPLES = int(os.environ.get("RECADO_FUZZ_EXAMPLES", "600"))

# Each strategy's share of the budget; they add up to 1.
SHARES = {
    "malformed": 0.14,
    "wrong_types": 0.14,
    "nesting": 0.06,
    "huge": 0.03,
    "unicode": 0.12,
    "signatures": 0.09,
    "tenants": 0.07,
    "hostile_values": 0.14,
    "huge_integers": 0.04,
    "oversize_ids": 0.05,
    "handshake": 0.12,
}


def fuzz(name: str) -> settings:
    # derandomize: the same examples on every run of one budget, and no example database on disk.
    return settings(
        max_examples=max(10, round(TOTAL_EXAMPLES * SHARES[name])),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# --- what the database holds ------------------------------------------------------------------


def snapshot(db) -> tuple[int, int, int]:
    """(inbound events, quarantined bodies, broker rows): one query per look."""
    return db.execute(
        "SELECT (SELECT count(*) FROM inbound_events), (SELECT count(*) FROM quarantine),"
        " (SELECT count(*) FROM dramatiq.queue)"
    ).fetchone()


def error_period() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H")


def assert_refused(response, db, before: tuple[int, int, int]) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    assert snapshot(db) == before


def post_signed(client, db, tenant, body: bytes, content_type: str = "application/json") -> int:
    """Post `body` correctly signed for the tenant, check it was stored or quarantined, and
    return how many events it added."""
    before = snapshot(db)
    period_before = error_period()
    # Through input_stream the exact bytes go out (the client builds a multipart body for data=b"").
    response = client.post(
        URL,
        input_stream=io.BytesIO(body),
        content_length=len(body),
        headers={**signed_headers(body), "Content-Type": content_type},
    )
    if len(body) > MAX_BODY_BYTES:
        assert response.status_code == 413
        assert snapshot(db) == before
        return 0
    assert response.status_code == 200, response.status_code
    events, quarantined, jobs = (a - b for a, b in zip(snapshot(db), before, strict=True))
    assert events == jobs  # every new event has its first job, and no job comes alone
    if quarantined:
        assert quarantined == 1
        (stored,) = db.execute("SELECT body FROM quarantine ORDER BY id DESC LIMIT 1").fetchone()
        assert bytes(stored) == body
        if events == 0:
            return 0
    # Not quarantined whole: the body split cleanly, and each of its storable events is stored
    # for this tenant (now, or by an earlier delivery of the same event); the body is
    # quarantined exactly when some item was refused.
    periods = {period_before, error_period()}
    expected, refused = storable_events(split_envelope(body))
    assert bool(refused) == bool(quarantined)
    candidates = {
        e.provider_event_id: (
            [f"{e.provider_event_id}:{p}" for p in periods]
            if e.kind == EventKind.ERROR
            else [e.provider_event_id]
        )
        for e in expected
    }
    found = {
        key
        for (key,) in db.execute(
            "SELECT provider_event_id FROM inbound_events"
            " WHERE channel = 'whatsapp' AND tenant_id = %s AND provider_event_id = ANY(%s)",
            (tenant.id, [k for keys in candidates.values() for k in keys]),
        ).fetchall()
    }
    missing = [key for key, keys in candidates.items() if not found.intersection(keys)]
    assert missing == []
    assert events <= len(expected)
    return events


# --- building blocks --------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "'; DROP TABLE inbound_events; --",
    "' OR '1'='1",
    "\\x00",
    "%s%s%s",
    "{0}{1}",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "../../etc/passwd",
    "\u202eevil\u202c",
    "\u0000",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\U0001f600\u200d\U0001f469",
    "مرحبا",
    "",
    " ",
    "null",
    "-1",
    "9" * 400,
]
SPECIAL_CHARS = (
    "\x00\x01\x1f\x7f\u00a0\u200b\u200f\u202e\u2028\u2029\ufeff\ufffd"
    "\ud800\udbff\udc00\udfff\U0001f600\U0010ffff"
)

# Text with the characters that trip storage and logs: NUL, lone surrogates, RTL, emoji.
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(alphabet=st.sampled_from(SPECIAL_CHARS) | st.characters(), max_size=40),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


def dumps(value: Any, *, ascii_only: bool) -> bytes:
    """JSON bytes; lone surrogates become \\udXXX escapes (ascii) or invalid UTF-8 (not ascii)."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def valid_envelope(wamid: str = "wamid.fuzz", text: str = "hello") -> dict[str, Any]:
    return text_envelope(PHONE_NUMBER_ID, [TextMessage("16505551234", "Sheena", wamid, text, 1)])


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) into a JSON document, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple, new: Any, *, delete: bool) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


SERIAL = itertools.count()
TEMPLATE = valid_envelope()
TEMPLATE_PATHS = paths(TEMPLATE)


# --- authenticated requests -------------------------------------------------------------------


@st.composite
def malformed_bodies(draw) -> bytes:
    base = draw(st.sampled_from([fixture_body("text.json"), fixture_body("status_failed.json")]))
    how = draw(st.sampled_from(["random", "truncate", "flip", "insert"]))
    if how == "random":
        return draw(st.binary(max_size=400))
    at = draw(st.integers(min_value=0, max_value=len(base)))
    if how == "truncate":
        return base[:at]
    if how == "flip":
        return base[:at] + bytes([draw(st.integers(0, 255))]) + base[at + 1 :]
    return base[:at] + draw(st.binary(min_size=1, max_size=20)) + base[at:]


@fuzz("malformed")
@given(
    body=malformed_bodies(),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "",
            "application/json; charset=latin-1",
            "multipart/form-data; boundary=x",
        ]
    )
    # Any header value a client can send: Latin-1, NUL included, no line breaks.
    | st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=60),
)
def test_malformed_bodies(client, tenant, db, body, content_type):
    post_signed(client, db, tenant, body, content_type)


@fuzz("wrong_types")
@given(
    path=st.sampled_from(TEMPLATE_PATHS),
    new=json_values,
    delete=st.booleans(),
    wamid=st.sampled_from(["wamid.types-1", "wamid.types-2", "wamid.types-3"]),
)
def test_wrong_types_at_every_level(client, tenant, db, path, new, delete, wamid):
    document = replaced(valid_envelope(wamid), path, new, delete=delete and bool(path))
    post_signed(client, db, tenant, dumps(document, ascii_only=True))


@fuzz("nesting")
@given(
    depth=st.integers(min_value=1, max_value=5000) | st.integers(min_value=5000, max_value=200_000),
    container=st.sampled_from(["[]", "{}"]),
    where=st.sampled_from(["root", "text", "metadata", "contact"]),
)
def test_deep_nesting(client, tenant, db, depth, container, where):
    opening, closing = ('{"a":', "}") if container == "{}" else ("[", "]")
    nested = opening * depth + "1" + closing * depth
    if where == "root":
        body = nested
    else:
        marker = "__NESTED__"
        envelope = valid_envelope(f"wamid.nested-{where}", marker)
        if where == "metadata":
            envelope["entry"][0]["changes"][0]["value"]["metadata"]["extra"] = marker
        elif where == "contact":
            envelope["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"] = marker
        body = json.dumps(envelope).replace(json.dumps(marker), nested, 1)
    post_signed(client, db, tenant, body.encode())


@fuzz("huge")
@given(
    size=st.sampled_from([MAX_BODY_BYTES - 400, MAX_BODY_BYTES + 1])
    | st.integers(min_value=10_000, max_value=MAX_BODY_BYTES + 100_000),
    chunk=st.sampled_from(["x", "é", "\U0001f600", "\\u0000", "\u202e"]),
    wamid=st.integers(min_value=0, max_value=5),
)
def test_huge_strings_within_and_beyond_the_limit(client, tenant, db, size, chunk, wamid):
    # The text's encoded size, not its length in characters, is what the limit measures.
    repeat = max(1, size // len(chunk.encode()))
    body = encode(valid_envelope(f"wamid.huge-{wamid}", chunk * repeat))
    post_signed(client, db, tenant, body)


@fuzz("unicode")
@given(
    wamid=hostile_text,
    text=hostile_text,
    name=hostile_text,
    phone_number_id=st.sampled_from([PHONE_NUMBER_ID]) | hostile_text,
    ascii_only=st.booleans(),
)
def test_unicode_everywhere(client, tenant, db, wamid, text, name, phone_number_id, ascii_only):
    envelope = text_envelope(phone_number_id, [TextMessage(name, name, wamid, text, 1)])
    post_signed(client, db, tenant, dumps(envelope, ascii_only=ascii_only))


@fuzz("hostile_values")
@given(
    wamid=hostile_text,
    wa_id=hostile_text | st.from_regex(r"\A\+?[0-9]{1,20}\Z"),
    timestamp=st.integers(min_value=-(10**20), max_value=10**20),
    text=hostile_text
    | st.text(alphabet="ab '\"<>;\u202e\U0001f600", min_size=1, max_size=30).map(
        lambda chunk: (chunk * 10_000)[:10_000]
    ),
    kind=st.sampled_from(["message", "status"]),
)
def test_valid_envelopes_with_hostile_values(
    client, tenant, db, wamid, wa_id, timestamp, text, kind
):
    wamid += f"#{next(SERIAL)}"  # a new event each time, so what is stored is this example's
    if kind == "message":
        envelope = text_envelope(
            PHONE_NUMBER_ID, [TextMessage(wa_id, text, wamid, text, timestamp)]
        )
    else:
        envelope = valid_envelope()
        value = envelope["entry"][0]["changes"][0]["value"]
        del value["messages"], value["contacts"]
        value["statuses"] = [
            {"id": wamid, "status": text, "timestamp": str(timestamp), "recipient_id": wa_id}
        ]
    added = post_signed(client, db, tenant, dumps(envelope, ascii_only=True))
    # What is stored is what was sent: hostile ids arrive as data, not as SQL.
    if kind == "message" and added:
        (stored,) = db.execute(
            "SELECT payload->'message' FROM inbound_events"
            " WHERE channel = 'whatsapp' AND tenant_id = %s AND provider_event_id = %s",
            (tenant.id, wamid),
        ).fetchone()
        assert stored["id"] == wamid
        assert stored["from"] == wa_id
        assert stored["timestamp"] == str(timestamp)


@fuzz("huge_integers")
@given(
    path=st.sampled_from(TEMPLATE_PATHS),
    digits=st.integers(min_value=MAX_INT_DIGITS - 2, max_value=MAX_INT_DIGITS + 2)
    | st.integers(min_value=1, max_value=200_000),
    sign=st.sampled_from(["", "-"]),
    wamid=st.integers(min_value=0, max_value=5),
)
def test_huge_integers_anywhere(client, tenant, db, path, digits, sign, wamid):
    # Written into the JSON text: no Python int of that size is ever built to encode it.
    marker = "__INTEGER__"
    document = replaced(valid_envelope(f"wamid.integer-{wamid}"), path, marker, delete=False)
    body = json.dumps(document).replace(json.dumps(marker), sign + "7" * digits, 1)
    post_signed(client, db, tenant, body.encode())


def incompressible(size: int, seed: int) -> str:
    # Random hex: PostgreSQL compresses index entries, and this does not shrink under its limit.
    return hashlib.shake_256(f"{seed}".encode()).hexdigest(size // 2 + 1)[:size]


ID_FIELDS = [
    ("message", "id"),
    ("message", "from"),
    ("message", "from_user_id"),
    ("contact", "wa_id"),
    ("contact", "user_id"),
    ("status", "id"),
    ("status", "status"),
    ("status", "recipient_id"),
    ("status", "biz_opaque_callback_data"),
]


@fuzz("oversize_ids")
@given(
    field=st.sampled_from(ID_FIELDS),
    size=st.integers(min_value=MAX_ID_BYTES - 2, max_value=MAX_ID_BYTES + 2)
    | st.integers(min_value=1, max_value=300_000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_oversize_ids_next_to_a_legitimate_message(client, tenant, db, field, size, seed):
    serial = next(SERIAL)
    envelope = text_envelope(
        PHONE_NUMBER_ID,
        [
            TextMessage("16505551234", "Sheena", f"wamid.oversize-{serial}", "hi", 1),
            TextMessage("16505554321", "Ana", f"wamid.legitimate-{serial}", "hello", 1),
        ],
    )
    value = envelope["entry"][0]["changes"][0]["value"]
    value["statuses"] = [{"id": f"wamid.out-{serial}", "status": "sent", "timestamp": "1"}]
    part, key = field
    target = {"message": value["messages"][0], "contact": value["contacts"][0]}.get(part)
    (target or value["statuses"][0])[key] = incompressible(size, seed)
    post_signed(client, db, tenant, encode(envelope))
    # Whatever happened to the hostile item, the legitimate message next to it is stored.
    assert db.execute(
        "SELECT count(*) FROM inbound_events WHERE tenant_id = %s AND provider_event_id = %s",
        (tenant.id, f"wamid.legitimate-{serial}"),
    ).fetchone() == (1,)


# --- requests that must be refused ------------------------------------------------------------

SIGNATURE_VARIANTS = [
    "missing",
    "empty",
    "random",
    "random-hex",
    "other-secret",
    "replayed",
    "truncated",
    "sha1-prefix",
    "padded",
    "doubled",
    "no-prefix",
]


def signature_header(variant: str, body: bytes, other: bytes, noise: str) -> dict[str, str]:
    good = sign("acme-app-secret", body)
    value = {
        "missing": None,
        "empty": "",
        "random": noise,
        "random-hex": "sha256=" + (noise.encode("utf-8", "surrogatepass").hex() + "0" * 64)[:64],
        "other-secret": sign("beta-app-secret", body),
        "replayed": sign("acme-app-secret", other),
        "truncated": good[:-1],
        "sha1-prefix": "sha1=" + good.removeprefix("sha256="),
        "padded": " " + good + " x",
        "doubled": good + good.removeprefix("sha256="),
        "no-prefix": good.removeprefix("sha256="),
    }[variant]
    headers = {"Content-Type": "application/json"}
    if value is not None:
        headers["X-Hub-Signature-256"] = value
    return headers


@fuzz("signatures")
@given(
    variant=st.sampled_from(SIGNATURE_VARIANTS),
    text=hostile_text,
    noise=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=80),
)
def test_wrong_missing_or_replayed_signatures_store_nothing(
    client, tenant, db, variant, text, noise
):
    # A signature captured from an earlier, accepted delivery replays fine for that body (a
    # redelivery, stored once) and for no other body.
    earlier = encode(valid_envelope("wamid.earlier", "first"))
    post_signed(client, db, tenant, earlier)
    body = dumps(valid_envelope("wamid.forged", text), ascii_only=True)
    if variant == "replayed" and body == earlier:
        return
    before = snapshot(db)
    headers = signature_header(variant, body, earlier, noise)
    assert_refused(client.post(URL, data=body, headers=headers), db, before)
    assert client.post(URL, data=earlier, headers=signed_headers(earlier)).status_code == 200
    assert snapshot(db) == before


slugs = st.text(max_size=40).filter(lambda slug: slug != "acme") | st.sampled_from(
    ["ACME", "acme ", " acme", "acme/", "acme%00", "acme\x00", "acme;", "..", "%2e%2e", "*", "%"]
)


@fuzz("tenants")
@given(slug=slugs, method=st.sampled_from(["GET", "POST"]))
def test_unknown_tenants_get_nothing_stored(client, tenant, db, slug, method):
    body = encode(valid_envelope("wamid.unknown-tenant"))
    before = snapshot(db)
    url = "/webhooks/whatsapp/" + quote(slug.encode("utf-8", "surrogatepass"), safe="")
    query = {"hub.mode": "subscribe", "hub.verify_token": "acme-verify-token", "hub.challenge": "1"}
    if method == "GET":
        response = client.get(url, query_string=query)
    else:
        response = client.post(url, data=body, headers=signed_headers(body))
    assert_refused(response, db, before)


# --- the subscription handshake ---------------------------------------------------------------

query_values = st.one_of(
    st.none(),
    st.sampled_from(["subscribe", "acme-verify-token", "unsubscribe", "", "1158201444"]),
    hostile_text,
)


@fuzz("handshake")
@given(
    mode=query_values,
    token=query_values,
    challenge=query_values,
    raw=st.binary(max_size=60),
    use_raw=st.booleans(),
)
def test_handshake_with_hostile_query_strings(
    client, tenant, db, mode, token, challenge, raw, use_raw
):
    before = snapshot(db)
    if use_raw:
        # Any bytes at all, percent-encoded so they reach the app as a query string.
        response = client.get(URL + "?" + quote(raw, safe="=&"))
        assert response.status_code in (200, 403)
    else:
        params = {
            name: value.encode("utf-8", "surrogatepass")
            for name, value in (
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", challenge),
            )
            if value is not None
        }
        response = client.get(
            URL + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        )
        accepted = mode == "subscribe" and token == "acme-verify-token" and bool(challenge)
        if accepted:
            assert response.status_code == 200
            # The query string is read as UTF-8, undecodable bytes replaced.
            echoed = params["hub.challenge"].decode("utf-8", "replace").encode("utf-8")
            assert response.get_data() == echoed
        else:
            assert response.status_code == 403
    if response.status_code == 200:
        # The echoed challenge is never served as something a browser would run.
        assert response.mimetype == "text/plain"
    assert snapshot(db) == before


# --- hostile chunked encodings, over a real socket to `recado serve` -----------------------------

CHUNK_SIZES = ["zz", "-5", "FFFFFFFFFFFFFFFFFFFF", "0x5", " 5", "+5", "", "5;", "5;a=\r", "5 ; x"]


@pytest.fixture(scope="module")
def served_for_chunkings(tmp_path_factory) -> Iterator[Server]:
    # One server for every example: the database it writes to is the suite's (DATABASE_URL).
    with recado_serve(tmp_path_factory.mktemp("serve") / "serve.log") as server:
        yield server


@st.composite
def hostile_chunkings(draw) -> bytes:
    body = b""
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        data = draw(st.binary(max_size=12))
        size = draw(
            st.sampled_from([format(len(data), "x"), *CHUNK_SIZES])
            | st.text(alphabet="0123456789abcdefABCDEFxz-+ ;=\t\r\n", max_size=24)
        )
        ending = draw(st.sampled_from(["\r\n", "", "\n", "XX", "\r\r\n"]))
        body += size.encode() + b"\r\n" + data + ending.encode()
    trailer = draw(
        st.sampled_from(["", "X-Ok: 1\r\n", "no colon here\r\n", " folded: x\r\n", ":\r\n"])
        | st.text(alphabet=st.characters(max_codepoint=255), max_size=30)
    )
    last = draw(st.sampled_from(["0\r\n", "0\r\n" + trailer + "\r\n", "0", ""]))
    return body + last.encode("latin-1")


@settings(
    max_examples=max(10, TOTAL_EXAMPLES // 20),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=hostile_chunkings(), slug=st.sampled_from(["acme", "nobody"]))
def test_hostile_chunked_encodings(served_for_chunkings, tenant, db, body, slug):
    before = snapshot(db)
    # The request ends where the body does (the socket shut for writing): the server must judge
    # what it has, not wait for more.
    answer = raw_exchange(served_for_chunkings, chunked_request(slug, body), then_shut=True)
    status = status_of(answer)
    assert status == "closed" or status.startswith("4"), (status, body)
    assert b"Traceback" not in (answer or b"")
    assert snapshot(db) == before
