"""The admin benchmark's live phase: signed webhooks at a steady rate through the real web server
and worker, and the time until each one's `message` event reaches an open SSE stream.

A browser's part is played over plain HTTP: sign in (the CSRF token from the login page's
<meta name="csrf-token">), then GET /t/<slug>/live with the session cookie, read as a stream.
"""

import http.client
import itertools
import json
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench.delivery import BenchFailure
from bench.ingest import Http, Measure
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from ops.processes import _die_with_parent, stop

REQUEST_TIMEOUT = 10.0
# Longer than the stream's heartbeat (15 s): a quiet stream is not a dead one.
STREAM_TIMEOUT = 40.0
POLL_SECONDS = 0.1
# EventSource's wait before reconnecting until the server names one (`retry:`).
DEFAULT_RETRY_SECONDS = 3.0
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@contextmanager
def logged_process(name: str, argv: Sequence[str], env: Mapping[str, str], log: Path):
    """A child writing to `log` (a line per stored message would bury the figures), stopped
    with its process group on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            yield proc
        finally:
            stop({name: proc}, grace=15)


class Browser:
    """Cookies and the session's CSRF token, as a browser keeps them for one site."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
        conn = self._connection(REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=self._headers(headers))
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            self._keep(response)
            return response.status, text
        finally:
            conn.close()

    def sign_in(self, email: str, password: str) -> None:
        status, page = self.request("GET", "/login")
        match = _CSRF_META.search(page)
        if status != 200 or match is None:
            raise BenchFailure(f"GET /login answered {status} without a CSRF token")
        form = urlencode({"email": email, "password": password, "csrf_token": match.group(1)})
        status, _ = self.request(
            "POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302:
            raise BenchFailure(f"signing in answered {status}, not a redirect")

    def open_stream(self, path: str) -> "EventStream":
        """The stream, read by a thread that reconnects as a browser's EventSource does."""
        return EventStream(lambda last_id: self._stream(path, last_id))

    def _stream(
        self, path: str, last_id: str | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        conn = self._connection(STREAM_TIMEOUT)
        try:
            conn.request("GET", path, headers=self._headers(headers))
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        if response.status != 200:
            response.read()
            conn.close()
            raise StreamRefused(response.status)
        return conn, response


class StreamRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the live stream answered {status}")
        self.status = status


Opener = Callable[[str | None], tuple[http.client.HTTPConnection, http.client.HTTPResponse]]


class EventStream:
    """An SSE stream read by a thread: when each `message` event's message id first arrived.

    Like a browser's EventSource, when the server ends the stream it waits the `retry:` the
    server asked for and opens it again with Last-Event-ID, so the server can send what was
    missed; each such reconnection is counted, with why the stream ended.
    """

    def __init__(self, opener: Opener) -> None:
        self.opener = opener
        self.arrived: dict[int, float] = {}
        self.inbound = 0
        self.reconnects = 0
        self.endings: list[str] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.retry_seconds = DEFAULT_RETRY_SECONDS
        self.last_id: str | None = None
        # The first connection is made here: a refusal (no such page) reaches the caller.
        self.conn, self.response = opener(None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.endings.append(self._read())
            self.conn.close()
            if self.closing.wait(self.retry_seconds):
                return
            try:
                self.conn, self.response = self.opener(self.last_id)
            except (StreamRefused, OSError, http.client.HTTPException) as exc:
                self.endings.append(f"reconnecting failed: {exc}")
                return
            self.reconnects += 1

    def _read(self) -> str:
        kind, data = "message", ""
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return "the server ended the stream"
                text = line.decode("utf-8").rstrip("\r\n")
                field_, _, value = text.partition(":")
                value = value.strip()
                if field_ == "event":
                    kind = value
                elif field_ == "data":
                    data += value
                elif field_ == "id":
                    self.last_id = value
                elif field_ == "retry" and value.isdigit():
                    self.retry_seconds = int(value) / 1000
                elif not text:
                    if kind == "message" and data:
                        self._record(json.loads(data), time.perf_counter())
                    kind, data = "message", ""
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return "closed" if self.closing.is_set() else f"reading failed: {exc!r}"

    def _record(self, event: dict, at: float) -> None:
        message_id = int(event["message_id"])
        with self.lock:
            if message_id not in self.arrived:
                self.arrived[message_id] = at
                self.inbound += event.get("direction") == "in"

    def close(self) -> None:
        self.closing.set()
        if self.conn.sock is not None:
            with suppress(OSError):
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.conn.close()


@dataclass(frozen=True)
class Load:
    """What the load generator posted: each provider message id and when its POST began."""

    started: dict[str, float]
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.started) / self.seconds if self.seconds else 0.0


def post_paced(
    port: int,
    slug: str,
    secret: str,
    phone_number_id: str,
    senders: Sequence[tuple[str, str]],
    texts: Sequence[str],
    *,
    rate: float,
    seconds: float,
    threads: int = 4,
) -> Load:
    """Signed single-message webhooks, the k-th at start + k / rate, from `threads` clients
    (a slow answer delays no other POST); returns the accepted ones."""
    started: dict[str, float] = {}
    errors = [0]
    lock = threading.Lock()
    counter = itertools.count()
    total = max(1, round(rate * seconds))
    run = secrets.token_hex(4).upper()
    path = f"/webhooks/whatsapp/{slug}"
    begun = time.perf_counter() + 0.05

    def client() -> None:
        http_ = Http(port)
        while True:
            with lock:
                k = next(counter)
            if k >= total:
                return
            delay = begun + k / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            wa_id, name = senders[k % len(senders)]
            wamid = f"wamid.HBgMLIVE{run}{k:08d}"
            body = encode(
                text_envelope(
                    phone_number_id,
                    [TextMessage(wa_id=wa_id, profile_name=name, wamid=wamid,
                                 text=texts[k % len(texts)], timestamp=int(time.time()))],
                )
            )  # fmt: skip
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(secret, body),
            }
            at = time.perf_counter()
            if http_.request("POST", path, body, headers):
                with lock:
                    started[wamid] = at
            else:
                with lock:
                    errors[0] += 1

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return Load(started, errors[0], time.perf_counter() - begun)


def wait_delivered(stream: EventStream, expected: int, timeout: float) -> None:
    """Until `expected` inbound message events have arrived, or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while stream.inbound < expected and time.monotonic() < deadline and stream.thread.is_alive():
        time.sleep(POLL_SECONDS)


def latencies(
    url: str, tenant_id: int, stream: EventStream, load: Load
) -> tuple[Measure, int, int]:
    """POST start -> event arrival for each accepted webhook whose event came; how many never
    came; and how many the worker had stored by then."""
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT provider_message_id, id FROM messages"
            " WHERE tenant_id = %s AND channel = 'whatsapp' AND provider_message_id = ANY(%s)",
            (tenant_id, list(load.started)),
        ).fetchall()
    with stream.lock:
        arrived = dict(stream.arrived)
    found = [arrived[mid] - load.started[wamid] for wamid, mid in stored if mid in arrived]
    missing = len(load.started) - len(found)
    return Measure(len(found), load.errors, load.seconds, found), missing, len(stored)
