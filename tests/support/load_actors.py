"""Test-only actors for load and failure tests, declared on a broker built from the environment.

A worker process loads them either way:
    python -m actors.worker --import tests.support.load_actors --threads 4
    python -m tests.support.load_actors --threads 4

Runs that matter are recorded in `load_runs` (tests.support.LOAD_RUNS_TABLE_SQL; the test creates
it), one row per run, so duplicates are countable. Tests build messages by actor name. Run on
their own, these actors get a broker of their own, without the app's step journal; imported by
`actors.worker`, they join the app's steps on its broker.
"""

import argparse
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

import dramatiq
from dramatiq.middleware import CurrentMessage
from psycopg_pool import ConnectionPool

from actors.bootstrap import bootstrap
from actors.steps import bind, step
from actors.worker import LOG_FORMAT, run_worker
from db.pool import make_pool
from domain.settings import Settings

# A queue no worker consumes: rows the broker writes there keep their insert-time mtime.
PARKED_QUEUE = "parked"

_pool_lock = threading.Lock()


@functools.cache
def _pool() -> ConnectionPool:
    url = os.environ["DATABASE_URL"]
    return make_pool(url, application_name="load-actors", max_size=16, timeout=30)


def _record(key: str) -> None:
    # Worker threads race for the first call; functools.cache alone would open several pools.
    with _pool_lock:
        pool = _pool()
    with pool.connection() as conn:
        conn.execute("INSERT INTO load_runs (key, pid) VALUES (%s, %s)", (key, os.getpid()))


@step(max_retries=0)
def noop() -> None:
    pass


@step(max_retries=0)
def record(key: str) -> None:
    _record(key)


@step(max_retries=0)
def sleep_then_record(key: str, seconds: float) -> None:
    time.sleep(seconds)
    _record(key)


@step(max_retries=2, min_backoff=20, max_backoff=100)
def always_fail() -> None:
    raise RuntimeError("always fails")


@step(max_retries=10)
def fail_then_record(key: str, failures: int, backoff_ms: int) -> None:
    """Fails its first `failures` attempts (through the delay queue), then records one run."""
    message = CurrentMessage.get_current_message()
    if message.options.get("retries", 0) < failures:
        # Retry, unlike other errors, is not logged with a traceback at every attempt.
        raise dramatiq.Retry(delay=backoff_ms)
    _record(key)


@step(max_retries=0)
def probe_session(key: str) -> None:
    """Records the broker session's TimeZone and parks a message inserted by the broker."""
    broker = probe_session.broker
    conn = broker.pool.getconn()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SHOW TimeZone")
            (zone,) = cur.fetchone()
    finally:
        broker.pool.putconn(conn)
    _record(f"{key}:{zone}")
    broker.enqueue(dramatiq.Message(PARKED_QUEUE, "noop", (), {}, {}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.load_actors")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    settings = Settings.from_env(os.environ)
    runtime = bootstrap(settings, middleware=[CurrentMessage()])
    assert runtime.broker is not None
    bind(runtime.broker)
    return run_worker(runtime.broker, settings, threads=args.threads)


if __name__ == "__main__":
    sys.exit(main())
