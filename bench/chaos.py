"""The chaos run: no message lost, none answered twice, nothing failing silently, under faults.

    python -m bench.chaos [--messages 10000] [--contacts 500] [--kills 20] [--pg-restarts 1]
    recado chaos ...   (the same options)

Starts a private PostgreSQL of its own (so it can restart it), migrates it, creates one tenant
with the demo clinic's profile and a short quiet window, then starts the web server (hypercorn),
`--processes` worker processes (python -m actors.worker), the Graph API simulator (status
webhooks on) and the LLM simulator, both failing `--fault-rate` of their calls with 429, 500,
held answers and dropped connections. Workers run with short recovery settings (orphan sweep,
breaker cooldown, LLM timeout) and a long send evidence wait (the simulator's status webhooks
lag under load), printed at the start.

It feeds `--messages` inbound messages from `--contacts` contacts at `--rate` per second; some
contacts write 2-4 messages inside the quiet window (a burst). Every webhook is delivered three
times, two copies at once and one later, as Meta redelivers; a copy counts as acknowledged only
on a 2xx, and a refused copy is retried, as Meta does. Meanwhile random workers are SIGKILLed
and restarted `--kills` times and PostgreSQL is crashed and restarted `--pg-restarts` times.

Then the faults are switched off, the system drains, every dead letter is requeued once (the
code path of `recado dead-letters requeue`), it drains again, and SQL and the simulators' logs
must show: every acknowledged message stored once and its event processed; every conversation
answered through its newest message (or handed off, or a dead letter), queued replies strictly
in order, one per burst; no outbound message accepted twice by the Graph API simulator; every
outbound message in a final state (sent, delivered, read, failed, cancelled) or dead-lettered,
with statuses consistent with the simulator's log. Any violation: exit 1. The last line
printed is one JSON object with the figures.
"""

import argparse
import heapq
import json
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from bench.conversation import FIRST_NAMES, PERSONAL_QUESTIONS, SURNAMES, assistant_env
from bench.delivery import (
    NUMBER_RATE,
    BenchFailure,
    _tail,
    environment,
    print_table,
    wait_started,
    worker_env,
)
from bench.ingest import Http, _raise_interrupt, free_port
from db.pool import connect_kwargs
from db.profiles import set_profile
from db.tenants import create_tenant
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from domain.outbox import parse_callback_data
from ops.cli_run import DEMO_PROFILE
from ops.processes import Child, _die_with_parent, spawn, stop, wait_for_port, web_server_argv
from ops.simulators.graph_api import (
    GraphApiSimulator,
    SentMessage,
    SimulatorConfig,
    TenantRoute,
)
from ops.simulators.llm import LlmSimulator, LlmSimulatorConfig
from tests.support.private_pg import PrivatePostgres

TENANT = "chaos"
PHONE_NUMBER_ID = "100000000000096"
FAULT_KINDS = ("429", "500", "timeout", "drop")
WEB_START_SECONDS = 30.0
POLL_SECONDS = 0.5
# A refused webhook copy is posted again after this pause, as Meta's retries do (much faster).
REPOST_PAUSE_SECONDS = 0.5
# The third copy of a webhook arrives this long after the first two.
REDELIVERY_DELAY_SECONDS = (2.0, 10.0)
# The drain is over when nothing moved for this many polls in a row.
QUIET_POLLS = 4
# Send timeouts: the WhatsApp client gives up reading after 10 s, so a held answer must outlast it.
GRAPH_TIMEOUT_HOLD_SECONDS = 11.0


@dataclass(frozen=True)
class Inbound:
    wa_id: str
    name: str
    wamid: str
    text: str


@dataclass
class Feed:
    """What the customers' side did, filled by the feeder threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: set[str] = field(default_factory=set)  # wamids with at least one 2xx
    posts: int = 0
    answered_2xx: int = 0
    refused: int = 0  # non-2xx answers and connection errors, each followed by a repost
    abandoned: int = 0  # copies never acknowledged within --ack-timeout

    def record(self, wamid: str, ok: bool) -> None:
        with self.lock:
            self.posts += 1
            if ok:
                self.answered_2xx += 1
                self.acknowledged.add(wamid)
            else:
                self.refused += 1


@dataclass
class Chaos:
    kills: int = 0
    restarts: int = 0
    pg_restarts: int = 0


def plan_bursts(
    messages: int, contacts: int, burst_share: float, rng: random.Random
) -> list[list[Inbound]]:
    """Messages grouped as bursts: one contact, 1-4 messages written inside the quiet window."""
    bursts: list[list[Inbound]] = []
    written = 0
    while written < messages:
        i = rng.randrange(contacts)
        wa_id = f"1556{i:08d}"
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {SURNAMES[i % len(SURNAMES)]}"
        size = rng.randint(2, 4) if rng.random() < burst_share else 1
        size = min(size, messages - written)
        burst = []
        for _ in range(size):
            question = PERSONAL_QUESTIONS[written % len(PERSONAL_QUESTIONS)].format(name=name)
            burst.append(Inbound(wa_id, name, f"wamid.CHAOS{written:08d}{secrets.token_hex(4)}",
                                 question))  # fmt: skip
            written += 1
        bursts.append(burst)
    return bursts


def webhook(secret: str, inbound: Inbound) -> tuple[bytes, dict[str, str]]:
    message = TextMessage(
        wa_id=inbound.wa_id,
        profile_name=inbound.name,
        wamid=inbound.wamid,
        text=inbound.text,
        timestamp=int(time.time()),
    )
    body = encode(text_envelope(PHONE_NUMBER_ID, [message]))
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}


class Poster:
    """Posts webhook copies until one gets a 2xx (or --ack-timeout passes); a client per thread."""

    def __init__(self, port: int, feed: Feed, ack_timeout: float) -> None:
        self.port = port
        self.feed = feed
        self.ack_timeout = ack_timeout
        self._local = threading.local()

    def post(self, wamid: str, body: bytes, headers: dict[str, str]) -> None:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Http(self.port)
        deadline = time.monotonic() + self.ack_timeout
        while True:
            ok = client.request("POST", f"/webhooks/whatsapp/{TENANT}", body, headers)
            self.feed.record(wamid, ok)
            if ok:
                return
            if time.monotonic() > deadline:
                with self.feed.lock:
                    self.feed.abandoned += 1
                return
            time.sleep(REPOST_PAUSE_SECONDS)


class Redeliveries:
    """Third copies, each posted at its due time by a few threads of their own."""

    def __init__(self, poster: Poster, threads: int) -> None:
        self.poster = poster
        self._heap: list[tuple[float, int, str, bytes, dict[str, str]]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._count = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def add(self, due: float, wamid: str, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self._count += 1
            heapq.heappush(self._heap, (due, self._count, wamid, body, headers))
            self._lock.notify()

    def close(self) -> None:
        """Post what is left, then stop the threads."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for t in self._threads:
            t.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._heap and (self._closed or self._heap[0][0] <= time.monotonic()):
                        _, _, wamid, body, headers = heapq.heappop(self._heap)
                        break
                    if self._closed and not self._heap:
                        return
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._lock.wait(timeout=wait)
            self.poster.post(wamid, body, headers)


def feed_messages(
    bursts: Sequence[Sequence[Inbound]],
    poster: Poster,
    secret: str,
    *,
    rate: float,
    concurrency: int,
    burst_gap: float,
    rng: random.Random,
) -> None:
    """Burst k starts when the messages before it were due at `rate`; copies 1 and 2 at once."""
    starts, due = [], 0.0
    for burst in bursts:
        starts.append(due)
        due += len(burst) / rate
    begun = time.monotonic()
    jobs = iter(range(len(bursts)))
    jobs_lock = threading.Lock()
    redeliveries = Redeliveries(poster, threads=max(2, concurrency // 2))
    delays = [rng.uniform(*REDELIVERY_DELAY_SECONDS) for _ in range(sum(map(len, bursts)))]
    delay_iter = iter(delays)

    def feeder() -> None:
        # The twin thread posts the concurrent second copy of each message.
        twin_pool = _Twin(poster)
        try:
            while True:
                with jobs_lock:
                    k = next(jobs, None)
                if k is None:
                    return
                pause = begun + starts[k] - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                for j, inbound in enumerate(bursts[k]):
                    if j:
                        time.sleep(burst_gap)
                    body, headers = webhook(secret, inbound)
                    twin_pool.post_twice(inbound.wamid, body, headers)
                    with jobs_lock:
                        delay = next(delay_iter)
                    redeliveries.add(time.monotonic() + delay, inbound.wamid, body, headers)
        finally:
            twin_pool.close()

    threads = [threading.Thread(target=feeder) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    redeliveries.close()


class _Twin:
    """A second thread that posts the same copy at the same moment as its owner."""

    def __init__(self, poster: Poster) -> None:
        self.poster = poster
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._job: tuple[str, bytes, dict[str, str]] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def post_twice(self, wamid: str, body: bytes, headers: dict[str, str]) -> None:
        self._job = (wamid, body, headers)
        self._go.release()
        self.poster.post(wamid, body, headers)
        self._done.acquire()

    def close(self) -> None:
        self._job = None
        self._go.release()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._go.acquire()
            if self._job is None:
                return
            self.poster.post(*self._job)
            self._done.release()


# --- processes ---------------------------------------------------------------------------------


class Workers:
    """`count` worker processes; any of them can be SIGKILLed and started again."""

    def __init__(self, count: int, threads: int, env: Mapping[str, str], log: Path) -> None:
        self.argv = [sys.executable, "-m", "actors.worker", "--threads", str(threads)]
        self.env = dict(env)
        self.log = log
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopped = False
        for i in range(count):
            self._spawn(f"worker {i + 1}")
        wait_started(self.procs, log, count)

    def _spawn(self, name: str) -> None:
        with self.log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def kill_and_restart(self, rng: random.Random) -> None:
        with self.lock:
            if self.stopped:
                return
            name = rng.choice(sorted(self.procs))
            proc = self.procs[name]
            proc.kill()
            proc.wait()
            self._spawn(name)

    def check_alive(self) -> None:
        with self.lock:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise BenchFailure(f"{name} exited on its own with code {proc.returncode}")

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            stop(self.procs, grace=15)


@contextmanager
def web_server(env: Mapping[str, str], port: int, workers: int) -> Iterator[None]:
    argv = web_server_argv(host="127.0.0.1", port=port, workers=workers)
    server = spawn(Child("web server", argv), env)
    try:
        if not wait_for_port("127.0.0.1", port, timeout=WEB_START_SECONDS):
            raise BenchFailure(f"web server not listening within {WEB_START_SECONDS:g} s")
        yield
    finally:
        stop({"web server": server}, grace=15)


def chaos_schedule(
    duration: float, kills: int, pg_restarts: int, rng: random.Random
) -> list[tuple[float, str]]:
    """Kills spread evenly over the feed (with jitter), PostgreSQL restarts between them."""
    events = [((k + rng.uniform(0.2, 0.8)) * duration / kills, "kill") for k in range(kills)] + [
        ((j + 1) * duration / (pg_restarts + 1), "pg") for j in range(pg_restarts)
    ]
    return sorted(events)


def run_chaos(
    events: Sequence[tuple[float, str]],
    workers: Workers,
    pg: PrivatePostgres,
    outage: float,
    chaos: Chaos,
    rng: random.Random,
    done: threading.Event,
    stopping: threading.Event,
    errors: list[BaseException],
) -> None:
    """Runs the schedule, then stays alive until `stopping`: the workers it restarted get
    SIGTERM from the kernel when the thread that started them ends (PR_SET_PDEATHSIG)."""
    begun = time.monotonic()
    try:
        for at, what in events:
            if stopping.wait(max(0.0, begun + at - time.monotonic())):
                return
            if what == "kill":
                workers.kill_and_restart(rng)
                chaos.kills += 1
                chaos.restarts += 1
            else:
                # A crash, not a clean shutdown: open transactions die mid-way.
                pg.stop("immediate")
                time.sleep(outage)
                pg.start()
                chaos.pg_restarts += 1
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)
    finally:
        done.set()
    stopping.wait()


# --- draining and requeueing -------------------------------------------------------------------

# Open jobs, except a send deferred to its evidence deadline whose message is already final:
# it will find nothing to do, and may wait --evidence-wait seconds to find that out.
_PROGRESS = """
SELECT (SELECT count(*) FROM dramatiq.queue q WHERE q.state IN ('queued', 'consumed')
          AND NOT (q.message ->> 'actor_name' = 'send_message' AND EXISTS (
              SELECT 1 FROM messages m WHERE m.id = (q.message -> 'args' ->> 0)::bigint
                AND m.delivery_status IN ('sent', 'delivered', 'read', 'failed', 'cancelled')))),
       (SELECT count(*) FROM messages WHERE direction = 'out'
                                        AND delivery_status IN ('pending', 'sending')),
       (SELECT count(*) FROM inbound_events WHERE processed_at IS NULL),
       (SELECT count(*) FROM step_runs),
       (SELECT count(*) FROM messages WHERE direction = 'out'
                                        AND delivery_status IN ('sent', 'pending', 'sending'))
"""


def drain(url: str, graph: GraphApiSimulator, timeout: float) -> bool:
    """Until no job waits or runs, no send is open, every event is processed and nothing moves."""
    deadline = time.monotonic() + timeout
    last, quiet = None, 0
    while time.monotonic() < deadline:
        if not graph.wait_for_webhooks(timeout=1.0):
            continue  # status webhooks still queued at the simulator: not settled yet
        try:
            with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
                row = conn.execute(_PROGRESS).fetchone()
        except psycopg.OperationalError:
            row = None
        if row is not None and row[:3] == (0, 0, 0):
            quiet = quiet + 1 if row == last else 0
            if quiet >= QUIET_POLLS:
                return True
        last = row
        time.sleep(POLL_SECONDS)
    return False


def dead_letter_ids(url: str) -> list[int]:
    with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM dead_letters WHERE state = 'dead'")]


def requeue_all(url: str, ids: list[int]) -> Counter:
    """As `recado dead-letters requeue ID...` does it, in one transaction."""
    with environment({"DATABASE_URL": url}):
        # Imported here: importing actors installs the broker on DATABASE_URL.
        from actors.requeue import requeue

        with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
            outcomes = requeue(conn, ids, requeued_by="recado chaos")
            conn.commit()
    return Counter(o.status for o in outcomes)


# --- verdict ------------------------------------------------------------------------------------

_INBOUND = """
SELECT provider_message_id, count(*) FROM messages
WHERE direction = 'in' GROUP BY provider_message_id
"""
_UNANSWERED = """
SELECT v.id FROM conversations v
WHERE v.status <> 'handoff'
  AND v.replied_through < (SELECT max(m.id) FROM messages m
                           WHERE m.conversation_id = v.id AND m.direction = 'in')
  AND NOT EXISTS (SELECT 1 FROM dead_letters d
                  WHERE d.conversation_id = v.id AND d.state = 'dead')
"""
_REPLIES = """
SELECT conversation_id, through_message_id, outcome FROM replies
WHERE outcome IN ('queued', 'handoff') ORDER BY conversation_id, id
"""
_OUTBOUND = """
SELECT m.id, m.delivery_status, m.provider_message_id, m.sent_at, m.delivered_at, m.read_at,
       EXISTS (SELECT 1 FROM dead_letters d WHERE d.actor = 'send_message' AND d.state = 'dead'
               AND d.args->>0 = m.id::text)
FROM messages m WHERE m.direction = 'out'
"""
FINAL = ("sent", "delivered", "read", "failed", "cancelled")
ACCEPTED = ("sent", "delivered", "read")
EXAMPLES = 5


@dataclass(frozen=True)
class Verdict:
    acknowledged: int
    stored: int
    lost: int
    duplicated_inbound: int
    unprocessed_events: int
    conversations: int
    unanswered: int
    queued_replies: int
    handoffs: int
    replies_out_of_order: int
    outbound: int
    provider_sends: int
    duplicate_sends: int
    unknown_sends: int
    not_final: int
    accepted_not_recorded: int
    status_inconsistent: int
    dead_letters: int
    # Seconds from the simulator's acceptance of a send to its first status stored by us.
    status_lag_max: float
    # Up to EXAMPLES offending ids per problem: where to start looking.
    examples: dict[str, list[str]]

    @property
    def problems(self) -> dict[str, int]:
        found = {
            "lost": self.lost,
            "duplicated_inbound": self.duplicated_inbound,
            "unprocessed_events": self.unprocessed_events,
            "unanswered_bursts": self.unanswered,
            "replies_out_of_order": self.replies_out_of_order,
            "duplicate_sends": self.duplicate_sends,
            "unknown_sends": self.unknown_sends,
            "outbound_not_final": self.not_final,
            "accepted_not_recorded": self.accepted_not_recorded,
            "status_inconsistent": self.status_inconsistent,
        }
        return {name: count for name, count in found.items() if count}


def verify(url: str, feed: Feed, graph: GraphApiSimulator) -> Verdict:
    with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
        stored = dict(conn.execute(_INBOUND).fetchall())
        (unprocessed,) = conn.execute(
            "SELECT count(*) FROM inbound_events WHERE processed_at IS NULL OR outcome IS NULL"
        ).fetchone()
        (conversations,) = conn.execute("SELECT count(*) FROM conversations").fetchone()
        unanswered = conn.execute(_UNANSWERED).fetchall()
        replies = conn.execute(_REPLIES).fetchall()
        outbound = conn.execute(_OUTBOUND).fetchall()
        (dead,) = conn.execute("SELECT count(*) FROM dead_letters WHERE state = 'dead'").fetchone()
        sends = graph.sent()
        repeats = _repeated_sends(conn, sends)
        first_status = dict(conn.execute(_STATUS_TIMES).fetchall())
    out_of_order, last = [], {}
    for conversation, through, _ in replies:
        # Ordered by id, i.e. by commit: through ids must rise strictly within a conversation.
        if through <= last.get(conversation, 0):
            out_of_order.append(f"conversation {conversation} through {through}")
        last[conversation] = max(through, last.get(conversation, 0))
    by_callback = Counter(s.callback_data for s in sends)
    rows = {r[0]: r for r in outbound}
    accepted_ids = {parse_callback_data(s.callback_data): s.wamid for s in sends}
    # Every send the provider accepted must be ours, recorded as sent (or later) with its wamid.
    not_recorded = [
        f"message {message_id}: {rows[message_id][1]}, {rows[message_id][2]} (sent {wamid})"
        for message_id, wamid in accepted_ids.items()
        if message_id in rows
        and (rows[message_id][1] not in ACCEPTED or rows[message_id][2] != wamid)
    ]
    lost = [wamid for wamid in feed.acknowledged if wamid not in stored]
    duplicated = {wamid: n - 1 for wamid, n in stored.items() if n > 1}
    repeated = {data: n - 1 for data, n in by_callback.items() if n > 1}
    unknown = [str(message_id) for message_id in accepted_ids if message_id not in rows]
    not_final = [f"message {r[0]}: {r[1]}" for r in outbound if r[1] not in FINAL and not r[6]]
    inconsistent = [f"message {r[0]}: {r[1:6]}" for r in outbound if _inconsistent(r)]
    examples = {
        "lost": lost,
        "duplicated_inbound": list(duplicated),
        "unanswered_bursts": [f"conversation {c}" for (c,) in unanswered],
        "replies_out_of_order": out_of_order,
        "duplicate_sends": repeats,
        "unknown_sends": unknown,
        "outbound_not_final": not_final,
        "accepted_not_recorded": not_recorded,
        "status_inconsistent": inconsistent,
    }
    return Verdict(
        acknowledged=len(feed.acknowledged),
        stored=len(feed.acknowledged) - len(lost),
        lost=len(lost),
        duplicated_inbound=sum(duplicated.values()),
        unprocessed_events=unprocessed,
        conversations=conversations,
        unanswered=len(unanswered),
        queued_replies=sum(1 for r in replies if r[2] == "queued"),
        handoffs=sum(1 for r in replies if r[2] == "handoff"),
        replies_out_of_order=len(out_of_order),
        outbound=len(outbound),
        provider_sends=len(sends),
        duplicate_sends=sum(repeated.values()),
        unknown_sends=len(unknown),
        not_final=len(not_final),
        accepted_not_recorded=len(not_recorded),
        status_inconsistent=len(inconsistent),
        dead_letters=dead,
        status_lag_max=max(
            (first_status[s.wamid] - s.accepted_at for s in sends if s.wamid in first_status),
            default=0.0,
        ),
        examples={name: found[:EXAMPLES] for name, found in examples.items() if found},
    )


_STATUS_TIMES = """
SELECT payload -> 'status' ->> 'id', extract(epoch FROM min(received_at))::float8
FROM inbound_events WHERE kind = 'status' GROUP BY 1
"""
_FIRST_STATUS = """
SELECT extract(epoch FROM min(received_at))::float8 FROM inbound_events
WHERE kind = 'status' AND payload -> 'status' ->> 'id' = %s
"""


def _repeated_sends(conn: psycopg.Connection, sends: Sequence[SentMessage]) -> list[str]:
    """For each send repeated: its copies' faults and timing, and whether the first copy's
    status webhook had reached us before the repeat (then it was ignored) or only after."""
    copies: dict[str | None, list[SentMessage]] = {}
    for sent in sends:
        copies.setdefault(sent.callback_data, []).append(sent)
    found = []
    for data, group in copies.items():
        if len(group) < 2:
            continue
        first, second = sorted(group, key=lambda s: s.accepted_at)[:2]
        (status_at,) = conn.execute(_FIRST_STATUS, (first.wamid,)).fetchone()
        evidence = (
            "no status of the first copy stored"
            if status_at is None
            else f"first copy's status stored {status_at - first.accepted_at:.1f} s after it"
        )
        found.append(
            f"{data}: {len(group)} sends, first {second.accepted_at - first.accepted_at:.1f} s"
            f" before the next, first fault {first.fault}, {evidence}"
        )
    return found


def _inconsistent(row: tuple) -> bool:
    """A status without the provider's id, or a timestamp of a status the row is not past.

    Statuses may skip ahead (a 'read' before its 'delivered'), so a missing earlier timestamp
    is no fault; a later status never replaced by an earlier one is what "forward only" means.
    """
    _, status, wamid, _, delivered_at, read_at, _ = row
    if status in ACCEPTED and wamid is None:
        return True
    if read_at is not None and status != "read":
        return True
    return delivered_at is not None and status not in ("delivered", "read", "failed")


# --- the run ------------------------------------------------------------------------------------


def recovery_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "RECADO_SWEEP_AFTER_SECONDS": f"{args.sweep_after:g}",
        "RECADO_SEND_EVIDENCE_WAIT_SECONDS": f"{args.evidence_wait:g}",
        "RECADO_BREAKER_COOLDOWN_SECONDS": f"{args.breaker_cooldown:g}",
        "RECADO_LLM_TIMEOUT_SECONDS": f"{args.llm_timeout:g}",
    }


@dataclass
class Outcome:
    verdict: Verdict
    feed: Feed
    chaos: Chaos
    bursts: int
    faults: dict[str, int]
    status_webhooks: dict[str, int]  # the Graph API simulator's retries and give-ups
    dead_before: int
    requeued: int
    drained: bool
    seconds: float


def run(args: argparse.Namespace, pg: PrivatePostgres, log: Path) -> Outcome:
    begun = time.monotonic()
    rng = random.Random(args.seed)
    secret, token = secrets.token_hex(16), secrets.token_hex(16)
    web_port = free_port()
    route = TenantRoute(f"http://127.0.0.1:{web_port}/webhooks/whatsapp/{TENANT}", secret, token)
    share = args.fault_rate / len(FAULT_KINDS)
    graph_config = SimulatorConfig(
        routes={PHONE_NUMBER_ID: route},
        faults={kind: share for kind in FAULT_KINDS},
        seed=rng.randrange(1 << 30),
        timeout_hold_s=GRAPH_TIMEOUT_HOLD_SECONDS,
        status_delays_ms=(50, 100, 150),
        # Meta retries status webhooks for days; enough attempts here to outlast an outage.
        webhook_attempts=9,
    )
    llm_config = LlmSimulatorConfig(
        fault_rate=args.fault_rate,
        faults=FAULT_KINDS,
        seed=rng.randrange(1 << 30),
        hang_seconds=args.llm_timeout + 0.5,
    )
    url = pg.url
    feed, chaos = Feed(), Chaos()
    bursts = plan_bursts(args.messages, args.contacts, args.burst_share, rng)
    with GraphApiSimulator(graph_config) as graph, LlmSimulator(llm_config) as llm:
        with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
            tenant = create_tenant(
                conn, slug=TENANT, name="Chaos Clinic", wa_phone_number_id=PHONE_NUMBER_ID,
                wa_app_secret=secret, wa_verify_token=secrets.token_hex(8), wa_access_token=token,
                settings={"pacing": {"number": NUMBER_RATE},
                          "quiet_window_seconds": args.quiet_window},
            )  # fmt: skip
            set_profile(conn, tenant.id, json.loads(DEMO_PROFILE.read_text(encoding="utf-8")))
            conn.commit()
        env = {
            **assistant_env(worker_env(url, f"{graph.url}/v24.0", None), llm.url),
            **recovery_env(args),
        }
        with web_server(env, web_port, args.web_workers):
            workers = Workers(args.processes, args.threads, env, log)
            done, stopping, errors = threading.Event(), threading.Event(), []
            events = chaos_schedule(args.messages / args.rate, args.kills, args.pg_restarts, rng)
            chaos_thread = threading.Thread(
                target=run_chaos,
                args=(events, workers, pg, args.pg_outage, chaos, rng, done, stopping, errors),
            )
            chaos_thread.start()
            try:
                feed_messages(
                    bursts, Poster(web_port, feed, args.ack_timeout), secret,
                    rate=args.rate, concurrency=args.concurrency,
                    burst_gap=args.quiet_window / 4, rng=rng,
                )  # fmt: skip
                # The remaining scheduled faults still happen: the schedule is the run's.
                done.wait()
                if errors:
                    raise BenchFailure(f"the chaos schedule failed: {errors[0]!r}")
                workers.check_alive()
                graph.config = replace(graph.config, faults={})
                llm.configure(fault_rate=0.0)
                drained = drain(url, graph, args.drain_timeout)
                dead = dead_letter_ids(url)
                requeued = requeue_all(url, dead)["requeued"] if dead else 0
                drained = drain(url, graph, args.drain_timeout) and drained
                workers.check_alive()
            finally:
                workers.stop()
                stopping.set()
                chaos_thread.join()
        graph.wait_for_webhooks(timeout=10)
        counts = graph.counts()
        webhooks = {"retries": counts.webhook_retries, "undelivered": counts.webhooks_undelivered}
        faults = {f"graph_{k}": n for k, n in counts.faults.items() if n}
        faults.update(
            {f"llm_{k}": n for k, n in Counter(c.fault for c in llm.calls if c.fault).items()}
        )
        verdict = verify(url, feed, graph)
    return Outcome(verdict, feed, chaos, len(bursts), faults, webhooks, len(dead), requeued,
                   drained, time.monotonic() - begun)  # fmt: skip


def figures_of(args: argparse.Namespace, o: Outcome) -> dict[str, object]:
    v = o.verdict
    return {
        "bench": "chaos",
        "messages": args.messages,
        "contacts": args.contacts,
        "bursts": o.bursts,
        "webhook_posts": o.feed.posts,
        # Copies acknowledged after the first: each one a redelivery the service had to absorb.
        "duplicates_delivered": o.feed.answered_2xx - len(o.feed.acknowledged),
        "refused_posts": o.feed.refused,
        "abandoned_copies": o.feed.abandoned,
        "acknowledged": v.acknowledged,
        "stored": v.stored,
        "processes": args.processes,
        "kills": o.chaos.kills,
        "worker_restarts": o.chaos.restarts,
        "pg_restarts": o.chaos.pg_restarts,
        "faults_injected": sum(o.faults.values()),
        "faults": o.faults,
        "status_webhook_retries": o.status_webhooks["retries"],
        "status_webhooks_undelivered": o.status_webhooks["undelivered"],
        "status_lag_max_s": round(v.status_lag_max, 1),
        "conversations": v.conversations,
        "queued_replies": v.queued_replies,
        "handoffs": v.handoffs,
        "outbound": v.outbound,
        "provider_sends": v.provider_sends,
        "lost": v.lost,
        "duplicated": v.duplicated_inbound + v.duplicate_sends,
        "dead_letters_before_requeue": o.dead_before,
        "requeued": o.requeued,
        "dead_letters_after_requeue": v.dead_letters,
        "drained": o.drained,
        "violations": sum(v.problems.values()) + (0 if o.drained else 1),
        "problems": v.problems,
        "wall_seconds": round(o.seconds, 1),
    }


def report(args: argparse.Namespace, o: Outcome) -> dict[str, object]:
    figures = figures_of(args, o)
    print(
        f"recado chaos run: {args.messages} messages from {args.contacts} contacts at"
        f" {args.rate:g}/s, each webhook delivered 3 times; workers {args.processes}x"
        f"{args.threads}, web server x{args.web_workers}; faults"
        f" {args.fault_rate:.0%} of Graph API and LLM calls ({', '.join(FAULT_KINDS)})"
    )
    print(
        "Recovery settings: "
        + ", ".join(f"{k}={v}" for k, v in recovery_env(args).items())
        + f"; quiet window {args.quiet_window:g} s"
    )
    rows = [("figure", "value")] + [
        (name, str(figures[name]))
        for name in (
            "messages", "bursts", "webhook_posts", "duplicates_delivered", "refused_posts",
            "abandoned_copies", "acknowledged", "stored", "kills", "worker_restarts", "pg_restarts",
            "faults_injected", "status_lag_max_s", "conversations", "queued_replies", "handoffs",
            "provider_sends",
            "lost", "duplicated", "dead_letters_before_requeue", "dead_letters_after_requeue",
            "drained", "violations", "wall_seconds",
        )
    ]  # fmt: skip
    print_table(rows)
    print("faults: " + ", ".join(f"{k} {n}" for k, n in sorted(o.faults.items())))
    return figures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recado chaos", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--messages", type=int, default=10_000, help="inbound messages fed")
    add("--contacts", type=int, default=500, help="distinct senders")
    add("--rate", type=float, default=50.0, help="messages fed per second")
    add("--burst-share", type=float, default=0.3, help="share of bursts of 2-4 messages")
    add("--processes", type=int, default=3, help="worker processes")
    add("--threads", type=int, default=8, help="threads per worker process")
    add("--web-workers", type=int, default=2, help="web server processes")
    add("--concurrency", type=int, default=8, help="feeder threads")
    add("--kills", type=int, default=20, help="worker SIGKILLs (each followed by a restart)")
    add("--pg-restarts", type=int, default=1, help="PostgreSQL crash-restarts")
    add("--pg-outage", type=float, default=3.0, help="seconds PostgreSQL stays down")
    add("--fault-rate", type=float, default=0.3, help="share of simulator calls that fail")
    add("--quiet-window", type=float, default=1.0, help="the tenant's quiet window, seconds")
    add("--llm-timeout", type=float, default=2.0, help="RECADO_LLM_TIMEOUT_SECONDS")
    add("--sweep-after", type=float, default=3.0, help="RECADO_SWEEP_AFTER_SECONDS")
    # Long: one simulator thread posts every status webhook, and under load its backlog reaches
    # tens of seconds; a send whose acceptance shows no status within this wait is sent again
    # (by design), which is not what this run is about.
    add("--evidence-wait", type=float, default=300.0, help="RECADO_SEND_EVIDENCE_WAIT_SECONDS")
    add("--breaker-cooldown", type=float, default=2.0, help="RECADO_BREAKER_COOLDOWN_SECONDS")
    add("--ack-timeout", type=float, default=120.0, help="give up on a webhook copy after")
    add("--drain-timeout", type=float, default=600.0, help="per drain, seconds")
    add("--seed", type=int, default=None, help="for the message plan, faults and kills")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.messages, args.contacts, args.processes, args.threads, args.concurrency) < 1:
        parser.error("--messages, --contacts, --processes, --threads, --concurrency must be >= 1")
    if args.kills < 0 or args.pg_restarts < 0 or args.rate <= 0:
        parser.error("--kills and --pg-restarts must not be negative, --rate must be positive")
    if not 0 <= args.fault_rate <= 1 or not 0 <= args.burst_share <= 1:
        parser.error("--fault-rate and --burst-share are between 0 and 1")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    print(f"seed {args.seed}", flush=True)
    # SIGTERM (timeout, CI) must reach the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    settings = {"max_connections": 300}
    with (
        PrivatePostgres(settings=settings) as pg,
        tempfile.TemporaryDirectory(prefix="recado-chaos-") as scratch,
    ):
        log = Path(scratch) / "workers.log"
        try:
            outcome = run(args, pg, log)
        except BenchFailure as failure:
            print(f"chaos: {failure}\n--- worker log (tail) ---\n{_tail(log)}", file=sys.stderr)
            return 1
    figures = report(args, outcome)
    for name, count in outcome.verdict.problems.items():
        examples = "; ".join(outcome.verdict.examples.get(name, []))
        print(f"FAILED: {name}: {count}" + (f" (e.g. {examples})" if examples else ""))
    if not outcome.drained:
        print(f"FAILED: the system did not drain within {args.drain_timeout:g} s")
    print(json.dumps(figures))
    return 1 if figures["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
