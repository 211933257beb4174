"""GET /t/<slug>/live as a Server-Sent Events stream, served in hypercorn's event loop.

The Flask route (webapp/live/views.py) runs first, in a thread, as any request: it reads the
session and answers 200 with the tenant and user, or the redirect or 404 the browser then gets.
The stream itself is a coroutine, so open pages hold no thread from the pool that answers
webhooks. Events go out as `id:`, `event:` (message, status, conversation) and `data:` (JSON).

No gap and no duplicate on reconnect: the stream subscribes to the hub before it reads what the
browser missed after its Last-Event-ID, and sends each id once.
"""

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import psycopg
from hypercorn.typing import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, HTTPScope
from psycopg_pool import ConnectionPool, PoolTimeout

from db import live_events
from db.live_events import LiveEvent
from webapp import serving
from webapp.live.hub import LiveHub, Subscription

PATH = re.compile(r"^/t/[^/]+/live$")
HEARTBEAT_SECONDS = 15.0
# Hypercorn drops a connection whose client sent nothing for read_timeout (webapp/serving.py),
# streams included: an event source never sends. So a stream ends itself just before, with a
# `bye` event, and the browser reconnects at once from its last id, missing nothing.
STREAM_SECONDS = serving.read_timeout - 1.0 if serving.read_timeout else None
# The browser's wait before reconnecting, in milliseconds: short, as streams are recycled.
RETRY_MILLISECONDS = 500
# Missed events sent on reconnect at most; past that the page is told to reload what it shows.
CATCH_UP_LIMIT = 1000
# A hub still connecting after this: the stream ends and the browser comes back later.
READY_SECONDS = 5.0

App = Callable[[HTTPScope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


def is_stream_request(scope: HTTPScope) -> bool:
    return scope["method"] == "GET" and bool(PATH.match(scope["path"]))


@dataclass
class _Answer:
    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


def format_event(event: LiveEvent) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def last_event_id(scope: HTTPScope) -> int | None:
    """The browser's Last-Event-ID header (sent on reconnect), or the `last_event_id` query
    parameter a page passes when it opens a new stream; None when neither holds an id."""
    for name, value in scope["headers"]:
        if name.lower() == b"last-event-id" and value.strip().isdigit():
            return int(value)
    query = parse_qs(scope["query_string"].decode("latin-1")).get("last_event_id", [])
    return int(query[0]) if query and query[0].isdigit() else None


async def serve(
    flask: App,
    hub: LiveHub,
    pool: ConnectionPool,
    scope: HTTPScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
) -> None:
    answer = await _ask_flask(flask, scope, receive, send)
    if answer is None:
        return
    tenant_id = int(json.loads(answer.body)["tenant_id"])
    after = last_event_id(scope)
    subscription = hub.subscribe(tenant_id)
    try:
        # Answered once the hub listens: whatever the page saw change after this is streamed.
        ready = await hub.wait_ready(READY_SECONDS)
        cookies = [(n, v) for n, v in answer.headers if n.lower() == b"set-cookie"]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    # nginx would otherwise hold the events in its buffer.
                    (b"x-accel-buffering", b"no"),
                    *cookies,
                ],
            }
        )
        await _write(send, f"retry: {RETRY_MILLISECONDS}\n\n".encode())
        if not ready:
            # The database is away: the browser tries again after the retry delay.
            return
        # The browser's position from the start (an `id:` alone sets it, dispatching nothing),
        # so a reconnect before any event still catches up what it missed.
        await _write(send, f"id: {after if after is not None else hub.position}\n\n".encode())
        sent: set[int] = set()
        if after is not None:
            missed = await _missed(pool, tenant_id, after)
            if missed is None:
                return
            if len(missed) >= CATCH_UP_LIMIT:
                # Too far behind to replay: the page reloads its fragments instead, and resumes
                # from the newest event.
                await _write(send, f"id: {hub.position}\nevent: reset\ndata: {{}}\n\n".encode())
                missed = []
            for event in missed:
                sent.add(event.id)
                await _write(send, format_event(event))
        await _relay(subscription, hub, receive, send, sent)
    finally:
        hub.unsubscribe(subscription)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _ask_flask(
    flask: App, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> _Answer | None:
    """The Flask route's answer when it grants the stream; otherwise None, the answer relayed."""
    answer = _Answer()

    async def capture(message: object) -> None:
        if not isinstance(message, dict):
            return
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.body.extend(message.get("body", b""))

    await flask(scope, receive, capture)
    if answer.status == 200:
        return answer
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": bytes(answer.body), "more_body": False})
    return None


async def _missed(pool: ConnectionPool, tenant_id: int, after: int) -> list[LiveEvent] | None:
    """The tenant's events after `after`, read in a thread; None when the database cannot say."""

    def read() -> list[LiveEvent]:
        with pool.connection() as conn:
            return live_events.events_after(conn, tenant_id, after, CATCH_UP_LIMIT)

    try:
        return await asyncio.get_running_loop().run_in_executor(None, read)
    except (psycopg.Error, PoolTimeout):
        return None


async def _relay(
    subscription: Subscription,
    hub: LiveHub,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    sent: set[int],
) -> None:
    """Live events until the client leaves, the hub drops the stream or the server stops."""
    gone = asyncio.create_task(_disconnected(receive))
    loop = asyncio.get_running_loop()
    end = loop.time() + STREAM_SECONDS if STREAM_SECONDS else None
    try:
        while not hub.closing.is_set():
            wait = HEARTBEAT_SECONDS if end is None else min(HEARTBEAT_SECONDS, end - loop.time())
            if wait <= 0:
                await _write(send, b"event: bye\ndata: {}\n\n")
                return
            getting = asyncio.create_task(subscription.queue.get())
            done, _ = await asyncio.wait(
                {getting, gone}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                getting.cancel()
                return
            if getting not in done:
                getting.cancel()
                if end is None or loop.time() < end:
                    await _write(send, b": keep-alive\n\n")
                continue
            event = getting.result()
            if event is None:
                return
            if event.id not in sent:
                await _write(send, format_event(event))
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone


async def _disconnected(receive: ASGIReceiveCallable) -> None:
    while True:
        message: ASGIReceiveEvent = await receive()
        if message["type"] == "http.disconnect":
            return


async def _write(send: ASGISendCallable, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})
