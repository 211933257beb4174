"""Send pacing (issue 3, item 5): the GCRA pacers on the real PostgreSQL and the real Redis, and
the pace held by the send step across two worker processes over real HTTP to the simulator.

Redis is not optional here: CI provides one on 127.0.0.1:6379, so a missing Redis fails loudly.
"""

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
import redis
from psycopg.types.json import Jsonb

from actors.pacing import PostgresPacer, RedisPacer
from domain.pacing import Rate
from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute
from tests.conftest import GRAPH_API_PORT, TEST_DATABASE_URL

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
PHONE_NUMBER_ID = "106540352242922"  # the conftest tenant's business number
RECIPIENT = "16505551234"
# How much earlier than the paced interval the provider may see a send: each send's own time
# between taking its slot and reaching the provider (commit, HTTP) varies by a few milliseconds.
JITTER_S = 0.05

Take = Callable[[str, Rate], timedelta | None]


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str] = str
) -> float:
    """Poll until `condition` holds; the seconds it took. Fails with `what` (and logs) after
    `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{logs()}")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}). The Redis pacer is tested against"
            " a real Redis, which CI provides; start one (docker compose up redis) to run these.",
            pytrace=False,
        )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def pace_key(db: psycopg.Connection, redis_client: redis.Redis) -> Iterator[str]:
    """A key no other test (or concurrent run) shares; its state is deleted afterwards."""
    key = f"test:{uuid4().hex}"
    yield key
    redis_client.delete(f"recado:pace:{key}")
    db.execute("DELETE FROM send_pacing WHERE key = %s", (key,))


@contextmanager
def pacer_session(backend: str) -> Iterator[Take]:
    """One pacer with its own session, as one worker thread has: a connection, or a client."""
    if backend == "postgres":
        with psycopg.connect(TEST_DATABASE_URL) as conn:
            pacer = PostgresPacer()

            def take_in_transaction(key: str, rate: Rate) -> timedelta | None:
                # The send step takes its slot inside the transaction that claims the message.
                with conn.transaction():
                    return pacer.take(conn, [(key, rate)])

            yield take_in_transaction
        return
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        redis_pacer = RedisPacer(client)
        # The Redis pacer ignores the database connection.
        yield lambda key, rate: redis_pacer.take(None, [(key, rate)])  # type: ignore[arg-type]
    finally:
        client.close()


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_burst_then_steady_rate_with_exact_waits(backend: str, pace_key: str) -> None:
    rate = Rate(per_second=4, burst=3)  # 250 ms apart after three back to back
    interval = rate.interval.total_seconds()
    with pacer_session(backend) as take:
        assert [take(pace_key, rate) for _ in range(3)] == [None, None, None]
        wait = take(pace_key, rate)
        assert wait is not None
        # Less than the interval by the time the three takes took (generous on a busy machine).
        assert interval - 0.1 < wait.total_seconds() <= interval
        # A refused take spends nothing: asked again, the wait has only shrunk.
        again = take(pace_key, rate)
        assert again is not None and again <= wait

        for _ in range(4):
            wait = take(pace_key, rate)
            assert wait is not None
            # Almost the whole wait is not enough: what remains is the difference...
            time.sleep(wait.total_seconds() - 0.1)
            rest = take(pace_key, rate)
            assert rest is not None and rest <= timedelta(seconds=0.1), rest
            # ...and the whole wait is: the slot is granted exactly when it said.
            time.sleep(rest.total_seconds())
            assert take(pace_key, rate) is None

        # Idle for a full burst's worth of intervals: the burst is available again.
        time.sleep(interval * rate.burst)
        assert [take(pace_key, rate) for _ in range(3)] == [None, None, None]
        assert take(pace_key, rate) is not None


# Takes one key as fast as the pacer allows from two threads, each with its own session
# (connection or client), between two wall-clock times; prints the grant times as JSON.
# A separate interpreter, so two of them are two processes sharing the key.
_CONTENDER = """
import json, os, sys, threading, time
import psycopg, redis
from actors.pacing import PostgresPacer, RedisPacer
from domain.pacing import Rate

backend, key, duration, per_second, burst = sys.argv[1:]
rate = Rate(per_second=float(per_second), burst=int(burst))
grants = []

def contend():
    if backend == "postgres":
        conn = psycopg.connect(os.environ["DATABASE_URL"])
        pacer = PostgresPacer()
        def take():
            with conn.transaction():
                return pacer.take(conn, [(key, rate)])
    else:
        pacer = RedisPacer(redis.Redis.from_url(os.environ["PACING_REDIS_URL"]))
        def take():
            return pacer.take(None, [(key, rate)])
    time.sleep(max(0.0, start - time.time()))
    while time.time() < until:
        wait = take()
        if wait is None:
            grants.append(time.time())
        else:
            time.sleep(wait.total_seconds())

# Imports done: say so, then wait for the common start (both processes are ready by then).
print("ready", flush=True)
start = float(sys.stdin.readline())
until = start + float(duration)
threads = [threading.Thread(target=contend) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(grants))
"""


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_two_processes_sharing_a_key_never_exceed_the_rate(backend: str, pace_key: str) -> None:
    rate = Rate(per_second=20, burst=4)
    duration = 1.5
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PACING_REDIS_URL": REDIS_URL}
    command = [sys.executable, "-c", _CONTENDER, backend, pace_key, str(duration)]
    command += [str(rate.per_second), str(rate.burst)]
    processes = [
        subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        # Both interpreters are up: start them together, each connects before the start.
        start = time.time() + 0.5
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"{start}\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=30)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert [process.returncode for process in processes] == [0, 0]
    per_process = [json.loads(output) for output in outputs]
    grants = sorted(t for times in per_process for t in times)

    # All four contenders together: the burst, then one per interval, and no more.
    allowed = rate.burst + duration * rate.per_second
    assert len(grants) <= allowed + 1, len(grants)
    # Nor is the pacer stingy: contention does not lose slots.
    assert len(grants) >= allowed - 3, len(grants)
    assert all(per_process), "both processes were granted slots"
    # In any half second, at most the burst plus half a second's worth of sends.
    window = 0.5
    most_in_window = max(sum(1 for t in grants if first <= t < first + window) for first in grants)
    assert most_in_window <= rate.burst + window * rate.per_second + 1, most_in_window


# --- two worker processes, the real send step, the simulator over HTTP ----------------------


class WorkerProcesses:
    """`python -m actors.worker` subprocesses on the test database; all killed at teardown."""

    def __init__(self, db: psycopg.Connection, log_dir: Path) -> None:
        self.db = db
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self, *queues: str, **env: str | None) -> subprocess.Popen:
        """One worker with 4 threads, on `queues` (default all); `env` adds variables to this
        process's (None removes one)."""
        environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        for name, value in env.items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        # The child writes to its own copy of the file; ours is closed once it has started.
        with (self.log_dir / f"worker-{len(self.processes)}.log").open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "actors.worker", "--threads", "4"),
                    *(arg for queue in queues for arg in ("--queue", queue)),
                ],
                cwd=REPO_ROOT,
                env=environment,
                stdout=log,
                stderr=log,
            )
        self.processes.append(process)
        return process

    def wait_listening(self, processes: int) -> None:
        """Each live worker process listens on the send queue and its delay queue."""
        wait_for(
            lambda: (
                self.db.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'recado-broker'"
                    " AND query LIKE 'LISTEN \"dramatiq.send.%%'"
                ).fetchone()[0]
                >= 2 * processes
            ),
            30,
            f"{processes} worker processes to listen",
            self.logs,
        )

    def kill(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.kill()  # SIGKILL: no drain, no cleanup
        process.wait(10)

    def kill_all(self) -> None:
        for process in self.processes:
            self.kill(process)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-20:])
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def sends_by_process(self) -> dict[str, int]:
        """How many sends each worker process's log records."""
        return {
            path.name: path.read_text().count("INFO actors.send: sent message")
            for path in sorted(self.log_dir.glob("worker-*.log"))
        }


@pytest.fixture
def workers(db: psycopg.Connection, tmp_path: Path) -> Iterator[WorkerProcesses]:
    group = WorkerProcesses(db, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


def no_unfinished_jobs(db: psycopg.Connection) -> bool:
    return (
        db.execute(
            "SELECT count(*) FROM dramatiq.queue WHERE state IN ('queued', 'consumed')"
        ).fetchone()[0]
        == 0
    )


def conversation_with(db: psycopg.Connection, tenant, recipient: str) -> int:
    from db import conversations

    contact = conversations.upsert_contact(
        db,
        tenant_id=tenant.id,
        channel="whatsapp",
        channel_user_id=recipient,
        phone_e164="+" + recipient,
        profile_name=None,
    )
    return conversations.live_conversation(
        db,
        tenant_id=tenant.id,
        contact_id=contact,
        channel="whatsapp",
        inbound_at=datetime.now(UTC) - timedelta(minutes=5),
    ).id


def queue_texts(db: psycopg.Connection, tenant, conversation_ids: list[int]) -> list[int]:
    """One text per conversation, all committed at once (the outbox and its send jobs)."""
    from actors.send import queue_outbound

    with db.transaction():
        return [
            queue_outbound(
                db,
                tenant_id=tenant.id,
                conversation_id=conversation_id,
                channel="whatsapp",
                type="text",
                text=f"bubble {n}",
            )
            for n, conversation_id in enumerate(conversation_ids)
        ]


def set_pacing(db: psycopg.Connection, tenant, pacing: dict) -> None:
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s", (Jsonb({"pacing": pacing}), tenant.id)
    )


def unsent(db: psycopg.Connection, ids: list[int]) -> int:
    return db.execute(
        "SELECT count(*) FROM messages WHERE id = ANY(%s) AND delivery_status <> 'sent'", (ids,)
    ).fetchone()[0]


def accepted_times(simulator: GraphApiSimulator, ids: list[int]) -> list[float]:
    """When the provider accepted each of `ids`; fails unless each was sent exactly once."""
    from domain.outbox import callback_data

    ours = {callback_data(i) for i in ids}
    sends = [s for s in simulator.sent() if s.callback_data in ours]
    assert sorted(s.callback_data for s in sends) == sorted(ours), "each message sent once"
    return sorted(s.accepted_monotonic for s in sends)


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_two_worker_processes_hold_the_pace(
    backend: str, db, tenant, workers: WorkerProcesses, redis_client: redis.Redis
) -> None:
    if backend == "redis":
        # Tenant ids restart at 1 in every test: no pace state of an earlier run may linger.
        stale = list(redis_client.scan_iter(match="recado:pace:*", count=1000))
        if stale:
            redis_client.delete(*stale)
        worker_env = {"REDIS_URL": REDIS_URL}
    else:
        worker_env = {"REDIS_URL": None}
    route = TenantRoute(
        webhook_url="http://127.0.0.1:9/statuses-are-off",
        app_secret="acme-app-secret",
        access_token="acme-access-token",
    )
    config = SimulatorConfig(
        routes={PHONE_NUMBER_ID: route}, port=GRAPH_API_PORT, seed=7, send_statuses=False
    )
    with GraphApiSimulator(config) as simulator:
        for _ in range(2):
            workers.start(**worker_env)
        workers.wait_listening(2)

        # Per recipient: 2/s without burst, six bubbles to one customer.
        set_pacing(db, tenant, {"recipient": {"per_second": 2, "burst": 1}})
        conversation_id = conversation_with(db, tenant, RECIPIENT)
        ids = queue_texts(db, tenant, [conversation_id] * 6)
        took = wait_for(lambda: unsent(db, ids) == 0, 30, "six paced sends", workers.logs)
        times = accepted_times(simulator, ids)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= 0.5 - JITTER_S, gaps
        recipient_gap = min(gaps)

        # Per business number: 5/s without burst, ten customers one bubble each; the default
        # recipient pace allows each one's first bubble at once.
        set_pacing(db, tenant, {"number": {"per_second": 5, "burst": 1}})
        recipients = [f"1650555{n:04d}" for n in range(10)]
        ids = queue_texts(db, tenant, [conversation_with(db, tenant, r) for r in recipients])
        took_number = wait_for(lambda: unsent(db, ids) == 0, 30, "ten paced sends", workers.logs)
        times = accepted_times(simulator, ids)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        span = times[-1] - times[0]
        assert span >= 9 * 0.2 - 2 * JITTER_S, times
        assert min(gaps) >= 0.2 - JITTER_S, gaps

        wait_for(lambda: no_unfinished_jobs(db), 10, "the send queue to drain", workers.logs)
        total = len(simulator.sent())
    assert total == 16, "no message was sent twice"
    by_process = workers.sends_by_process()
    assert min(by_process.values()) >= 1, f"both processes sent: {by_process}"
    print(
        f"\n{backend}: 6 to one recipient in {took:.2f} s (min gap {recipient_gap:.3f} s);"
        f" 10 to ten recipients in {took_number:.2f} s (span {span:.2f} s, min gap"
        f" {min(gaps):.3f} s); sends per process {by_process}"
    )


def test_a_send_deferred_by_the_number_spends_no_recipient_slot(
    db, tenant, redis_client: redis.Redis, runtime
) -> None:
    from actors.send import _admission
    from db import outbox
    from db.locks import Locks
    from db.tenants import tenant_by_id

    # This process's pacer is Redis's when REDIS_URL is set: start it from a clean slate too.
    stale = list(redis_client.scan_iter(match="recado:pace:*", count=1000))
    if stale:
        redis_client.delete(*stale)
    set_pacing(
        db,
        tenant,
        {"number": {"per_second": 1, "burst": 1}, "recipient": {"per_second": 0.1, "burst": 2}},
    )
    paced = tenant_by_id(db, tenant.id)
    first, second = queue_texts(
        db,
        tenant,
        [
            conversation_with(db, tenant, "16505550001"),
            conversation_with(db, tenant, "16505550002"),
        ],
    )

    def admission(message_id: int) -> timedelta | None:
        with db.transaction():
            row = outbox.lock_for_send(db, tenant.id, message_id)
            assert row is not None
            return _admission(runtime, Locks(db), paced, row, datetime.now(UTC))

    assert admission(first) is None  # takes the number's one slot for this second
    # Nothing has gone to the second recipient: only the number's pace (< 1 s) may hold it,
    # however often it is asked; a deferral spends none of the recipient's burst.
    waits = [admission(second) for _ in range(3)]
    assert all(w is not None and w <= timedelta(seconds=1) for w in waits), waits
