"""WhatsAppClient over real HTTP against a programmable Graph API stub on 127.0.0.1.

Every way a call can end must surface as exactly one of SendRejected (with its kind),
SendNotAttempted or SendOutcomeUnknown, within the configured timeouts, and nothing the client
raises or logs may carry the access token, the recipient's number or the message text.
"""

import json
import logging
import pickle
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from actors.clients.errors import (
    SendNotAttempted,
    SendOutcomeUnknown,
    SendRejected,
    SendRejectedPermanent,
    SendRejectedRetryable,
    SendRejectedToken,
)
from actors.clients.whatsapp import WhatsAppClient
from domain.channels.whatsapp_send import SendErrorKind, mark_read_request, text_request
from domain.errors import PermanentError, RetryableError
from domain.models import ProviderError

TOKEN = "EAAJBsecretTOKENvalue123"
PHONE_NUMBER_ID = "106540352242922"
TO = "+16505551234"
BODY = "Your appointment is confirmed for Tuesday"
WAMID = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"
READ_TIMEOUT = 0.5
TIMEOUT = httpx.Timeout(connect=0.5, read=READ_TIMEOUT, write=1.0, pool=1.0)


def accepted(wamid: str = WAMID) -> bytes:
    return json.dumps(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": TO, "wa_id": TO[1:]}],
            "messages": [{"id": wamid}],
        }
    ).encode()


def graph_error(code: int, message: str, details: str = "") -> bytes:
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details},
                "fbtrace_id": "AbCdEfGh123",
            }
        }
    ).encode()


@dataclass
class Reply:
    status: int = 200
    body: bytes = field(default_factory=accepted)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # "respond", "close" (hang up without a response), "truncate" (hang up mid-body).
    action: str = "respond"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class GraphStub(ThreadingHTTPServer):
    """Answers each POST with the next queued Reply (default: an accepted send)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.received: list[Received] = []
        # Set at teardown so slow replies stop waiting.
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v24.0"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)


class _Handler(BaseHTTPRequestHandler):
    server: GraphStub
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(Received(self.path, dict(self.headers), json.loads(raw)))
        reply = self.server.replies.popleft() if self.server.replies else Reply()
        if reply.delay:
            self.server.stopping.wait(reply.delay)
        if reply.action == "close":
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.action == "truncate":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[GraphStub]:
    server = GraphStub()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(stub: GraphStub) -> Iterator[WhatsAppClient]:
    with WhatsAppClient(stub.base_url, PHONE_NUMBER_ID, TOKEN, timeout=TIMEOUT) as wa:
        yield wa


@pytest.fixture(autouse=True)
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG, httpx and httpcore included; no secret may appear in any."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    text = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert TOKEN not in text
    assert TO not in text and TO[1:] not in text
    assert BODY not in text


def request() -> dict[str, Any]:
    return text_request(TO, BODY, callback_data="recado:7")


def assert_clean(exc: BaseException) -> None:
    """Neither the exception nor its whole chain, as a dead letter would store it, leaks."""
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    assert TOKEN not in text
    assert TO[1:] not in text
    assert BODY not in text


# --- success ----------------------------------------------------------------------------------


def test_send_posts_the_request_and_returns_the_wamid(
    stub: GraphStub, client: WhatsAppClient, all_logs: pytest.LogCaptureFixture
) -> None:
    assert client.send(request()) == WAMID
    # httpx's own request log is captured too, so the leak check covers it.
    assert any(record.name == "httpx" for record in all_logs.records)
    [received] = stub.received
    assert received.path == f"/v24.0/{PHONE_NUMBER_ID}/messages"
    assert received.headers["Authorization"] == f"Bearer {TOKEN}"
    assert received.headers["Content-Type"] == "application/json"
    assert received.body == request()


def test_send_keeps_non_ascii_text_intact(stub: GraphStub, client: WhatsAppClient) -> None:
    client.send(text_request(TO, "Olá! Até amanhã 👋"))
    assert stub.received[0].body["text"]["body"] == "Olá! Até amanhã 👋"


def test_mark_read_with_typing(stub: GraphStub, client: WhatsAppClient) -> None:
    stub.queue(Reply(body=b'{"success": true}'), Reply(body=b""))
    client.mark_read("wamid.IN", typing=True)
    # Any 2xx is enough: repeating a mark-read is harmless, so its body is not inspected.
    client.mark_read("wamid.IN", typing=False)
    assert [r.body for r in stub.received] == [
        mark_read_request("wamid.IN", typing=True),
        mark_read_request("wamid.IN", typing=False),
    ]
    assert stub.received[0].body["typing_indicator"] == {"type": "text"}


# --- the API answered with an error: SendRejected ------------------------------------------------

REJECTIONS = [
    (400, 131047, SendErrorKind.PERMANENT, SendRejectedPermanent),
    (400, 131026, SendErrorKind.PERMANENT, SendRejectedPermanent),
    (400, 132001, SendErrorKind.PERMANENT, SendRejectedPermanent),
    (400, 100, SendErrorKind.PERMANENT, SendRejectedPermanent),
    (403, 368, SendErrorKind.PERMANENT, SendRejectedPermanent),
    (401, 190, SendErrorKind.TOKEN, SendRejectedToken),
    (400, 0, SendErrorKind.TOKEN, SendRejectedToken),
    (429, 130429, SendErrorKind.RETRYABLE, SendRejectedRetryable),
    (400, 131056, SendErrorKind.RETRYABLE, SendRejectedRetryable),
    (400, 80007, SendErrorKind.RETRYABLE, SendRejectedRetryable),
    (500, 131000, SendErrorKind.RETRYABLE, SendRejectedRetryable),
    (503, 131016, SendErrorKind.RETRYABLE, SendRejectedRetryable),
    (400, 987654, SendErrorKind.PERMANENT, SendRejectedPermanent),
    (500, 987654, SendErrorKind.RETRYABLE, SendRejectedRetryable),
]


@pytest.mark.parametrize(("status", "code", "kind", "cls"), REJECTIONS)
def test_graph_errors_become_send_rejected(
    stub: GraphStub,
    client: WhatsAppClient,
    status: int,
    code: int,
    kind: SendErrorKind,
    cls: type[SendRejected],
) -> None:
    stub.queue(Reply(status, graph_error(code, f"(#{code}) Something", "More about it")))
    with pytest.raises(SendRejected) as caught:
        client.send(request())
    exc = caught.value
    assert type(exc) is cls
    assert exc.kind is kind
    assert exc.http_status == status
    assert exc.code == code
    assert exc.error == ProviderError(
        code=code,
        title=f"(#{code}) Something",
        message=f"(#{code}) Something",
        details="More about it",
    )
    assert exc.retryable is (kind is SendErrorKind.RETRYABLE)
    assert isinstance(exc, RetryableError) is exc.retryable
    assert isinstance(exc, PermanentError) is not exc.retryable
    assert f"code {code}" in str(exc) and f"HTTP {status}" in str(exc)
    assert len(stub.received) == 1
    assert_clean(exc)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "kind"),
    [
        (429, b"slow down", "text/plain", SendErrorKind.RETRYABLE),
        (404, b"<html>Not Found</html>", "text/html", SendErrorKind.PERMANENT),
        (401, b"", "text/plain", SendErrorKind.PERMANENT),
    ],
)
def test_errors_without_a_graph_body(
    stub: GraphStub,
    client: WhatsAppClient,
    status: int,
    body: bytes,
    content_type: str,
    kind: SendErrorKind,
) -> None:
    stub.queue(Reply(status, body, content_type))
    with pytest.raises(SendRejected) as caught:
        client.send(request())
    assert caught.value.kind is kind
    assert caught.value.error is None
    assert caught.value.http_status == status
    assert len(stub.received) == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (500, b"", "text/plain"),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
        (503, b"Service Unavailable", "text/plain"),
        (504, b"Gateway Timeout", "text/plain"),
    ],
)
def test_server_errors_without_a_graph_body_leave_the_outcome_unknown(
    stub: GraphStub, client: WhatsAppClient, status: int, body: bytes, content_type: str
) -> None:
    # A gateway may have forwarded the request to Meta before it failed to answer.
    stub.queue(Reply(status, body, content_type))
    with pytest.raises(SendOutcomeUnknown) as caught:
        client.send(request())
    assert caught.value.http_status == status
    assert len(stub.received) == 1


def test_redirects_are_not_followed(stub: GraphStub, client: WhatsAppClient) -> None:
    stub.queue(Reply(307, b"", headers={"Location": f"{stub.base_url}/elsewhere"}))
    with pytest.raises(SendRejectedPermanent) as caught:
        client.send(request())
    assert caught.value.http_status == 307
    assert len(stub.received) == 1


def test_mark_read_errors_are_typed_too(stub: GraphStub, client: WhatsAppClient) -> None:
    stub.queue(Reply(401, graph_error(190, "Error validating access token")))
    with pytest.raises(SendRejectedToken):
        client.mark_read("wamid.IN", typing=True)


# --- the request may have been accepted: SendOutcomeUnknown --------------------------------------


def test_read_timeout_is_an_unknown_outcome_within_bounds(
    stub: GraphStub, client: WhatsAppClient
) -> None:
    stub.queue(Reply(delay=5.0))
    started = time.monotonic()
    with pytest.raises(SendOutcomeUnknown) as caught:
        client.send(request())
    elapsed = time.monotonic() - started
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 1.0
    assert caught.value.reason == "ReadTimeout"
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    # The provider did get it: exactly why a blind resend would be wrong.
    assert len(stub.received) == 1
    assert_clean(caught.value)


@pytest.mark.parametrize("action", ["close", "truncate"])
def test_connection_dropped_after_sending_is_an_unknown_outcome(
    stub: GraphStub, client: WhatsAppClient, action: str
) -> None:
    stub.queue(Reply(action=action))
    with pytest.raises(SendOutcomeUnknown) as caught:
        client.send(request())
    assert caught.value.http_status is None
    assert len(stub.received) == 1
    assert_clean(caught.value)


@pytest.mark.parametrize(
    "body", [b"", b"<html>ok</html>", b'{"messaging_product": "whatsapp"}', b'{"messages": []}']
)
def test_success_without_a_wamid_is_an_unknown_outcome(
    stub: GraphStub, client: WhatsAppClient, body: bytes
) -> None:
    stub.queue(Reply(200, body))
    with pytest.raises(SendOutcomeUnknown) as caught:
        client.send(request())
    assert caught.value.http_status == 200
    assert isinstance(caught.value, RetryableError)
    assert_clean(caught.value)


# --- nothing reached the provider: SendNotAttempted ----------------------------------------------


def test_refused_connection_is_not_attempted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with WhatsAppClient(f"http://127.0.0.1:{port}/v24.0", PHONE_NUMBER_ID, TOKEN) as wa:
        started = time.monotonic()
        with pytest.raises(SendNotAttempted) as caught:
            wa.send(request())
    assert time.monotonic() - started < 1.0
    assert caught.value.reason == "ConnectError"
    assert isinstance(caught.value, RetryableError)
    assert_clean(caught.value)


def test_unresolvable_host_is_not_attempted() -> None:
    wa = WhatsAppClient("http://recado-graph.invalid/v24.0", PHONE_NUMBER_ID, TOKEN)
    with wa, pytest.raises(SendNotAttempted) as caught:
        wa.send(request())
    assert caught.value.reason == "ConnectError"
    assert_clean(caught.value)


def test_connect_timeout_is_not_attempted_within_bounds() -> None:
    # A listener whose accept queue is full drops new SYNs, so connecting hangs until timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(address)
            time.sleep(0.1)
            base_url = f"http://127.0.0.1:{address[1]}/v24.0"
            with WhatsAppClient(base_url, PHONE_NUMBER_ID, TOKEN, timeout=TIMEOUT) as wa:
                started = time.monotonic()
                with pytest.raises(SendNotAttempted) as caught:
                    wa.send(request())
            elapsed = time.monotonic() - started
        finally:
            for filler in fillers:
                filler.close()
    assert caught.value.reason == "ConnectTimeout"
    assert TIMEOUT.connect <= elapsed < TIMEOUT.connect + 1.0


# --- construction, exceptions, secrets ---------------------------------------------------------


def test_constructor_rejects_unbounded_timeouts_and_bad_urls() -> None:
    with pytest.raises(ValueError, match="timeout"):
        WhatsAppClient(
            "https://graph.facebook.com/v24.0", PHONE_NUMBER_ID, TOKEN, timeout=httpx.Timeout(None)
        )
    with pytest.raises(ValueError, match="timeout"):
        WhatsAppClient(
            "https://graph.facebook.com/v24.0",
            PHONE_NUMBER_ID,
            TOKEN,
            timeout=httpx.Timeout(10.0, read=None),
        )
    with pytest.raises(ValueError, match="base_url"):
        WhatsAppClient("ftp://graph.facebook.com/v24.0", PHONE_NUMBER_ID, TOKEN)
    with pytest.raises(ValueError, match="required"):
        WhatsAppClient("https://graph.facebook.com/v24.0", PHONE_NUMBER_ID, "")


def test_client_repr_hides_the_token_and_close_is_final(stub: GraphStub) -> None:
    wa = WhatsAppClient(stub.base_url, PHONE_NUMBER_ID, TOKEN)
    assert TOKEN not in repr(wa) and TOKEN not in repr(vars(wa))
    wa.close()
    with pytest.raises(RuntimeError):
        wa.send(request())
    assert stub.received == []


def test_send_rejected_picks_its_subclass_from_the_kind() -> None:
    error = ProviderError(code=190, title="Invalid token", message="Invalid token", details=None)
    assert type(SendRejected(error, SendErrorKind.TOKEN, 401)) is SendRejectedToken
    assert type(SendRejected(None, SendErrorKind.RETRYABLE, 502)) is SendRejectedRetryable
    assert type(SendRejected(None, SendErrorKind.PERMANENT, 400)) is SendRejectedPermanent
    assert isinstance(SendRejected(error, SendErrorKind.TOKEN, 401), PermanentError)
    assert type(SendRejectedPermanent(None, SendErrorKind.PERMANENT, 400)) is SendRejectedPermanent
    with pytest.raises(ValueError):
        SendRejectedPermanent(None, SendErrorKind.RETRYABLE, 500)


@pytest.mark.parametrize(
    "exc",
    [
        SendRejected(
            ProviderError(
                code=131047, title="Re-engagement", message="Re-engagement", details="24h"
            ),
            SendErrorKind.PERMANENT,
            400,
        ),
        SendRejected(None, SendErrorKind.TOKEN, 401),
        SendRejected(None, SendErrorKind.RETRYABLE, 502),
        SendNotAttempted("ConnectTimeout"),
        SendOutcomeUnknown("ReadTimeout"),
        SendOutcomeUnknown("accepted without a readable message id", 200),
    ],
)
def test_exceptions_survive_pickling(exc: Exception) -> None:
    # Dramatiq and the dead-letter path pickle exceptions; these are our own objects.
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301
    assert type(copy) is type(exc)
    assert str(copy) == str(exc)
    assert vars(copy) == vars(exc)
