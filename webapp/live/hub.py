"""The one LISTEN connection of a web process, fanned out to the streams of its open pages.

Each notification names a tenant and an event id; the hub reads the rows and hands each event to
the queues of that tenant's streams. When the connection drops (PostgreSQL restarted, the backend
terminated) it reconnects with a growing pause and first reads every event after the last one it
saw, so the streams lose nothing while it was away.
"""

import asyncio
import contextlib
import logging
import multiprocessing
from collections import deque
from typing import Any

import psycopg
from psycopg import AsyncConnection

from db import live_events
from db.live_events import LiveEvent
from db.pool import connect_kwargs

logger = logging.getLogger(__name__)

# A stream this far behind is ended: the browser reconnects and catches up from its last id.
QUEUE_LIMIT = 1000
# Waits between reconnection attempts grow to this.
MAX_PAUSE_SECONDS = 5.0
# Events of the listener's own catch-up read at once.
CATCH_UP_PAGE = 500
# Ids recently handed out, so that an event both caught up and notified goes out once.
RECENT_IDS = 4096
# How often hypercorn's stop is looked for (webapp/live/hub.py stopping_event).
SHUTDOWN_POLL_SECONDS = 0.2


class Subscription:
    """One stream's share of the events: those of `tenant_id`, in `queue`; None ends it."""

    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue()


class LiveHub:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.subscriptions: set[Subscription] = set()
        self.closing = asyncio.Event()
        self._ready = asyncio.Event()
        self._last_id: int | None = None
        self._recent: deque[int] = deque(maxlen=RECENT_IDS)
        self._recent_set: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(self, tenant_id: int) -> Subscription:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="live-listen"),
                asyncio.create_task(self._watch_shutdown(), name="live-shutdown"),
            ]
        subscription = Subscription(tenant_id)
        self.subscriptions.add(subscription)
        return subscription

    @property
    def position(self) -> int:
        """The newest event id the hub has seen (or found when it first listened)."""
        return self._last_id or 0

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    async def wait_ready(self, timeout: float) -> bool:
        """True once the hub listens: an event committed from now on reaches the subscriptions.
        False at once when the server is stopping."""
        waits = {asyncio.create_task(self._ready.wait()), asyncio.create_task(self.closing.wait())}
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        return self._ready.is_set() and not self.closing.is_set()

    def close(self) -> None:
        """End every stream now and stop listening (the server is stopping)."""
        if self.closing.is_set():
            return
        self.closing.set()
        for subscription in list(self.subscriptions):
            subscription.queue.put_nowait(None)
        self.subscriptions.clear()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    def dispatch(self, events: list[LiveEvent]) -> None:
        for event in events:
            if event.id in self._recent_set:
                continue
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(event.id)
            self._recent_set.add(event.id)
            self._last_id = max(self._last_id or 0, event.id)
            for subscription in list(self.subscriptions):
                if subscription.tenant_id != event.tenant_id:
                    continue
                if subscription.queue.qsize() >= QUEUE_LIMIT:
                    # Too slow a reader: drop it rather than hold events without bound.
                    self.subscriptions.discard(subscription)
                    subscription.queue.put_nowait(None)
                else:
                    subscription.queue.put_nowait(event)

    async def _listen(self) -> None:
        pause = 0.2
        while not self.closing.is_set():
            try:
                async with await AsyncConnection.connect(
                    self.database_url, autocommit=True, **connect_kwargs("recado-live")
                ) as conn:
                    await live_events.listen(conn)
                    await self._catch_up(conn)
                    self._ready.set()
                    pause = 0.2
                    await self._relay(conn)
            except (psycopg.Error, OSError) as error:
                logger.warning("Live updates' listener lost the database, reconnecting: %s", error)
            finally:
                self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), pause)
            pause = min(pause * 2, MAX_PAUSE_SECONDS)

    async def _catch_up(self, conn: AsyncConnection[Any]) -> None:
        if self._last_id is None:
            # The first connection: the streams read their own history (Last-Event-ID).
            self._last_id = await live_events.latest_id_async(conn)
            return
        while True:
            events = await live_events.all_events_after(conn, self._last_id, CATCH_UP_PAGE)
            self.dispatch(events)
            if len(events) < CATCH_UP_PAGE:
                return

    async def _relay(self, conn: AsyncConnection[Any]) -> None:
        while not self.closing.is_set():
            ids = []
            # Leaves the generator after the first packet of notifications so the rows can be
            # read on the same connection; later ones wait in psycopg's backlog meanwhile.
            async for notify in conn.notifies(timeout=5.0, stop_after=1):
                parsed = live_events.parse_notification(notify.payload)
                if parsed is not None:
                    ids.append(parsed[1])
            if ids:
                self.dispatch(await live_events.events_by_ids(conn, ids))

    async def _watch_shutdown(self) -> None:
        stopping = stopping_event()
        if stopping is None:
            return
        while not stopping.is_set():
            await asyncio.sleep(SHUTDOWN_POLL_SECONDS)
        self.close()


def stopping_event() -> Any:
    """The event hypercorn's parent process sets to stop its workers, or None outside one.

    Hypercorn tells the app nothing of a stop before its graceful timeout has passed, and a
    stream never ends by itself: without this, every open page would hold the stop for the
    whole timeout. The event is the `shutdown_event` argument hypercorn gives each worker
    process (hypercorn/run.py), read from the process object.
    """
    kwargs = getattr(multiprocessing.current_process(), "_kwargs", None) or {}
    event = kwargs.get("shutdown_event")
    return event if hasattr(event, "is_set") else None
