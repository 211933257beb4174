"""A local WhatsApp Cloud API (Graph API) for tests, benchmarks and demos, over real HTTP.

It answers `POST /{version}/{phone-number-id}/messages` with Meta's request validation, success
and error shapes, then posts signed status webhooks (sent, delivered, read, or failed) to the
tenant's webhook URL, in time order or shuffled. Faults are injected at configured per-call rates
from one seeded random generator, so a run can be repeated.

Every send the simulator ACCEPTED is in its log, including those whose answer it then held past
the client's timeout ('timeout') or never gave ('drop'): the log is the judge of "never sent twice".
Other processes read it at GET /_simulator/log.

Inbound media are served as Meta serves them: `GET /{version}/{media-id}` answers JSON with a
short-lived `url`, and that url answers the bytes; both want the tenant's token.
"""

import base64
import hashlib
import heapq
import itertools
import json
import math
import random
import re
import secrets
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeGuard
from urllib.parse import urlsplit

import httpx

from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_DISPLAY_PHONE_NUMBER,
    encode,
)
from ops.simulators.server import SimulatorServer

Json = dict[str, Any]

LOG_PATH = "/_simulator/log"
# Refusals first, then the faults that accept the send and lose the answer.
FAULTS = ("429", "131056", "500", "131047", "timeout", "drop")
ERROR_CODES_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"
MAX_BODY_BYTES = 1 << 20

_MESSAGES_PATH = re.compile(r"^/v\d+\.\d+/([^/]+)/messages/?$")
_MEDIA_PATH = re.compile(r"^/v\d+\.\d+/([^/]+)/?$")
MEDIA_DOWNLOAD_PATH = "/_simulator/media/"
_MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_SEND_TYPES = frozenset({"text", "template", "interactive"}) | _MEDIA_TYPES
_PHONE_PUNCTUATION = str.maketrans("", "", "+-() ")
# Titles of the codes most often used with `fail_recipients`; others get a generic one.
_FAILED_TITLES = {
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing"
    " messages on WhatsApp from your business.",
}


@dataclass(frozen=True)
class TenantRoute:
    """Where one business number's statuses go, how they are signed, which token may send."""

    webhook_url: str
    app_secret: str
    access_token: str


@dataclass(frozen=True)
class SimulatorConfig:
    routes: dict[str, TenantRoute]  # phone_number_id -> route
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port; see GraphApiSimulator.url
    # Arrival delays of sent, delivered, read after the send is accepted (failed takes delivered's).
    status_delays_ms: tuple[int, int, int] = (50, 100, 150)
    send_statuses: bool = True
    shuffle_statuses: bool = False
    fail_recipients: dict[str, int] = field(default_factory=dict)  # recipient -> error code
    faults: dict[str, float] = field(default_factory=dict)  # FAULTS key -> probability per send
    seed: int | None = None
    latency_ms: int = 0  # added before answering every Graph API request
    timeout_hold_s: float = 30.0  # how long a 'timeout' fault holds its answer
    # Meta documents 130429 with HTTP 400; 429 checks a client that also keys on the status.
    rate_limit_http_status: int = 400
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 4  # first post included; Meta retries for days, this stays bounded
    webhook_backoff_s: float = 0.25  # doubled after each failed attempt
    echo: Callable[[str], None] | None = None  # one line per Graph API request, for the CLI
    # media id -> (mime type, bytes) served for it; any other id gets a small generated file
    # (see simulated_media): the same bytes for the same id, every run.
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # media id -> HTTP statuses answered first, one per request for that media (URL or bytes);
    # 0 answers that request normally.
    media_errors: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault {sorted(unknown)}: known faults are {list(FAULTS)}")
        if any(not 0 <= rate <= 1 for rate in self.faults.values()):
            raise ValueError("fault rates are probabilities between 0 and 1")
        # One draw picks at most one fault per send, so the rates must fit in one unit.
        if sum(self.faults.values()) > 1:
            raise ValueError("fault rates add up to more than 1")
        if len(self.status_delays_ms) != 3 or min(self.status_delays_ms) < 0:
            raise ValueError("status_delays_ms is three non-negative delays: sent, delivered, read")
        if any(_wa_id(number) is None for number in self.fail_recipients):
            raise ValueError("fail_recipients keys are phone numbers")
        if self.webhook_attempts < 1:
            raise ValueError("webhook_attempts counts the first post: at least 1")


@dataclass(frozen=True)
class SentMessage:
    wamid: str
    phone_number_id: str
    to: str
    type: str
    request: Json  # the JSON body as received
    callback_data: str | None  # biz_opaque_callback_data
    accepted_monotonic: float
    accepted_at: float  # wall clock, Unix seconds
    fault: str | None  # 'timeout' or 'drop': accepted, but the client never saw the answer


@dataclass(frozen=True)
class MarkRead:
    phone_number_id: str
    message_id: str
    typing_indicator: bool
    at: float  # wall clock, Unix seconds


@dataclass(frozen=True)
class MediaRequest:
    media_id: str
    kind: str  # 'url': the media's metadata and URL; 'download': its bytes
    status: int


@dataclass(frozen=True)
class SimulatorCounts:
    accepted: int  # every send in the log, faults 'timeout' and 'drop' included
    rejected: int  # answered 4xx for the request itself: token, path, number, body
    marked_read: int
    faults: dict[str, int]  # per FAULTS key, each time it was injected
    webhooks_delivered: int
    webhook_retries: int
    webhooks_undelivered: int  # gave up after webhook_attempts non-2xx answers or errors


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: Json
    fault: str | None = None


@dataclass(frozen=True)
class _Delivery:
    url: str
    body: bytes
    signature: str
    about: tuple[str, str]  # (wamid, status)
    attempt: int = 0


class GraphApiSimulator:
    """Start with `start()` or `with`; `url` is the base, clients use f"{url}/v24.0"."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._tokens = frozenset(route.access_token for route in config.routes.values())
        self._fail_codes = {_wa_id(n): code for n, code in config.fail_recipients.items()}
        self._lock = threading.Lock()
        self._webhooks_changed = threading.Condition(self._lock)
        self._rng = random.Random(config.seed)
        self._sent: list[SentMessage] = []
        self._reads: list[MarkRead] = []
        self._media_requests: list[MediaRequest] = []
        self._media_errors = {key: list(statuses) for key, statuses in config.media_errors.items()}
        self._given_up: list[tuple[str, str]] = []
        self._counts: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._queue: list[tuple[float, int, _Delivery]] = []  # heap by due monotonic time
        self._sequence = itertools.count()
        self._posting = False
        self._stopping = threading.Event()
        self._server: SimulatorServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = SimulatorServer((self.config.host, self.config.port), _Handler, self)
        self._threads = [
            threading.Thread(
                # A short poll keeps stop() quick; the default half second adds up in test suites.
                target=self._server.serve_forever,
                args=(0.05,),
                name="graph-api-http",
                daemon=True,
            ),
            threading.Thread(target=self._dispatch, name="graph-api-webhooks", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; statuses not yet posted are dropped, held answers are released."""
        if self._server is None:
            return
        with self._lock:
            self._stopping.set()
            self._webhooks_changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        for thread in self._threads:
            thread.join(timeout=self.config.webhook_timeout_s + 1)
        with self._lock:
            self._queue.clear()
            self._posting = False
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # a TCP server's address: text, never bytes
        return f"http://{host}:{port}"

    # --- what happened --------------------------------------------------------------------

    def sent(self) -> list[SentMessage]:
        with self._lock:
            return list(self._sent)

    def reads(self) -> list[MarkRead]:
        with self._lock:
            return list(self._reads)

    def media_requests(self) -> list[MediaRequest]:
        with self._lock:
            return list(self._media_requests)

    def undelivered(self) -> list[tuple[str, str]]:
        """(wamid, status) of each status webhook given up after `webhook_attempts` posts."""
        with self._lock:
            return list(self._given_up)

    def counts(self) -> SimulatorCounts:
        with self._lock:
            return SimulatorCounts(
                accepted=len(self._sent),
                rejected=self._counts["rejected"],
                marked_read=len(self._reads),
                faults={key: self._faults[key] for key in FAULTS},
                webhooks_delivered=self._counts["webhooks_delivered"],
                webhook_retries=self._counts["webhook_retries"],
                webhooks_undelivered=self._counts["webhooks_undelivered"],
            )

    def log_document(self) -> Json:
        """What GET /_simulator/log answers."""
        sent, reads, counts = self.sent(), self.reads(), self.counts()
        return {
            "sent": [asdict(s) for s in sent],
            "reads": [asdict(r) for r in reads],
            "counts": asdict(counts),
        }

    def wait_for_webhooks(self, timeout: float) -> bool:
        """Block until every scheduled status was posted or given up; False on timeout."""
        with self._webhooks_changed:
            return self._webhooks_changed.wait_for(
                lambda: not self._queue and not self._posting, timeout
            )

    # --- requests -------------------------------------------------------------------------

    def _handle_media(
        self, path: str, authorization: str | None
    ) -> tuple[int, Json] | tuple[int, str, bytes]:
        """A media URL (JSON) or the media's bytes (status, mime type, body) for a GET."""
        parts = urlsplit(path)
        download = parts.path.startswith(MEDIA_DOWNLOAD_PATH)
        media_id = parts.path.removeprefix(MEDIA_DOWNLOAD_PATH) if download else None
        if media_id is None:
            match = _MEDIA_PATH.match(parts.path)
            media_id = match.group(1) if match else None
        if not media_id:
            return 400, _unknown_path(parts.path)
        kind = "download" if download else "url"
        token = _bearer(authorization)
        if token not in self._tokens:
            return self._media_answer(media_id, kind, 401, _invalid_token())
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        number = query.get("phone_number_id")
        route = self.config.routes.get(number) if number else None
        if number and (route is None or route.access_token != token):
            return self._media_answer(media_id, kind, 400, _unsupported_request("get", media_id))
        with self._lock:
            queued = self._media_errors.get(media_id)
            error = queued.pop(0) if queued else None
        if error:
            body = (
                _unsupported_request("get", media_id)
                if error < 500
                else _graph_error(2, "Service temporarily unavailable", error_type="OAuthException")
            )
            return self._media_answer(media_id, kind, error, body)
        mime, content = self.config.media.get(media_id) or simulated_media(media_id)
        if download:
            with self._lock:
                self._media_requests.append(MediaRequest(media_id, kind, 200))
            return 200, mime, content
        host = self.url
        return self._media_answer(media_id, kind, 200, {
            "messaging_product": "whatsapp",
            "url": f"{host}{MEDIA_DOWNLOAD_PATH}{media_id}",
            "mime_type": mime,
            "sha256": hashlib.sha256(content).hexdigest(),
            "file_size": len(content),
            "id": media_id,
        })  # fmt: skip

    def _media_answer(self, media_id: str, kind: str, status: int, body: Json) -> tuple[int, Json]:
        with self._lock:
            self._media_requests.append(MediaRequest(media_id, kind, status))
        return status, body

    def _handle_post(self, path: str, authorization: str | None, raw: bytes) -> _Outcome:
        match = _MESSAGES_PATH.match(urlsplit(path).path)
        if match is None:
            return self._reject(400, _unknown_path(urlsplit(path).path))
        phone_number_id = match.group(1)
        token = _bearer(authorization)
        if token not in self._tokens:
            return self._reject(401, _invalid_token())
        route = self.config.routes.get(phone_number_id)
        # A valid token for another business sees this number as missing, as on Graph.
        if route is None or route.access_token != token:
            return self._reject(400, _unsupported_request("post", phone_number_id))
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._reject(400, _invalid_parameter("The request body is not valid JSON."))
        if not isinstance(body, dict):
            return self._reject(400, _invalid_parameter("The request body must be a JSON object."))

        if "status" in body:
            return self._mark_read(phone_number_id, body)
        problem = _send_problem(body)
        if problem is not None:
            return self._reject(400, _invalid_parameter(problem))

        fault = self._draw_fault()
        refusal = _REFUSALS.get(fault) if fault else None
        if fault and refusal is not None:
            status = self.config.rate_limit_http_status if fault == "429" else refusal.status
            with self._lock:
                self._faults[fault] += 1
            error = _graph_error(refusal.code, refusal.title, refusal.details)
            return _Outcome(status, error, fault)

        sent = self._accept(phone_number_id, route, body, fault)
        response: Json = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": sent.to, "wa_id": _wa_id(sent.to)}],
            "messages": [{"id": sent.wamid}],
        }
        if sent.type == "template":
            response["messages"][0]["message_status"] = "accepted"
        return _Outcome(200, response, fault)

    def _reject(self, status: int, body: Json) -> _Outcome:
        with self._lock:
            self._counts["rejected"] += 1
        return _Outcome(status, body)

    def _mark_read(self, phone_number_id: str, body: Json) -> _Outcome:
        indicator = body.get("typing_indicator")
        if body.get("messaging_product") != "whatsapp":
            problem = "The parameter messaging_product is required and must be 'whatsapp'."
        elif body.get("status") != "read":
            problem = "Param status must be 'read'."
        elif not _text(body.get("message_id")):
            problem = "The parameter message_id is required."
        elif indicator is not None and (
            not isinstance(indicator, dict) or indicator.get("type") != "text"
        ):
            problem = "Param typing_indicator['type'] must be 'text'."
        else:
            problem = None
        if problem is not None:
            return self._reject(400, _invalid_parameter(problem))
        read = MarkRead(phone_number_id, body["message_id"], indicator is not None, time.time())
        with self._lock:
            self._reads.append(read)
        return _Outcome(200, {"success": True})

    def _draw_fault(self) -> str | None:
        if not self.config.faults:
            return None
        with self._lock:
            draw = self._rng.random()
        for key in FAULTS:
            draw -= self.config.faults.get(key, 0.0)
            if draw < 0:
                return key
        return None

    def _accept(
        self, phone_number_id: str, route: TenantRoute, body: Json, fault: str | None
    ) -> SentMessage:
        callback = body.get("biz_opaque_callback_data")
        sent = SentMessage(
            wamid=_new_wamid(),
            phone_number_id=phone_number_id,
            to=body["to"],
            type=body.get("type", "text"),
            request=body,
            callback_data=callback,
            accepted_monotonic=time.monotonic(),
            accepted_at=time.time(),
            fault=fault,
        )
        with self._lock:
            self._sent.append(sent)
            if fault:
                self._faults[fault] += 1
            if self.config.send_statuses:
                self._schedule_statuses(sent, route)
                self._webhooks_changed.notify_all()
        return sent

    def _schedule_statuses(self, sent: SentMessage, route: TenantRoute) -> None:
        """Queue the send's status webhooks; the caller holds the lock."""
        wa_id = _wa_id(sent.to)
        fail_code = self._fail_codes.get(wa_id)
        names = ("sent", "failed") if fail_code is not None else ("sent", "delivered", "read")
        delays = [ms / 1000 for ms in self.config.status_delays_ms[: len(names)]]
        arrivals = list(delays)
        if self.config.shuffle_statuses:
            self._rng.shuffle(arrivals)
        # Timestamps keep the real order even when arrivals do not, as Meta's do.
        for name, happened, arrival in zip(names, delays, arrivals, strict=True):
            status: Json = {
                "id": sent.wamid,
                "status": name,
                "timestamp": str(int(sent.accepted_at + happened)),
                "recipient_id": wa_id,
            }
            if sent.callback_data is not None:
                status["biz_opaque_callback_data"] = sent.callback_data
            if fail_code is not None and name == "failed":
                status["errors"] = [_status_error(fail_code)]
            body = encode(_status_envelope(sent.phone_number_id, status))
            delivery = _Delivery(
                route.webhook_url, body, sign(route.app_secret, body), (sent.wamid, name)
            )
            heapq.heappush(
                self._queue, (sent.accepted_monotonic + arrival, next(self._sequence), delivery)
            )

    # --- status webhooks ------------------------------------------------------------------

    def _dispatch(self) -> None:
        """The one thread posting status webhooks, each when it is due."""
        with httpx.Client(timeout=self.config.webhook_timeout_s) as client:
            while True:
                with self._webhooks_changed:
                    while not self._stopping.is_set():
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        if wait is not None and wait <= 0:
                            break
                        self._webhooks_changed.wait(wait)
                    if self._stopping.is_set():
                        return
                    _, _, delivery = heapq.heappop(self._queue)
                    self._posting = True
                delivered = _post(client, delivery)
                with self._webhooks_changed:
                    self._posting = False
                    if delivered:
                        self._counts["webhooks_delivered"] += 1
                    elif delivery.attempt + 1 < self.config.webhook_attempts:
                        self._counts["webhook_retries"] += 1
                        backoff = self.config.webhook_backoff_s * 2**delivery.attempt
                        retry = replace(delivery, attempt=delivery.attempt + 1)
                        heapq.heappush(
                            self._queue, (time.monotonic() + backoff, next(self._sequence), retry)
                        )
                    else:
                        self._counts["webhooks_undelivered"] += 1
                        self._given_up.append(delivery.about)
                    self._webhooks_changed.notify_all()


def _post(client: httpx.Client, delivery: _Delivery) -> bool:
    try:
        response = client.post(
            delivery.url,
            content=delivery.body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": delivery.signature},
        )
    except httpx.HTTPError:
        return False
    return response.is_success


# --- HTTP ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a 'drop' closes a connection in use
    # Headers and body go out as two writes; with Nagle on, each answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def do_GET(self) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path
        if path == LOG_PATH:
            self._reply(200, sim.log_document())
            return
        answer = sim._handle_media(self.path, self.headers.get("Authorization"))
        if sim.config.echo is not None:
            sim.config.echo(f"media {path.rsplit('/', 1)[-1]}: HTTP {answer[0]}")
        if len(answer) == 3:
            status, mime, content = answer
            self.send_response(status)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        else:
            self._reply(answer[0], answer[1])

    def do_POST(self) -> None:
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            self._reply(400, _invalid_parameter("The request body is too large."))
            return
        raw = self.rfile.read(length)
        if sim.config.latency_ms:
            sim._stopping.wait(sim.config.latency_ms / 1000)
        outcome = sim._handle_post(self.path, self.headers.get("Authorization"), raw)
        if sim.config.echo is not None:
            sim.config.echo(_describe(outcome))
        if outcome.fault == "drop":
            self.close_connection = True  # no status line, no bytes: the answer is lost
            return
        if outcome.fault == "timeout":
            sim._stopping.wait(sim.config.timeout_hold_s)
            self.close_connection = True
        try:
            self._reply(outcome.status, outcome.body)
        except OSError:
            self.close_connection = True  # the client gave up while the answer was held

    def _reply(self, status: int, body: Json) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the CLI prints its own line per request through SimulatorConfig.echo."""


def _describe(outcome: _Outcome) -> str:
    if outcome.status == 200 and "messages" in outcome.body:
        wamid = outcome.body["messages"][0]["id"]
        to = outcome.body["contacts"][0]["input"]
        lost = f" then {outcome.fault}: no answer reaches the client" if outcome.fault else ""
        return f"accepted {wamid} to {to}{lost}"
    if outcome.status == 200:
        return "marked read"
    error = outcome.body["error"]
    injected = f"fault {outcome.fault}: " if outcome.fault else ""
    details = error.get("error_data", {}).get("details")
    what = f"{error['message']}: {details}" if details else error["message"]
    return f"{injected}HTTP {outcome.status} code {error['code']}: {what}"


# --- simulated media ----------------------------------------------------------------------


def simulated_media(media_id: str) -> tuple[str, bytes]:
    """(mime type, bytes) of a media id nothing was configured for: a short tone (WAV) for ids
    starting with 'audio', else a small PNG; colour and pitch come from the id."""
    seed = hashlib.sha256(media_id.encode()).digest()
    if media_id.startswith("audio"):
        return "audio/wav", _tone(220 + seed[0] * 2)
    return "image/png", _png(seed[0], seed[1], seed[2])


def _png(red: int, green: int, blue: int, side: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((red, green, blue)) * side  # filter byte 0, then RGB pixels
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * side))
        + chunk(b"IEND", b"")
    )


def _tone(frequency: int, seconds: float = 0.3, rate: int = 8000) -> bytes:
    frames = int(seconds * rate)
    samples = bytes(
        int(128 + 60 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(frames)
    )
    header = b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    return header + fmt + b"data" + struct.pack("<I", frames) + samples


# --- Meta's shapes ------------------------------------------------------------------------


def _graph_error(
    code: int,
    title: str,
    details: str | None = None,
    *,
    error_type: str = "OAuthException",
    subcode: int | None = None,
) -> Json:
    """Graph's error body; Cloud API errors carry error_data, plain Graph errors do not."""
    error: Json = {
        "message": f"(#{code}) {title}" if details else title,
        "type": error_type,
        "code": code,
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return {"error": error}


def _invalid_parameter(details: str) -> Json:
    return _graph_error(100, "Invalid parameter", details)


def _invalid_token() -> Json:
    return _graph_error(190, "Invalid OAuth access token - Cannot parse access token")


def _unknown_path(path: str) -> Json:
    return _graph_error(2500, f"Unknown path components: {path}")


def _unsupported_request(method: str, object_id: str) -> Json:
    return _graph_error(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be"
        " loaded due to missing permissions, or does not support this operation.",
        error_type="GraphMethodException",
        subcode=33,
    )


class _Refusal(NamedTuple):
    status: int  # the HTTP status Meta documents for the code
    code: int
    title: str
    details: str


_REFUSALS = {
    "429": _Refusal(
        400, 130429, "Rate limit hit", "Cloud API message throughput has been reached."
    ),
    "131056": _Refusal(
        400,
        131056,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number"
        " to the same phone number in a short period of time.",
    ),
    "500": _Refusal(
        500, 131000, "Something went wrong", "Message failed to send because of an unknown error."
    ),
    "131047": _Refusal(
        400,
        131047,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last"
        " replied to this number.",
    ),
}


def _status_error(code: int) -> Json:
    title = _FAILED_TITLES.get(code, "Message failed to send")
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": title},
        "href": ERROR_CODES_HREF,
    }


def _status_envelope(phone_number_id: str, status: Json) -> Json:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DEFAULT_DISPLAY_PHONE_NUMBER,
            "phone_number_id": phone_number_id,
        },
        "statuses": [status],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": DEFAULT_ACCOUNT_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def _new_wamid() -> str:
    # Base64 like Meta's, so '+', '/' and '=' reach the client's id handling too.
    return "wamid." + base64.b64encode(secrets.token_bytes(29)).decode("ascii")


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _wa_id(number: str) -> str | None:
    digits = number.translate(_PHONE_PUNCTUATION)
    return digits if digits.isascii() and digits.isdigit() and len(digits) <= 15 else None


def _text(value: object, limit: int | None = None) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip()) and (limit is None or len(value) <= limit)


# --- send validation: None when valid, else the `details` Meta would give --------------------


def _send_problem(body: Json) -> str | None:
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be 'whatsapp'."
    if body.get("recipient_type", "individual") != "individual":
        return "Param recipient_type must be 'individual'."
    to = body.get("to")
    if not _text(to):
        return "The parameter to is required."
    if _wa_id(to) is None:
        return f"Param to {to!r} is not a valid WhatsApp phone number."
    kind = body.get("type", "text")  # Meta's default type
    if kind not in _SEND_TYPES:
        return f"Param type must be one of {sorted(_SEND_TYPES)}, got {kind!r}."
    content = body.get(kind)
    if not isinstance(content, dict):
        return f"The parameter {kind} is required."
    problem = _CONTENT_CHECKS.get(kind, _media_problem)(kind, content)
    if problem is not None:
        return problem
    context = body.get("context")
    if context is not None and not (isinstance(context, dict) and _text(context.get("message_id"))):
        return "Param context['message_id'] is required."
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and not (isinstance(callback, str) and len(callback) <= 512):
        return "Param biz_opaque_callback_data must be a string of at most 512 characters."
    return None


def _text_problem(kind: str, text: Json) -> str | None:
    if not _text(text.get("body"), 4096):
        return "Param text['body'] is required and at most 4096 characters."
    return None


def _template_problem(kind: str, template: Json) -> str | None:
    language = template.get("language")
    if not _text(template.get("name")):
        return "Param template['name'] is required."
    if not isinstance(language, dict) or not _text(language.get("code")):
        return "Param template['language']['code'] is required."
    if not isinstance(template.get("components", []), list):
        return "Param template['components'] must be an array."
    return None


def _media_problem(kind: str, media: Json) -> str | None:
    by_id, link = media.get("id"), media.get("link")
    if (by_id is None) == (link is None):
        return f"Param {kind} must have exactly one of 'id' or 'link'."
    if by_id is not None and not _text(by_id):
        return f"Param {kind}['id'] must be a media id."
    if link is not None and not (_text(link) and link.startswith(("https://", "http://"))):
        return f"Param {kind}['link'] must be an http(s) URL."
    return None


def _interactive_problem(kind: str, interactive: Json) -> str | None:
    variant, action, body = (interactive.get(k) for k in ("type", "action", "body"))
    if variant not in ("button", "list"):
        return "Param interactive['type'] must be 'button' or 'list' in this simulator."
    if not isinstance(body, dict) or not _text(body.get("text"), 1024):
        return "Param interactive['body']['text'] is required and at most 1024 characters."
    if not isinstance(action, dict):
        return "Param interactive['action'] is required."
    if variant == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return "Param interactive['action']['buttons'] must hold 1 to 3 buttons."
        for button in buttons:
            reply = button.get("reply") if isinstance(button, dict) else None
            if not (isinstance(reply, dict) and _text(reply.get("id"), 256)):
                return "Each button needs reply['id'] (at most 256 characters)."
            if not _text(reply.get("title"), 20):
                return "Each button needs reply['title'] (at most 20 characters)."
        return None
    sections = action.get("sections")
    if not _text(action.get("button"), 20):
        return "Param interactive['action']['button'] is required (at most 20 characters)."
    if not isinstance(sections, list) or not sections:
        return "Param interactive['action']['sections'] must hold at least one section."
    # A section without rows counts as one invalid row.
    rows = [
        row
        for section in sections
        for row in (section.get("rows") if isinstance(section, dict) else None) or [None]
    ]
    if len(rows) > 10:
        return "A list message holds at most 10 rows."
    if not all(_valid_row(row) for row in rows):
        return "Each section needs rows, each with an 'id' and a 'title' (at most 24 characters)."
    return None


def _valid_row(row: object) -> bool:
    return isinstance(row, dict) and _text(row.get("id"), 200) and _text(row.get("title"), 24)


_CONTENT_CHECKS: dict[str, Callable[[str, Json], str | None]] = {
    "text": _text_problem,
    "template": _template_problem,
    "interactive": _interactive_problem,
}
