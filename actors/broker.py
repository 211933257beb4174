"""The Dramatiq broker on PostgreSQL: dramatiq-pg, hardened. The only module importing dramatiq_pg;
the SQL it runs is in db/broker_queue.py.

What the stock consumer gets wrong under load, and what this one does instead
(shared/notes/dramatiq-pg.md has the measurements):
- each consumed message holds a session-level advisory lock; stock code releases locks only when
  no notification is left, so a burst fills the server's lock table. Here each lock is released
  as soon as its message's ack or nack has committed, on the session that took it;
- its consume UPDATE could take a lock for a row it then did not update (leaked for good). Here
  the lock is tried once per attempt and released in the same statement when nothing was taken;
- the delay-queue consumer prefetched `threads x 1000` messages, each holding a lock while its
  eta is pending. Here that prefetch is capped by `Settings.delay_queue_prefetch`;
- orphans were found by a random 1-in-300 poll and old rows purged at random. Here the
  `Housekeeping` thread re-announces stale rows every few seconds and purges on a schedule.
"""

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from queue import Empty, SimpleQueue

import dramatiq
import psycopg
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, Prometheus, Retries, default_middleware
from dramatiq_pg import PostgresBroker, generate_init_sql
from dramatiq_pg.broker import PostgresConsumer
from dramatiq_pg.utils import (
    getconn,
    raise_connection_error,
    tidy4json,
    transaction,
    wait_for_notifies,
)
from psycopg.rows import DictRow
from psycopg2.extensions import Notify, connection, cursor
from psycopg2.extras import Json
from psycopg2.pool import ThreadedConnectionPool

from db import broker_queue, live_events, messages
from db.pool import SESSION_OPTIONS, connect
from domain.settings import Settings

logger = logging.getLogger(__name__)

# Connections are opened lazily, so a generous cap costs nothing; it must exceed what one process
# holds at once: two per queue (listen + consume) plus one per worker thread acking.
POOL_MAX_CONNECTIONS = 64
CONNECT_TIMEOUT_SECONDS = 5
# When its prefetch is full a consumer waits this long for a slot, then returns to its thread,
# which hands out the delayed messages whose eta has passed.
FULL_PREFETCH_WAIT_SECONDS = 0.05


# Housekeeping jobs take these transaction-level locks so one worker process runs each at a time.
SWEEP_JOB_LOCK = 7_263_145_101
PURGE_JOB_LOCK = 7_263_145_102


def schema_sql() -> str:
    """dramatiq-pg's own schema, to compare with our migration."""
    return generate_init_sql()


def build_broker(settings: Settings, *, middleware: Sequence[Middleware] = ()) -> dramatiq.Broker:
    """The hardened broker: dramatiq's default middleware with `middleware` just before Retries.

    No I/O: connections open on first use.
    """
    stack = [m() for m in default_middleware if m is not Prometheus]
    # Dramatiq runs after_* hooks in reverse order: placed before Retries, `middleware` sees
    # `message.failed` and the retry count that Retries has just set.
    assert isinstance(stack[-1], Retries)
    return HardenedPostgresBroker(
        pool=_make_pool(settings.database_url),
        delay_queue_prefetch=settings.delay_queue_prefetch,
        middleware=[*stack[:-1], *middleware, stack[-1]],
    )


def _make_pool(url: str) -> ThreadedConnectionPool:
    pool = ThreadedConnectionPool(
        0,
        POOL_MAX_CONNECTIONS,
        url,
        options=SESSION_OPTIONS,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name="recado-broker",
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=2,
    )
    # psycopg2 keeps only `minconn` idle connections; opened with 0 so construction does no I/O.
    pool.minconn = POOL_MAX_CONNECTIONS
    return pool


class HardenedPostgresBroker(PostgresBroker):
    def __init__(
        self,
        *,
        pool: ThreadedConnectionPool,
        delay_queue_prefetch: int,
        middleware: Sequence[Middleware],
    ) -> None:
        super().__init__(pool=pool, results=False, middleware=list(middleware))
        self.delay_queue_prefetch = delay_queue_prefetch
        # Per queue, the messages this process's worker threads hold. dramatiq replaces a
        # consumer after a connection error while its messages still run; the new consumer must
        # know them, or it takes them again (their locks died with the old session).
        self._in_flight: dict[str, set[str]] = {}

    def consume(
        self, queue_name: str, prefetch: int = 1, timeout: int = 30000
    ) -> "HardenedConsumer":
        if queue_name in self.delay_queues:
            # Each delayed message holds a lock until its eta: keep them bounded. dramatiq drops
            # a failed consumer's delayed messages, so they are not carried over: the sweeper
            # announces them again.
            prefetch = min(prefetch, self.delay_queue_prefetch)
            in_flight: set[str] = set()
        else:
            in_flight = self._in_flight.setdefault(queue_name, set())
        return HardenedConsumer(
            pool=self.pool,
            queue_name=queue_name,
            prefetch=prefetch,
            timeout=timeout,
            in_flight=in_flight,
        )


class HardenedConsumer(PostgresConsumer):
    """Runs on its queue's consumer thread, except ack/nack which worker threads call."""

    # Set by PostgresConsumer, which is untyped: the pooled connections held, if any.
    _listen_conn: connection | None
    _consume_conn: connection | None

    def __init__(
        self,
        *,
        pool: ThreadedConnectionPool,
        queue_name: str,
        prefetch: int,
        timeout: int,
        in_flight: set[str],
    ) -> None:
        super().__init__(pool=pool, queue_name=queue_name, prefetch=prefetch, timeout=timeout)
        self.in_processing = in_flight
        # Seconds, not whole seconds as stock code rounds them: a short worker_timeout keeps
        # delayed messages (retries, paced sends) on time without a busy loop.
        self.timeout = timeout / 1000
        self.notifies: deque[Notify] = deque()
        # Lock keys of messages whose ack/nack has committed, released by the consumer thread.
        self.unlock_q: SimpleQueue[int] = SimpleQueue()
        self._slot_freed = threading.Condition()
        # Messages announced again while this consumer still ran them (a retry whose backoff
        # ended before the failed attempt's ack committed): looked at again after that ack.
        self._recheck: set[str] = set()

    @raise_connection_error
    def __next__(self) -> MessageProxy | None:
        # dramatiq calls this at least once per worker_timeout, busy or idle.
        self._release_finished()

        if self._listen_conn is None:
            # First call, or after a reconnect: catch up on what was announced meanwhile.
            self.notifies.extend(self.fetch_pending_notifies())

        with self._slot_freed:
            if not self._slot_freed.wait_for(
                lambda: len(self.in_processing) < self.prefetch, FULL_PREFETCH_WAIT_SECONDS
            ):
                return None

        if not self.notifies:
            self.poll_for_notify()

        while self.notifies:
            message = self._take(self.notifies.popleft().payload)
            if message is not None:
                self.in_processing.add(message.message_id)
                return MessageProxy(message)
        return None

    @raise_connection_error
    def _take(self, payload: str) -> dramatiq.Message | None:
        message_id = json.loads(payload)["message_id"]
        with self._slot_freed:
            if message_id in self.in_processing:
                self._recheck.add(message_id)
                return None
        lock = broker_queue.message_lock_key(self.queue_name, message_id)
        with _cursor(self.get_consume_conn()) as curs:
            curs.execute(
                broker_queue.CONSUME_SQL,
                {"lock": lock, "message_id": message_id, "queue_name": self.queue_name},
            )
            row = curs.fetchone()
        if row is None or row[0] is None:
            return None
        # The row, not the notification: a stale notification may carry an older attempt.
        return dramatiq.Message.decode(row[0].encode())

    def ack(self, message: MessageProxy) -> None:
        if getattr(message, "_exception", None) is not None:
            # A failed attempt that was not given up: its retry owns the row (moved to the
            # delay queue), or, when queueing the retry itself failed, the row stays consumed
            # and the sweeper runs it again. Marking it done would lose the message.
            self._release(message)
            return
        self._finish(message, "done")

    def nack(self, message: MessageProxy) -> None:
        self._finish(message, "rejected")

    @raise_connection_error
    def _finish(self, message: MessageProxy, state: str) -> None:
        with _pooled_cursor(self.pool) as curs:
            curs.execute(
                broker_queue.FINISH_SQL,
                {
                    "state": state,
                    "message": Json(tidy4json(message)),
                    "message_id": message.message_id,
                    "queue_name": message.queue_name,
                },
            )
        # Committed: only now may another consumer lock the message (earlier, it would run twice).
        self._release(message)

    def _release(self, message: MessageProxy) -> None:
        self.unlock_q.put(broker_queue.message_lock_key(message.queue_name, message.message_id))
        with self._slot_freed:
            self.in_processing.discard(message.message_id)
            if message.message_id in self._recheck:
                self._recheck.discard(message.message_id)
                payload = json.dumps({"message_id": message.message_id})
                self.notifies.append(Notify(0, f"dramatiq.{self.queue_name}.enqueue", payload))
            self._slot_freed.notify()

    @raise_connection_error
    def _release_finished(self) -> None:
        locks = []
        while True:
            try:
                locks.append(self.unlock_q.get_nowait())
            except Empty:
                break
        if locks:
            with _cursor(self.get_consume_conn()) as curs:
                curs.execute(broker_queue.UNLOCK_SQL, (locks,))

    @raise_connection_error
    def fetch_pending_notifies(self) -> list[Notify]:
        # Opens the listening connection first, so nothing announced after this SELECT is missed.
        self.get_listen_conn()
        with _cursor(self.get_consume_conn()) as curs:
            curs.execute(broker_queue.PENDING_SQL, (self.queue_name,))
            channel = f"dramatiq.{self.queue_name}.enqueue"
            return [Notify(0, channel, payload) for (payload,) in curs]

    @raise_connection_error
    def poll_for_notify(self) -> None:
        self.notifies.extend(wait_for_notifies(self.get_listen_conn(), self.timeout))

    @raise_connection_error
    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        messages = list(messages)
        if not messages:
            return
        locks = [broker_queue.message_lock_key(self.queue_name, m.message_id) for m in messages]
        # One transaction, unlocking after the update: its notifications go out at commit, when
        # the locks are free; a consumer locking one meanwhile waits for the commit, then takes it.
        with transaction(self.get_consume_conn()) as curs:
            curs.execute(
                broker_queue.REQUEUE_SQL,
                {
                    "message_ids": [m.message_id for m in messages],
                    "queue_name": self.queue_name,
                },
            )
            curs.execute(broker_queue.UNLOCK_SQL, (locks,))
        for message in messages:
            self.in_processing.discard(message.message_id)

    def close(self) -> None:
        # Closed, not pooled: a pooled session would keep this consumer's advisory locks, or its
        # LISTEN and a growing list of notifications nobody reads.
        for conn in (self._listen_conn, self._consume_conn):
            if conn is not None:
                self.pool.putconn(conn, close=True)
        self._listen_conn = self._consume_conn = None


@contextmanager
def _cursor(conn: connection) -> Iterator[cursor]:
    # Every statement here stands alone: in autocommit, psycopg2 spends no round trips on
    # BEGIN and COMMIT (its `with conn:` does, even on autocommit connections).
    conn.autocommit = True
    with conn.cursor() as curs:
        yield curs


@contextmanager
def _pooled_cursor(pool: ThreadedConnectionPool) -> Iterator[cursor]:
    conn = getconn(pool)
    try:
        with _cursor(conn) as curs:
            yield curs
    finally:
        pool.putconn(conn)


class Housekeeping:
    """A daemon thread in each worker process: re-announces orphans, purges finished rows,
    delivery statuses parked past their retention and the admin pages' old live events.

    Every worker process runs one; a transaction-level advisory lock lets one of them do each
    job at a time. A row is an orphan when it is unfinished, untouched for `sweep_after` and no
    session holds its lock: a message running longer than that keeps its lock and is left alone.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sweep_every: float = 3.0,
        purge_every: float = 600.0,
        first_purge_after: float = 30.0,
    ) -> None:
        self.settings = settings
        self.sweep_every = sweep_every
        self.purge_every = purge_every
        self.first_purge_after = first_purge_after
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._conn: psycopg.Connection[DictRow] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        next_purge = time.monotonic() + self.first_purge_after
        try:
            while not self._stopping.wait(self.sweep_every):
                try:
                    self.sweep()
                    if time.monotonic() >= next_purge:
                        self.purge()
                        next_purge = time.monotonic() + self.purge_every
                except psycopg.Error as error:
                    # The database may be restarting: reconnect on the next round.
                    logger.warning("Housekeeping failed, retrying: %s", error)
                    self._disconnect()
                except Exception:
                    logger.exception("Housekeeping failed, retrying.")
                    self._disconnect()
        finally:
            self._disconnect()

    def sweep(self) -> int:
        conn = self._connection()
        with conn.transaction():
            if not broker_queue.try_job_lock(conn, SWEEP_JOB_LOCK):
                return 0
            stale = broker_queue.stale_messages(conn, self.settings.sweep_after)
            count = broker_queue.reannounce(conn, [m.message_id for m in stale])
        orphans = [m for m in stale if m.state == "consumed"]
        if orphans:
            logger.warning(
                "Re-announced %d orphaned messages (oldest %s in %s).",
                len(orphans),
                orphans[0].message_id,
                orphans[0].queue_name,
            )
        if count > len(orphans):
            # Mostly a backlog the consumers have not reached yet; rarely a lost notification.
            logger.info("Re-announced %d messages queued for long.", count - len(orphans))
        return count

    def purge(self) -> int:
        conn = self._connection()
        with conn.transaction():
            if not broker_queue.try_job_lock(conn, PURGE_JOB_LOCK):
                return 0
            deleted = broker_queue.purge_finished(conn, self.settings.queue_retention)
            parked = messages.purge_parked_statuses(conn, self.settings.pending_status_retention)
            live = live_events.purge_live_events(conn)
        logger.info(
            "Purged %d finished messages older than %s.", deleted, self.settings.queue_retention
        )
        if parked:
            logger.info(
                "Purged %d delivery statuses parked over %s for messages recado never recorded.",
                parked,
                self.settings.pending_status_retention,
            )
        if live:
            logger.info("Purged %d live events of the admin pages.", live)
        return deleted

    def _connection(self) -> psycopg.Connection[DictRow]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(
                self.settings.database_url,
                application_name="recado-housekeeping",
                autocommit=True,
            )
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
