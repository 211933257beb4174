"""The hardened dramatiq-pg broker under load and failure, with real worker processes.

Everything runs against a private PostgreSQL with a default-sized lock table (64 locks per
transaction x ~100 backends): stock dramatiq-pg exhausts it with 20,000 queued or 16,000 delayed
messages (shared/notes/dramatiq-pg.md). Its server time zone is deliberately not UTC.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import dramatiq
import psutil
import pytest
from psycopg import Connection

from db import broker_queue
from db.pool import connect
from db.queue import enqueue
from ops.private_pg import PrivatePostgres
from tests.support import LOAD_RUNS_TABLE_SQL

REPO_ROOT = Path(__file__).resolve().parents[2]
# Far below the ~6,400-entry lock table of this server, far above a healthy in-flight count.
LOCK_BOUND = 2_000
SWEEP_AFTER_SECONDS = 5
ORPHAN_DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    settings = {"max_connections": 100, "max_locks_per_transaction": 64, "timezone": "Asia/Kolkata"}
    with PrivatePostgres(settings=settings) as server:
        yield server


@pytest.fixture
def conn(pg: PrivatePostgres) -> Iterator[Connection]:
    with connect(pg.url, application_name="test", autocommit=True) as c:
        c.execute(LOAD_RUNS_TABLE_SQL)
        c.execute("TRUNCATE dramatiq.queue, load_runs")
        yield c


class Workers:
    """Worker subprocesses on the private cluster; every one is killed at teardown."""

    def __init__(self, pg: PrivatePostgres, log_dir: Path) -> None:
        self.pg = pg
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "PYTHONPATH": str(REPO_ROOT),
            "RECADO_SWEEP_AFTER_SECONDS": str(SWEEP_AFTER_SECONDS),
        }

    def spawn(self, command: list[str]) -> subprocess.Popen:
        # The child writes to its own copy of the file; ours is closed once it has started.
        with (self.log_dir / f"process-{len(self.processes)}.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, *command], cwd=REPO_ROOT, env=self.env, stderr=log, stdout=log
            )
        self.processes.append(process)
        return process

    def start(self, threads: int = 4, *, via_actors_worker: bool = False) -> subprocess.Popen:
        if via_actors_worker:
            command = ["-m", "actors.worker", "--import", "tests.support.load_actors"]
        else:
            command = ["-m", "tests.support.load_actors"]
        return self.spawn([*command, "--threads", str(threads)])

    def kill_all(self) -> None:
        for process in self.processes:
            for child in _children(process.pid):
                child.kill()
            if process.poll() is None:
                process.kill()
            process.wait(10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-15:])
            for path in sorted(self.log_dir.glob("process-*.log"))
        )


@pytest.fixture
def workers(pg: PrivatePostgres, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(pg, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


class LockSampler(threading.Thread):
    """Samples the cluster's advisory lock count on its own connection."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.max_locks = 0
        self.max_notify_usage = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        with connect(self.url, application_name="sampler", autocommit=True) as c:
            while not self._halt.wait(0.1):
                self.max_locks = max(self.max_locks, broker_queue.advisory_lock_count(c))
                usage = c.execute("SELECT pg_notification_queue_usage() AS u").fetchone()["u"]
                self.max_notify_usage = max(self.max_notify_usage, usage)

    def __enter__(self) -> "LockSampler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join(5)


def message(actor: str, *args: object, queue: str = "default") -> dict:
    return json.loads(dramatiq.Message(queue, actor, args, {}, {}).encode())


def enqueue_all(conn: Connection, messages: list[dict], batch: int = 1_000) -> None:
    for start in range(0, len(messages), batch):
        with conn.transaction():
            enqueue(conn, messages[start : start + batch])


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, workers: Workers | None = None
) -> float:
    """Poll `condition` until true; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            logs = workers.logs() if workers else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(0.2)
    return time.monotonic() - started


def count(conn: Connection, sql: str, *params: object) -> int:
    return conn.execute(sql, params).fetchone()["n"]


def in_state(conn: Connection, message_id: str, state: str) -> bool:
    row = conn.execute(
        "SELECT state::text FROM dramatiq.queue WHERE message_id = %s", (message_id,)
    )
    found = row.fetchone()
    return found is not None and found["state"] == state


def states(conn: Connection) -> dict[str, int]:
    return {s.state: s.count for s in broker_queue.stats(conn) if s.queue_name != "parked"}


def wait_listening(conn: Connection, processes: int, workers: Workers) -> None:
    # Each worker process listens on two channels: the queue and its delay queue.
    wait_for(
        lambda: (
            count(
                conn,
                "SELECT count(*) AS n FROM pg_stat_activity"
                " WHERE application_name = 'recado-broker' AND query LIKE 'LISTEN%%'",
            )
            >= 2 * processes
        ),
        60,
        "workers to listen",
        workers,
    )


def assert_ran_once_each(conn: Connection, expected: int) -> None:
    row = conn.execute("SELECT count(*) AS runs, count(DISTINCT key) AS keys FROM load_runs")
    runs, keys = row.fetchone().values()
    assert (runs, keys) == (expected, expected)


def assert_locks_released(conn: Connection, workers: Workers) -> None:
    """Idle workers hold no advisory lock: none leaked."""
    wait_for(lambda: broker_queue.advisory_lock_count(conn) == 0, 10, "locks released", workers)


def test_sweeper_finds_stale_rows_nobody_holds(pg: PrivatePostgres, conn: Connection) -> None:
    """The consumer's lock key (Python) and the sweeper's pg_locks lookup (SQL) agree."""
    rows = {
        "consumed-old": ("q.DQ", "consumed", "1 hour"),
        "queued-old": ("q", "queued", "2 hours"),
        "consumed-new": ("q", "consumed", "1 second"),
        "done-old": ("q", "done", "1 hour"),
    }
    ids = {}
    for name, (queue, state, age) in rows.items():
        ids[name] = conn.execute(
            "INSERT INTO dramatiq.queue (queue_name, message_id, state, mtime, message)"
            " VALUES (%s, gen_random_uuid(), %s, now() - %s::interval, '{}') RETURNING message_id",
            (queue, state, age),
        ).fetchone()["message_id"]

    def stale() -> list[str]:
        found = broker_queue.stale_messages(conn, timedelta(minutes=1))
        return [name for m in found for name, id_ in ids.items() if id_ == m.message_id]

    assert stale() == ["consumed-old", "queued-old"]
    key = broker_queue.message_lock_key("q.DQ", str(ids["consumed-old"]))
    with connect(pg.url, application_name="holder", autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        assert stale() == ["queued-old"]
        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
        assert stale() == ["consumed-old", "queued-old"]
    with conn.transaction():
        assert broker_queue.reannounce(conn, [ids["queued-old"], ids["done-old"]]) == 1


def test_consume_never_keeps_a_lock_for_a_row_it_did_not_take(
    pg: PrivatePostgres, conn: Connection
) -> None:
    """The race that leaks a lock with dramatiq-pg's `WHERE ... AND pg_try_advisory_lock(..)`.

    A consumer reads the row while it is still `consumed` (another worker's ack is not yet
    committed), takes the lock, waits on the row, and re-checks it after the commit: `done`.
    """
    row = message("record", "race")
    enqueue_all(conn, [row])
    conn.execute("UPDATE dramatiq.queue SET state = 'consumed'")
    params = {
        "lock": broker_queue.message_lock_key("default", row["message_id"]),
        "message_id": row["message_id"],
        "queue_name": "default",
    }
    with (
        connect(pg.url, application_name="acker") as acker,
        connect(pg.url, application_name="racer", autocommit=True) as racer,
    ):
        acker.execute("UPDATE dramatiq.queue SET state = 'done'")
        result: list[object] = []
        consume = threading.Thread(
            target=lambda: result.append(racer.execute(broker_queue.CONSUME_SQL, params).fetchone())
        )
        consume.start()
        wait_for(
            lambda: (
                count(
                    conn,
                    "SELECT count(*) AS n FROM pg_stat_activity"
                    " WHERE application_name = 'racer' AND wait_event_type = 'Lock'",
                )
                == 1
            ),
            10,
            "the racer to wait on the row",
        )
        acker.commit()
        consume.join(10)
        assert count(conn, "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'") == 0
        # The racer did take the lock, and released it in the same statement.
        assert result == [{"message": None, "released": True}]


@pytest.mark.slow
def test_burst_of_20000_drains_with_bounded_locks(conn: Connection, workers: Workers) -> None:
    total = 20_000
    for _ in range(2):
        workers.start(threads=4)
    wait_listening(conn, 2, workers)
    with LockSampler(workers.pg.url) as sampler:
        started = time.monotonic()
        enqueue_all(conn, [message("record", f"burst-{i}") for i in range(total)])
        enqueued = time.monotonic() - started
        wait_for(lambda: states(conn).get("done", 0) == total, 240, "the burst to drain", workers)
        elapsed = time.monotonic() - started
    print(
        f"\nburst: {total} enqueued in {enqueued:.1f} s, drained in {elapsed:.1f} s"
        f" ({total / elapsed:.0f}/s); max advisory locks {sampler.max_locks},"
        f" max notification queue usage {sampler.max_notify_usage:.4f}"
    )
    assert_ran_once_each(conn, total)
    assert sampler.max_locks < LOCK_BOUND
    assert_locks_released(conn, workers)


@pytest.mark.slow
def test_retry_storm_of_16000_drains_with_bounded_locks(conn: Connection, workers: Workers) -> None:
    total = 16_000
    for _ in range(2):
        workers.start(threads=4)
    wait_listening(conn, 2, workers)
    with LockSampler(workers.pg.url) as sampler:
        started = time.monotonic()
        enqueue_all(conn, [message("fail_then_record", f"storm-{i}", 1, 200) for i in range(total)])
        wait_for(lambda: states(conn).get("done", 0) == total, 240, "the storm to drain", workers)
        elapsed = time.monotonic() - started
    print(
        f"\nretry storm: {total} messages x 2 attempts in {elapsed:.1f} s"
        f" ({total / elapsed:.0f} messages/s); max advisory locks {sampler.max_locks}"
    )
    assert_ran_once_each(conn, total)
    assert sampler.max_locks < LOCK_BOUND
    assert_locks_released(conn, workers)


@pytest.mark.slow
def test_duplicate_notifications_never_run_a_message_twice(
    conn: Connection, workers: Workers
) -> None:
    """Two processes race on every message, and again on re-sent notifications around its ack."""
    total, batch = 4_000, 100
    workers.start(threads=4)
    workers.start(threads=4, via_actors_worker=True)
    wait_listening(conn, 2, workers)
    messages = [message("record", f"dup-{i}") for i in range(total)]
    batches = [messages[i : i + batch] for i in range(0, total, batch)]
    renotify = (
        "SELECT pg_notify('dramatiq.default.enqueue', message::text)"
        " FROM dramatiq.queue WHERE message_id = ANY(%s::uuid[])"
    )
    for index, current in enumerate(batches):
        with conn.transaction():
            enqueue(conn, current)
        # Separate transactions: PostgreSQL folds identical notifications within one.
        for lag in (1, 2):
            if index >= lag:
                ids = [m["message_id"] for m in batches[index - lag]]
                conn.execute(renotify, (ids,))
    wait_for(lambda: states(conn).get("done", 0) == total, 120, "all to run", workers)
    assert_ran_once_each(conn, total)
    assert_locks_released(conn, workers)


def _victim_takes_slow_message(
    conn: Connection, workers: Workers, key: str
) -> tuple[subprocess.Popen, str]:
    """Start one worker and wait until it runs a 3-second message; returns it and the id."""
    victim = workers.start(threads=2)
    wait_listening(conn, 1, workers)
    orphan = message("sleep_then_record", key, 3.0)
    enqueue_all(conn, [orphan])
    wait_for(
        lambda: in_state(conn, orphan["message_id"], "consumed"),
        30,
        "the victim to take the message",
        workers,
    )
    return victim, orphan["message_id"]


def _kill(process: subprocess.Popen) -> float:
    process.kill()
    process.wait(10)
    return time.monotonic()


@pytest.mark.slow
def test_orphan_of_killed_worker_runs_on_busy_survivor(conn: Connection, workers: Workers) -> None:
    """Only the sweeper can help here: the survivor was already running when the victim died."""
    victim, message_id = _victim_takes_slow_message(conn, workers, "orphan")
    workers.start(threads=2)
    wait_listening(conn, 2, workers)
    enqueue_all(conn, [message("sleep_then_record", f"busy-{i}", 0.5) for i in range(60)])
    time.sleep(1.0)
    killed_at = _kill(victim)
    wait_for(
        lambda: in_state(conn, message_id, "done"), ORPHAN_DEADLINE_SECONDS, "the orphan", workers
    )
    recovered = time.monotonic() - killed_at
    busy_left = count(
        conn, "SELECT count(*) AS n FROM dramatiq.queue WHERE state IN ('queued', 'consumed')"
    )
    print(f"\norphan completed {recovered:.1f} s after SIGKILL ({busy_left} busy messages left)")
    assert count(conn, "SELECT count(*) AS n FROM load_runs WHERE key = 'orphan'") == 1


@pytest.mark.slow
def test_orphan_of_killed_worker_runs_after_restart(conn: Connection, workers: Workers) -> None:
    victim, message_id = _victim_takes_slow_message(conn, workers, "orphan-restart")
    killed_at = _kill(victim)
    workers.start(threads=2)
    wait_for(
        lambda: in_state(conn, message_id, "done"), ORPHAN_DEADLINE_SECONDS, "the orphan", workers
    )
    print(f"\norphan completed {time.monotonic() - killed_at:.1f} s after SIGKILL and restart")
    assert count(conn, "SELECT count(*) AS n FROM load_runs WHERE key = 'orphan-restart'") == 1


def test_purge_deletes_only_finished_rows_past_retention(conn: Connection) -> None:
    rows = [
        ("done", "8 days", True),
        ("rejected", "8 days", True),
        ("done", "6 days", False),
        ("rejected", "1 hour", False),
        ("queued", "30 days", False),
        ("consumed", "30 days", False),
    ]
    for state, age, _ in rows:
        conn.execute(
            "INSERT INTO dramatiq.queue (queue_name, message_id, state, mtime, message)"
            " VALUES ('default', gen_random_uuid(), %s, now() - %s::interval, %s)",
            (state, age, json.dumps({"age": age})),
        )
    with conn.transaction():
        deleted = broker_queue.purge_finished(conn, timedelta(days=7))
    assert deleted == sum(purged for *_, purged in rows)
    left = conn.execute("SELECT state::text, message->>'age' AS age FROM dramatiq.queue")
    assert sorted((r["state"], r["age"]) for r in left) == sorted(
        (state, age) for state, age, purged in rows if not purged
    )


@pytest.mark.slow
def test_broker_sessions_run_in_utc(conn: Connection, workers: Workers) -> None:
    """The server's zone is not UTC; rows the broker writes still carry the right mtime."""
    workers.start(threads=2)
    enqueue_all(conn, [message("probe_session", "tz")])
    wait_for(
        lambda: (
            count(conn, "SELECT count(*) AS n FROM dramatiq.queue WHERE queue_name = 'parked'") == 1
        ),
        60,
        "the probe",
        workers,
    )
    assert count(conn, "SELECT count(*) AS n FROM load_runs WHERE key = 'tz:UTC'") == 1
    skew = conn.execute(
        "SELECT max(abs(extract(epoch FROM now() - mtime))) AS s FROM dramatiq.queue"
    ).fetchone()["s"]
    assert skew < 60


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_supervisor_restarts_killed_child_and_drains_on_sigterm(
    conn: Connection, workers: Workers
) -> None:
    supervisor = workers.spawn(
        [
            "-c",
            "import logging, sys; from actors.supervisor import supervise;"
            " logging.basicConfig(level=logging.INFO);"
            " sys.exit(supervise(processes=2, threads=2,"
            " extra_imports=['tests.support.load_actors']))",
        ]
    )
    wait_for(lambda: len(_children(supervisor.pid)) == 2, 30, "two children", workers)
    wait_listening(conn, 2, workers)

    killed = _children(supervisor.pid)[0]
    killed.kill()
    restarted = wait_for(
        lambda: (
            killed.pid not in {c.pid for c in _children(supervisor.pid)}
            and len(_children(supervisor.pid)) == 2
        ),
        30,
        "a replacement child",
        workers,
    )
    print(f"\nsupervisor: killed child replaced in {restarted:.1f} s")
    wait_listening(conn, 2, workers)

    slow = message("sleep_then_record", "drain", 4.0)
    enqueue_all(conn, [slow])
    wait_for(
        lambda: in_state(conn, slow["message_id"], "consumed"),
        30,
        "a child to take the message",
        workers,
    )
    supervisor.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert supervisor.wait(45) == 0
    print(f"supervisor: drained and exited in {time.monotonic() - started:.1f} s")
    assert in_state(conn, slow["message_id"], "done")
    assert count(conn, "SELECT count(*) AS n FROM load_runs WHERE key = 'drain'") == 1


@pytest.mark.slow
def test_consumer_restart_does_not_run_an_in_flight_message_again(
    conn: Connection, workers: Workers
) -> None:
    """Dropped broker connections make dramatiq restart the consumer (after 3 s), and the
    in-flight message's lock goes with the old session; the new consumer must not take that
    message again while this process still runs it."""
    workers.start(threads=2)
    wait_listening(conn, 1, workers)
    slow = message("sleep_then_record", "in-flight", 5.0)
    enqueue_all(conn, [slow])
    wait_for(lambda: in_state(conn, slow["message_id"], "consumed"), 30, "the message", workers)
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'recado-broker'"
    )
    wait_for(lambda: in_state(conn, slow["message_id"], "done"), 40, "the message", workers)
    time.sleep(5.5)  # a second run, started after the restart, would have recorded by now
    assert count(conn, "SELECT count(*) AS n FROM load_runs WHERE key = 'in-flight'") == 1
