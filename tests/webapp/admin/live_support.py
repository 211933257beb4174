"""A real `recado serve` and Server-Sent Events readers for the live stream's tests and bench."""

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ops.processes import wait_for_port
from tests.ops.test_cli import ROOT, closed_port

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class Served:
    url: str
    proc: subprocess.Popen


@contextlib.contextmanager
def recado_serve(log_path: Path, workers: int = 1) -> Iterator[Served]:
    """`recado serve` on a free port; stopped with SIGTERM at the end unless a test did."""
    port = closed_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert wait_for_port("127.0.0.1", port, timeout=30), "recado serve did not listen"
            yield Served(f"http://127.0.0.1:{port}", proc)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)


def signed_in(url: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    page = client.get("/login").text
    match = _CSRF_META.search(page)
    assert match, "no CSRF token on the sign-in page"
    response = client.post(
        "/login",
        # Somewhere every role may land (an operator's home page is built elsewhere).
        data={"email": email, "password": password, "csrf_token": match.group(1), "next": "/"},
    )
    assert response.status_code == 302, response.text
    return client


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict


@dataclass
class Stream:
    """GET `path` as an event stream, read in a thread, reconnecting as a browser does (with
    Last-Event-ID) when the server ends it; events land in `events`, `bye` left out."""

    client: httpx.Client
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    events: "queue.Queue[Event]" = field(default_factory=queue.Queue)
    status: int | None = None
    connections: int = 0
    ended: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)
    _closing: threading.Event = field(default_factory=threading.Event)
    _response: httpx.Response | None = None

    def start(self) -> "Stream":
        threading.Thread(target=self._read, daemon=True).start()
        assert self.opened.wait(10), "the stream did not answer"
        return self

    def _read(self) -> None:
        headers = dict(self.headers)
        try:
            while not self._closing.is_set():
                timeout = httpx.Timeout(10, read=None)
                with self.client.stream("GET", self.path, headers=headers, timeout=timeout) as r:
                    self._response = r
                    self.status = self.status or r.status_code
                    self.connections += 1
                    self.opened.set()
                    if r.status_code != 200:
                        return
                    fields: dict[str, str] = {}
                    for line in r.iter_lines():
                        if line == "":
                            if "id" in fields:
                                headers["Last-Event-ID"] = fields["id"]
                            if fields.get("event", "bye") != "bye":
                                data = json.loads(fields["data"])
                                event_id = int(fields.get("id", headers["Last-Event-ID"]))
                                self.events.put(Event(event_id, fields["event"], data))
                            fields = {}
                        elif not line.startswith(":"):
                            name, _, value = line.partition(": ")
                            fields[name] = value
        except (httpx.HTTPError, OSError, ValueError):
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def next(self, timeout: float = 10.0) -> Event:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._closing.set()
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.close()
        self.client.close()
