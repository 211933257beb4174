"""The chaos run: no message lost, none answered twice, nothing failing silently, under faults.

    python -m bench.chaos [--messages 10000] [--contacts 500] [--kills 20] [--pg-restarts 1]
    recado chaos ...   (the same options)

Starts a private PostgreSQL of its own (so it can restart it), migrates it, creates two tenants
with the demo clinic's profile and a short quiet window, then starts the web server (hypercorn),
`--processes` worker processes (python -m actors.worker), the Graph API simulator (status
webhooks on, one route per tenant) and the LLM simulator, both failing `--fault-rate` of their
calls with 429, 500, held answers and dropped connections. Workers run with short recovery
settings (orphan sweep, breaker cooldown, LLM timeout) and a long send evidence wait (the
simulator's status webhooks lag under load), printed at the start.

It feeds `--messages` inbound messages from `--contacts` contacts at `--rate` per second; some
contacts write 2-4 messages inside the quiet window (a burst), a few write 25 (a long burst, more
than the planner's history of 20; the first message states an email), a few send 5-10 messages
in ONE webhook envelope (rising timestamps). A share of the bursts go to the second tenant, and
some of its messages reuse the first tenant's message ids (ids are unique per business number
only). Every webhook is delivered three times, two copies at once and one later, as Meta
redelivers; a copy counts as acknowledged only on a 2xx, and a refused copy is retried, as Meta
does. The second tenant also posts status webhooks naming the first tenant's sends, with their
callback data, right after the simulator accepts them. Meanwhile random workers are SIGKILLed
and restarted `--kills` times and PostgreSQL is crashed and restarted `--pg-restarts` times.

Then the faults are switched off, the system drains, every dead letter is requeued once (the
code path of `recado dead-letters requeue`), it drains again, and SQL and the simulators' logs
must show: every acknowledged message stored once, under its own tenant, and its event
processed; every conversation answered through its newest message (or handed off, or a dead
letter), queued replies strictly in order, one per burst; no outbound message accepted twice by
the Graph API simulator, each sent with its own tenant's number to its own contact; every
outbound message in a final state (sent, delivered, read, failed, cancelled) or dead-lettered,
with statuses consistent with the simulator's log, and read when the simulator delivered its
'read'; every forged status stored for the second tenant and applied to nothing; each model
reply to a long burst prompted with every message it answered, and the lead holding the email
of the burst's first message; each envelope's messages in provider order in the history query
the planner uses and in every prompt. Any violation: exit 1. The last line printed is one JSON
object with the figures.
"""

import argparse
import heapq
import itertools
import json
import random
import re
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
from typing import NamedTuple

import psycopg

from bench.conversation import FIRST_NAMES, PERSONAL_QUESTIONS, SURNAMES, assistant_env
from bench.delivery import (
    NUMBER_RATE,
    BenchFailure,
    _tail,
    print_table,
    wait_started,
    worker_env,
)
from bench.ingest import Http, _raise_interrupt, free_port, one_row
from db.planning import unanswered
from db.pool import connect_kwargs
from db.profiles import set_profile
from db.tenants import create_tenant
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import (
    DeliveryReport,
    TextMessage,
    encode,
    status_envelope,
    text_envelope,
)
from domain.outbox import parse_callback_data
from ops.cli_run import DEMO_PROFILE
from ops.private_pg import PrivatePostgres
from ops.processes import Child, _die_with_parent, spawn, stop, wait_for_port, web_server_argv
from ops.simulators.graph_api import (
    GraphApiSimulator,
    SentMessage,
    SimulatorConfig,
    TenantRoute,
)
from ops.simulators.llm import LlmCall, LlmSimulator, LlmSimulatorConfig

TENANT = "chaos"
# The second tenant: some of its customers' message ids are the first tenant's (ids are unique
# per business number only), and it forges status webhooks naming the first tenant's sends.
TENANT_B = "chaos-b"
PHONE_NUMBER_IDS = {TENANT: "100000000000096", TENANT_B: "100000000000097"}
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
# More messages inside the quiet window than the reply planner's history of 20 held.
LONG_BURST_SIZE = 25
# Messages in one multi-message envelope, as Meta batches a contact's messages.
ENVELOPE_SIZES = (5, 10)
# Long and envelope bursts start within this share of the feed: the run never ends on one.
SPECIAL_SPREAD = 0.7
# Forged statuses: two the real ones also send (their ids collide), one that must never apply.
FORGED_STATUSES = ("read", "delivered", "failed")
FORGER_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Inbound:
    tenant: str
    wa_id: str
    name: str
    wamid: str
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.wamid)


@dataclass(frozen=True)
class Burst:
    """One contact's messages inside the quiet window.

    'plain': 1-4 messages, one webhook each; 'long': LONG_BURST_SIZE messages, one webhook each,
    the first stating an email; 'envelope': several messages in ONE webhook, rising timestamps.
    """

    kind: str
    messages: tuple[Inbound, ...]
    tag: str = ""  # long and envelope bursts: each text starts with "[tag] paso N"
    email: str | None = None

    @property
    def tenant(self) -> str:
        return self.messages[0].tenant


class Webhook(NamedTuple):
    tenant: str
    keys: frozenset[tuple[str, str]]  # the (tenant, wamid) it carries; none for a status
    body: bytes
    headers: dict[str, str]


@dataclass
class Feed:
    """What the customers' side did, filled by the feeder threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: set[tuple[str, str]] = field(default_factory=set)  # with at least one 2xx
    posts: int = 0
    answered_2xx: int = 0
    duplicates: int = 0  # 2xx answers to a message webhook already acknowledged
    webhooks: int = 0  # message webhooks acknowledged
    refused: int = 0  # non-2xx answers and connection errors, each followed by a repost
    abandoned: int = 0  # copies never acknowledged within --ack-timeout

    def record(self, keys: frozenset[tuple[str, str]], ok: bool) -> None:
        with self.lock:
            self.posts += 1
            if not ok:
                self.refused += 1
                return
            self.answered_2xx += 1
            if keys and keys <= self.acknowledged:
                self.duplicates += 1
            elif keys:
                self.webhooks += 1
                self.acknowledged |= keys


@dataclass
class Chaos:
    kills: int = 0
    restarts: int = 0
    pg_restarts: int = 0


def plan_bursts(
    messages: int,
    contacts: int,
    burst_share: float,
    rng: random.Random,
    *,
    long_bursts: int = 0,
    envelopes: int = 0,
    second_share: float = 0.0,
    collision_share: float = 0.0,
) -> list[Burst]:
    """`messages` inbound messages, burst by burst, in feed order.

    Plain bursts come from `contacts` senders, `burst_share` of them 2-4 messages. Long and
    envelope bursts (as many as fit) each get a sender of their own, so their checks read one
    conversation. A `second_share` of plain bursts, and every other long and every other
    envelope burst, are the second tenant's; a `collision_share` of its plain messages reuse
    first-tenant ids.
    """
    shapes = [("long", LONG_BURST_SIZE)] * long_bursts
    shapes += [("envelope", rng.randint(*ENVELOPE_SIZES)) for _ in range(envelopes)]
    room, special = messages, []
    for kind, size in shapes:
        if size <= room:
            special.append((kind, size))
            room -= size
    layout = []
    while room > 0:
        size = min(rng.randint(2, 4) if rng.random() < burst_share else 1, room)
        layout.append(("plain", size))
        room -= size
    for shape in special:
        layout.insert(rng.randint(0, int(len(layout) * SPECIAL_SPREAD)), shape)
    bursts, written, specials = [], 0, Counter[str]()
    for kind, size in layout:
        if kind == "plain":
            tenant = TENANT_B if rng.random() < second_share else TENANT
            burst = _plain_burst(tenant, rng.randrange(contacts), size, written)
        else:
            # Both tenants get long and envelope bursts.
            tenant = TENANT_B if second_share and specials[kind] % 2 else TENANT
            burst = _special_burst(tenant, kind, specials.total(), size, written)
            specials[kind] += 1
        bursts.append(burst)
        written += size
    return _reuse_ids(bursts, collision_share, rng)


def _wamid(n: int) -> str:
    return f"wamid.CHAOS{n:08d}{secrets.token_hex(4)}"


def _plain_burst(tenant: str, i: int, size: int, written: int) -> Burst:
    # The same people write to both businesses: one number, two tenants' contacts.
    wa_id = f"1556{i:08d}"
    name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {SURNAMES[i % len(SURNAMES)]}"
    texts = [
        PERSONAL_QUESTIONS[n % len(PERSONAL_QUESTIONS)].format(name=name)
        for n in range(written, written + size)
    ]
    return Burst("plain", tuple(Inbound(tenant, wa_id, name, _wamid(written + j), text)
                                for j, text in enumerate(texts)))  # fmt: skip


def _special_burst(tenant: str, kind: str, k: int, size: int, written: int) -> Burst:
    wa_id = f"1559{k:08d}"
    name = f"{FIRST_NAMES[k % len(FIRST_NAMES)]} {SURNAMES[k % len(SURNAMES)]}"
    tag = f"{'L' if kind == 'long' else 'E'}{k}"
    email = f"cliente.{tag.lower()}@example.com" if kind == "long" else None
    texts = [
        f"[{tag}] paso {j} de {size}: les cuento algo más de mi caso" for j in range(1, size + 1)
    ]
    if email is not None:
        # Only the first message says who writes: the reply must have seen it.
        texts[0] = f"[{tag}] paso 1 de {size}: soy {name}, mi correo es {email}"
    inbound = tuple(
        Inbound(tenant, wa_id, name, _wamid(written + j), text) for j, text in enumerate(texts)
    )
    return Burst(kind, inbound, tag, email)


def _reuse_ids(bursts: list[Burst], share: float, rng: random.Random) -> list[Burst]:
    """Second-tenant plain messages take first-tenant plain ids, each id at most once."""
    pool = [m.wamid for b in bursts if b.kind == "plain" and b.tenant == TENANT for m in b.messages]
    rng.shuffle(pool)
    ids = iter(pool)
    reused = []
    for burst in bursts:
        if burst.kind == "plain" and burst.tenant == TENANT_B:
            burst = replace(burst, messages=tuple(
                replace(m, wamid=next(ids, m.wamid)) if rng.random() < share else m
                for m in burst.messages
            ))  # fmt: skip
        reused.append(burst)
    return reused


def id_collisions(bursts: Sequence[Burst]) -> int:
    """Second-tenant messages whose id is also a first-tenant message's id."""
    first = {m.wamid for b in bursts if b.tenant == TENANT for m in b.messages}
    return sum(m.wamid in first for b in bursts if b.tenant == TENANT_B for m in b.messages)


def paso(tag: str, text: str | None) -> int | None:
    """N of a long or envelope burst's "[tag] paso N ..." text; None for any other text."""
    prefix = f"[{tag}] paso "
    if not text or not text.startswith(prefix):
        return None
    return int(text[len(prefix) :].split(" ", 1)[0])


def webhook(secret: str, messages: Sequence[Inbound], now: int) -> Webhook:
    """One signed envelope; its messages' timestamps rise by a second each, the last `now`."""
    last = len(messages) - 1
    items = [
        TextMessage(m.wa_id, m.name, m.wamid, m.text, now - last + j)
        for j, m in enumerate(messages)
    ]
    tenant = messages[0].tenant
    body = encode(text_envelope(PHONE_NUMBER_IDS[tenant], items))
    return Webhook(tenant, frozenset(m.key for m in messages), body, _headers(secret, body))


def _headers(secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}


class Poster:
    """Posts webhook copies until one gets a 2xx (or --ack-timeout passes); a client per thread."""

    def __init__(self, port: int, feed: Feed, ack_timeout: float) -> None:
        self.port = port
        self.feed = feed
        self.ack_timeout = ack_timeout
        self._local = threading.local()

    def post(self, hook: Webhook) -> bool:
        """True once acknowledged; False when abandoned."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Http(self.port)
        deadline = time.monotonic() + self.ack_timeout
        while True:
            ok = client.request(
                "POST", f"/webhooks/whatsapp/{hook.tenant}", hook.body, hook.headers
            )
            self.feed.record(hook.keys, ok)
            if ok:
                return True
            if time.monotonic() > deadline:
                with self.feed.lock:
                    self.feed.abandoned += 1
                return False
            time.sleep(REPOST_PAUSE_SECONDS)


class Redeliveries:
    """Third copies, each posted at its due time by a few threads of their own."""

    def __init__(self, poster: Poster, threads: int) -> None:
        self.poster = poster
        self._heap: list[tuple[float, int, Webhook]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._count = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def add(self, due: float, hook: Webhook) -> None:
        with self._lock:
            self._count += 1
            heapq.heappush(self._heap, (due, self._count, hook))
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
                        _, _, hook = heapq.heappop(self._heap)
                        break
                    if self._closed and not self._heap:
                        return
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._lock.wait(timeout=wait)
            self.poster.post(hook)


def feed_messages(
    bursts: Sequence[Burst],
    poster: Poster,
    app_secrets: Mapping[str, str],
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
        due += len(burst.messages) / rate
    begun = time.monotonic()
    jobs = iter(range(len(bursts)))
    jobs_lock = threading.Lock()
    redeliveries = Redeliveries(poster, threads=max(2, concurrency // 2))
    groups = [_webhook_groups(burst) for burst in bursts]
    delay_iter = iter([rng.uniform(*REDELIVERY_DELAY_SECONDS) for g in groups for _ in g])

    def feeder() -> None:
        # The twin thread posts the concurrent second copy of each webhook.
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
                for j, group in enumerate(groups[k]):
                    if j:
                        time.sleep(burst_gap)
                    hook = webhook(app_secrets[bursts[k].tenant], group, int(time.time()))
                    twin_pool.post_twice(hook)
                    with jobs_lock:
                        delay = next(delay_iter)
                    redeliveries.add(time.monotonic() + delay, hook)
        finally:
            twin_pool.close()

    threads = [threading.Thread(target=feeder) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    redeliveries.close()


def _webhook_groups(burst: Burst) -> list[tuple[Inbound, ...]]:
    if burst.kind == "envelope":
        return [burst.messages]
    return [(m,) for m in burst.messages]


class _Twin:
    """A second thread that posts the same copy at the same moment as its owner."""

    def __init__(self, poster: Poster) -> None:
        self.poster = poster
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._job: Webhook | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def post_twice(self, hook: Webhook) -> None:
        self._job = hook
        self._go.release()
        self.poster.post(hook)
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
            self.poster.post(self._job)
            self._done.release()


class Forger:
    """The second tenant posts status webhooks naming the first tenant's sends, each right after
    the Graph API simulator accepted it (so mostly before its real statuses), one per `every`
    seconds, `limit` in all, with the first tenant's callback data. Each must be stored for the
    second tenant and change nothing of the first tenant's messages."""

    def __init__(self, graph: GraphApiSimulator, poster: Poster, secret: str, limit: int,
                 every: float) -> None:  # fmt: skip
        self.graph, self.poster, self.secret = graph, poster, secret
        self.limit, self.every = limit, every
        self.forged: list[tuple[str, str]] = []  # acknowledged (wamid, status)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        statuses = itertools.cycle(FORGED_STATUSES)
        seen, next_at = 0, time.monotonic() + self.every
        while len(self.forged) < self.limit and not self._stopping.wait(FORGER_POLL_SECONDS):
            sends = self.graph.sent()
            fresh = [s for s in sends[seen:] if s.phone_number_id == PHONE_NUMBER_IDS[TENANT]]
            seen = len(sends)
            if fresh and time.monotonic() >= next_at:
                self._forge(fresh[-1], next(statuses))
                next_at = time.monotonic() + self.every

    def _forge(self, sent: SentMessage, status: str) -> None:
        report = DeliveryReport(sent.wamid, status, sent.to, int(time.time()))
        envelope = status_envelope(PHONE_NUMBER_IDS[TENANT_B], [report])
        if sent.callback_data is not None:
            (item,) = envelope["entry"][0]["changes"][0]["value"]["statuses"]
            item["biz_opaque_callback_data"] = sent.callback_data
        body = encode(envelope)
        if self.poster.post(Webhook(TENANT_B, frozenset(), body, _headers(self.secret, body))):
            self.forged.append((sent.wamid, status))


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
    """Through the code path of `recado dead-letters requeue ID...`, in one transaction."""
    from actors.requeue import requeue

    with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
        outcomes = requeue(conn, ids, requeued_by="recado chaos")
        conn.commit()
    return Counter(o.status for o in outcomes)


# --- verdict ------------------------------------------------------------------------------------

_INBOUND = """
SELECT t.slug, m.provider_message_id, count(*) FROM messages m JOIN tenants t ON t.id = m.tenant_id
WHERE m.direction = 'in' GROUP BY t.slug, m.provider_message_id
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
# With whose number, and to whom, each outbound message had to be sent.
_OUTBOUND = """
SELECT m.id, m.delivery_status, m.provider_message_id, m.sent_at, m.delivered_at, m.read_at,
       EXISTS (SELECT 1 FROM dead_letters d WHERE d.actor = 'send_message' AND d.state = 'dead'
               AND d.args->>0 = m.id::text),
       t.slug, t.wa_phone_number_id, c.channel_user_id
FROM messages m JOIN tenants t ON t.id = m.tenant_id
JOIN conversations v ON v.id = m.conversation_id AND v.tenant_id = m.tenant_id
JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = m.tenant_id
WHERE m.direction = 'out'
"""
_STATUS_EVENTS = """
SELECT e.payload -> 'status' ->> 'id', e.payload -> 'status' ->> 'status', e.outcome
FROM inbound_events e JOIN tenants t ON t.id = e.tenant_id
WHERE t.slug = %s AND e.kind = 'status'
"""
_CONTACT_INBOUND = """
SELECT m.tenant_id, m.conversation_id, m.id, m.text FROM messages m
JOIN conversations v ON v.id = m.conversation_id AND v.tenant_id = m.tenant_id
JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = m.tenant_id
JOIN tenants t ON t.id = m.tenant_id
WHERE t.slug = %s AND c.channel_user_id = %s AND m.direction = 'in'
ORDER BY m.id
"""
_CONVERSATION_REPLIES = """
SELECT through_message_id, source FROM replies
WHERE tenant_id = %s AND conversation_id = %s AND outcome IN ('queued', 'handoff') ORDER BY id
"""
_LEAD_EMAIL = """
SELECT l.email FROM leads l JOIN contacts c ON c.id = l.contact_id AND c.tenant_id = l.tenant_id
JOIN tenants t ON t.id = l.tenant_id
WHERE t.slug = %s AND c.channel_user_id = %s
"""
FINAL = ("sent", "delivered", "read", "failed", "cancelled")
ACCEPTED = ("sent", "delivered", "read")
EXAMPLES = 5
# The history query reads a whole conversation with these bounds.
_ANY_ID = (1 << 63) - 1


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
    # The checks of the tenants, long bursts and envelopes (see _CASE_CHECKS): name -> findings.
    cases: dict[str, int]
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
            **self.cases,
        }
        return {name: count for name, count in found.items() if count}


_CASE_CHECKS = (
    # A second-tenant status naming a first-tenant send: acknowledged, so stored for its tenant...
    "forged_status_lost",
    # ...and never applied to a message.
    "forged_status_applied",
    # Every send whose 'read' the simulator delivered ends read: no status swallowed or misapplied.
    "status_not_read",
    # Sent with the number of the message's own tenant, to its conversation's contact.
    "sent_by_wrong_tenant",
    # Each reply to a long burst saw every message it answered, and the lead the first message.
    "long_burst_prompt_incomplete",
    "long_burst_lead_missed",
    # An envelope's messages in provider order, in the history query and in the prompt.
    "envelope_stored_out_of_order",
    "envelope_prompt_out_of_order",
)


def verify(
    url: str,
    feed: Feed,
    graph: GraphApiSimulator,
    llm_calls: Sequence[LlmCall],
    bursts: Sequence[Burst],
    forged: Sequence[tuple[str, str]],
) -> Verdict:
    with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
        stored = {(slug, wamid): n for slug, wamid, n in conn.execute(_INBOUND)}
        (unprocessed,) = one_row(
            conn,
            "SELECT count(*) FROM inbound_events WHERE processed_at IS NULL OR outcome IS NULL",
        )
        (conversations,) = one_row(conn, "SELECT count(*) FROM conversations")
        unanswered = conn.execute(_UNANSWERED).fetchall()
        replies = conn.execute(_REPLIES).fetchall()
        outbound = conn.execute(_OUTBOUND).fetchall()
        (dead,) = one_row(conn, "SELECT count(*) FROM dead_letters WHERE state = 'dead'")
        sends = graph.sent()
        repeats = _repeated_sends(conn, sends)
        first_status = {(r[0], r[1]): r[2] for r in conn.execute(_STATUS_TIMES)}
        forged_events = {(r[0], r[1]): r[2] for r in conn.execute(_STATUS_EVENTS, (TENANT_B,))}
        cases = _burst_findings(conn, bursts, llm_calls)
    out_of_order: list[str] = []
    last: dict[int, int] = {}
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
    lost = [f"{slug}/{wamid}" for slug, wamid in feed.acknowledged if (slug, wamid) not in stored]
    duplicated = {f"{slug}/{wamid}": n - 1 for (slug, wamid), n in stored.items() if n > 1}
    repeated = {data: n - 1 for data, n in by_callback.items() if n > 1}
    unknown = [str(message_id) for message_id in accepted_ids if message_id not in rows]
    not_final = [f"message {r[0]}: {r[1]}" for r in outbound if r[1] not in FINAL and not r[6]]
    inconsistent = [f"message {r[0]}: {r[1:6]}" for r in outbound if _inconsistent(r)]
    cases |= _tenant_findings(sends, rows, set(graph.undelivered()), forged, forged_events)
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
        **cases,
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
            (
                first_status[s.phone_number_id, s.wamid] - s.accepted_at
                for s in sends
                if (s.phone_number_id, s.wamid) in first_status
            ),
            default=0.0,
        ),
        cases={name: len(cases[name]) for name in _CASE_CHECKS},
        examples={name: found[:EXAMPLES] for name, found in examples.items() if found},
    )


def _tenant_findings(
    sends: Sequence[SentMessage],
    rows: Mapping[int, tuple],
    undelivered: set[tuple[str, str]],
    forged: Sequence[tuple[str, str]],
    forged_events: Mapping[tuple[str, str], str | None],
) -> dict[str, list[str]]:
    """What one tenant's ids or statuses did to the other's messages."""
    slug_of = {number: slug for slug, number in PHONE_NUMBER_IDS.items()}
    not_read, wrong_tenant = [], []
    for sent in sends:
        ours = parse_callback_data(sent.callback_data)
        row = None if ours is None else rows.get(ours)
        if row is None:
            continue  # an unknown send: reported as such
        message_id, status, slug, number, contact = row[0], row[1], row[7], row[8], row[9]
        if status != "read" and (sent.wamid, "read") not in undelivered:
            not_read.append(f"message {message_id} of {slug}: {status}, its 'read' was delivered")
        if sent.phone_number_id != number or sent.to.lstrip("+") != contact:
            wrong_tenant.append(
                f"message {message_id} of {slug}: sent with the number of"
                f" {slug_of.get(sent.phone_number_id, '?')}"
                + ("" if sent.to.lstrip("+") == contact else " to another contact")
            )
    return {
        "forged_status_lost": [f"{w}:{s}" for w, s in forged if (w, s) not in forged_events],
        "forged_status_applied": [
            f"{w}:{s}" for w, s in forged if forged_events.get((w, s)) == "applied"
        ],
        "status_not_read": not_read,
        "sent_by_wrong_tenant": wrong_tenant,
    }


def _burst_findings(
    conn: psycopg.Connection, bursts: Sequence[Burst], llm_calls: Sequence[LlmCall]
) -> dict[str, list[str]]:
    """The long bursts' replies and leads, the envelopes' order in history and prompts."""
    # The customer's side of each prompt (one message each or joined: texts are found inside),
    # by the burst tags it names. A call answered without a fault is one a reply was made of.
    prompts: dict[str, list[str]] = {}
    for call in llm_calls:
        if call.mode != "embeddings" and call.fault is None:
            said = "\n".join(call.user_texts)
            for tag in set(_TAG.findall(said)):
                prompts.setdefault(tag, []).append(said)
    found: dict[str, list[str]] = {
        name: [] for name in _CASE_CHECKS if name.startswith(("long_", "envelope_"))
    }
    for burst in bursts:
        if burst.kind == "plain":
            continue
        contact = (burst.tenant, burst.messages[0].wa_id)
        rows = conn.execute(_CONTACT_INBOUND, contact).fetchall()
        said_in = prompts.get(burst.tag, [])
        if burst.kind == "long":
            found["long_burst_prompt_incomplete"] += _unprompted(conn, burst.tag, rows, said_in)
            email = conn.execute(_LEAD_EMAIL, contact).fetchone()
            if email is None or email[0] != burst.email:
                found["long_burst_lead_missed"].append(
                    f"{burst.tag}: lead email {email and email[0]!r}, the first message"
                    f" stated {burst.email}"
                )
            continue
        stored = _history_order(conn, burst.tag, rows)
        if stored != sorted(stored):
            found["envelope_stored_out_of_order"].append(f"{burst.tag}: history paso {stored}")
        for said in said_in:
            at = sorted((said.find(m.text), j) for j, m in enumerate(burst.messages, 1))
            order = [j for position, j in at if position >= 0]
            if order != sorted(order):
                found["envelope_prompt_out_of_order"].append(f"{burst.tag}: prompt paso {order}")
                break
    return found


_TAG = re.compile(r"\[([LE]\d+)\] paso ")


def _unprompted(
    conn: psycopg.Connection, tag: str, rows: Sequence[tuple], said_in: Sequence[str]
) -> list[str]:
    """Replies by the model whose prompt missed a message they answered: those after the
    previous reply's through message, up to their own."""
    found = []
    for tenant_id, conversation in sorted({(r[0], r[1]) for r in rows}):
        texts = [(message_id, text) for t, c, message_id, text in rows if c == conversation]
        answered_up_to = 0
        for through, source in conn.execute(_CONVERSATION_REPLIES, (tenant_id, conversation)):
            answered = [
                text for message_id, text in texts if answered_up_to < message_id <= through
            ]
            answered_up_to = max(answered_up_to, through)
            if source != "llm" or not answered:
                continue
            held = max((sum(text in said for text in answered) for said in said_in), default=0)
            if held < len(answered):
                found.append(
                    f"{tag}: the reply through message {through} answered {len(answered)}"
                    f" messages, its prompt held {held} of them"
                )
    return found


def _history_order(conn: psycopg.Connection, tag: str, rows: Sequence[tuple]) -> list[int]:
    """The burst's "paso N" in the order the reply planner reads a conversation's messages."""
    order = []
    for tenant_id, conversation in sorted({(r[0], r[1]) for r in rows}):
        for message in unanswered(conn, tenant_id, conversation, 0, _ANY_ID):
            n = paso(tag, message.text) if message.direction == "in" else None
            if n is not None:
                order.append(n)
    return order


# First stored status of each send, per business number: another tenant's forged status for the
# same wamid is no evidence about this one.
_STATUS_TIMES = """
SELECT t.wa_phone_number_id, e.payload -> 'status' ->> 'id',
       extract(epoch FROM min(e.received_at))::float8
FROM inbound_events e JOIN tenants t ON t.id = e.tenant_id WHERE e.kind = 'status' GROUP BY 1, 2
"""
_FIRST_STATUS = """
SELECT extract(epoch FROM min(e.received_at))::float8
FROM inbound_events e JOIN tenants t ON t.id = e.tenant_id
WHERE e.kind = 'status' AND t.wa_phone_number_id = %s AND e.payload -> 'status' ->> 'id' = %s
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
        (status_at,) = one_row(conn, _FIRST_STATUS, (first.phone_number_id, first.wamid))
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
    _, status, wamid, _, delivered_at, read_at = row[:6]
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
    bursts: Sequence[Burst]
    forged: int  # second-tenant statuses naming first-tenant sends, acknowledged
    faults: dict[str, int]
    status_webhooks: dict[str, int]  # the Graph API simulator's retries and give-ups
    dead_before: int
    requeued: int
    drained: bool
    seconds: float


def create_tenants(url: str, app_secrets: Mapping[str, str], tokens: Mapping[str, str],
                   quiet_window: float) -> None:  # fmt: skip
    """Both tenants with the demo clinic's profile and a short quiet window."""
    profile = json.loads(DEMO_PROFILE.read_text(encoding="utf-8"))
    with psycopg.connect(url, **connect_kwargs("recado-chaos")) as conn:
        for slug, name in ((TENANT, "Chaos Clinic"), (TENANT_B, "Chaos Clinic B")):
            tenant = create_tenant(
                conn, slug=slug, name=name, wa_phone_number_id=PHONE_NUMBER_IDS[slug],
                wa_app_secret=app_secrets[slug], wa_verify_token=secrets.token_hex(8),
                wa_access_token=tokens[slug],
                settings={"pacing": {"number": NUMBER_RATE}, "quiet_window_seconds": quiet_window},
            )  # fmt: skip
            set_profile(conn, tenant.id, profile)
        conn.commit()


def run(args: argparse.Namespace, pg: PrivatePostgres, log: Path) -> Outcome:
    begun = time.monotonic()
    rng = random.Random(args.seed)
    app_secrets = {slug: secrets.token_hex(16) for slug in PHONE_NUMBER_IDS}
    tokens = {slug: secrets.token_hex(16) for slug in PHONE_NUMBER_IDS}
    web_port = free_port()
    routes = {
        number: TenantRoute(
            f"http://127.0.0.1:{web_port}/webhooks/whatsapp/{slug}", app_secrets[slug], tokens[slug]
        )
        for slug, number in PHONE_NUMBER_IDS.items()
    }
    share = args.fault_rate / len(FAULT_KINDS)
    graph_config = SimulatorConfig(
        routes=routes,
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
    bursts = plan_bursts(
        args.messages, args.contacts, args.burst_share, rng, long_bursts=args.long_bursts,
        envelopes=args.envelopes, second_share=args.second_tenant_share,
        collision_share=args.id_collision_share,
    )  # fmt: skip
    feed_seconds = args.messages / args.rate
    with GraphApiSimulator(graph_config) as graph, LlmSimulator(llm_config) as llm:
        create_tenants(url, app_secrets, tokens, args.quiet_window)
        env = {
            **assistant_env(worker_env(url, f"{graph.url}/v24.0", None), llm.url),
            **recovery_env(args),
        }
        with web_server(env, web_port, args.web_workers):
            workers = Workers(args.processes, args.threads, env, log)
            done, stopping = threading.Event(), threading.Event()
            errors: list[BaseException] = []
            events = chaos_schedule(feed_seconds, args.kills, args.pg_restarts, rng)
            chaos_thread = threading.Thread(
                target=run_chaos,
                args=(events, workers, pg, args.pg_outage, chaos, rng, done, stopping, errors),
            )
            chaos_thread.start()
            poster = Poster(web_port, feed, args.ack_timeout)
            forger = Forger(graph, poster, app_secrets[TENANT_B], args.forged_statuses,
                            every=feed_seconds / max(1, args.forged_statuses))  # fmt: skip
            try:
                feed_messages(
                    bursts, poster, app_secrets, rate=args.rate, concurrency=args.concurrency,
                    burst_gap=args.quiet_window / 4, rng=rng,
                )  # fmt: skip
                forger.stop()
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
                forger.stop()
                workers.stop()
                stopping.set()
                chaos_thread.join()
        graph.wait_for_webhooks(timeout=10)
        counts = graph.counts()
        webhooks = {"retries": counts.webhook_retries, "undelivered": counts.webhooks_undelivered}
        faults = {f"graph_{k}": n for k, n in counts.faults.items() if n}
        calls = llm.calls
        faults.update(
            {f"llm_{k}": n for k, n in Counter(c.fault for c in calls if c.fault).items()}
        )
        verdict = verify(url, feed, graph, calls, bursts, forger.forged)
    return Outcome(verdict, feed, chaos, bursts, len(forger.forged), faults, webhooks, len(dead),
                   requeued, drained, time.monotonic() - begun)  # fmt: skip


def figures_of(args: argparse.Namespace, o: Outcome) -> dict[str, object]:
    v = o.verdict
    return {
        "bench": "chaos",
        "messages": args.messages,
        "contacts": args.contacts,
        "bursts": len(o.bursts),
        "tenants": len(PHONE_NUMBER_IDS),
        "second_tenant_messages": sum(len(b.messages) for b in o.bursts if b.tenant == TENANT_B),
        "id_collisions": id_collisions(o.bursts),
        "long_bursts": sum(b.kind == "long" for b in o.bursts),
        "envelopes_multi": sum(b.kind == "envelope" for b in o.bursts),
        "forged_statuses": o.forged,
        "message_webhooks": o.feed.webhooks,
        "webhook_posts": o.feed.posts,
        # Copies acknowledged after the first: each one a redelivery the service had to absorb.
        "duplicates_delivered": o.feed.duplicates,
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
            "messages", "bursts", "second_tenant_messages", "id_collisions", "long_bursts",
            "envelopes_multi", "forged_statuses", "webhook_posts", "duplicates_delivered",
            "refused_posts",
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
    # Defaults of None scale with --messages (see main).
    add("--long-bursts", type=int, help="bursts of 25 messages (3 per 1,000 messages)")
    add("--envelopes", type=int, help="5-10 messages in one webhook (3 per 1,000 messages)")
    add("--second-tenant-share", type=float, default=0.2, help="plain bursts to tenant B")
    add("--id-collision-share", type=float, default=0.25, help="B messages with A's ids")
    add("--forged-statuses", type=int, help="B statuses naming A's sends (2 per 100 messages)")
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
    shares = (args.fault_rate, args.burst_share, args.second_tenant_share, args.id_collision_share)
    if not all(0 <= share <= 1 for share in shares):
        parser.error("--fault-rate and the --...-share options are between 0 and 1")
    for name, default in (("long_bursts", args.messages * 3 // 1000),
                          ("envelopes", args.messages * 3 // 1000),
                          ("forged_statuses", args.messages // 50)):  # fmt: skip
        if getattr(args, name) is None:
            setattr(args, name, default)
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
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
