"""End to end: inbound webhook -> stored -> planned by the assistant -> sent, beside the raw
no-op actor rate measured in the same run.

    python -m bench.conversation [--conversations 1000] [--processes 2] [--threads 8]

Creates a scratch database on DATABASE_URL's server (or the embedded one) with one tenant that
has the demo clinic's profile and a quiet window of 0 s, starts the Graph API simulator (no
added latency, no status webhooks) and the LLM simulator (`--llm-latency-ms`, default 0) on
127.0.0.1, the web server (webapp.asgi:app) and `--processes` worker processes, then, on that one
broker:
  no-op   N jobs of bench.delivery's no-op actor, committed at once on the `send` queue
  burst   N contacts each send one signed webhook, POSTed from `--concurrency` threads as fast
          as the server takes them; every text carries a personal detail ("me llamo Ana"), so
          no answer may come from the cache and every reply calls the LLM
  cached  after one conversation has put the answer to an FAQ in the answer cache, M more
          contacts ask the same question: replies from the cache, no LLM call
  paced   one contact after another at a fraction of the burst's rate, texts as in the burst:
          the pipeline's latency when it is not saturated
A conversation's latency runs from the start of its webhook POST to the moment the Graph API
simulator accepted the reply to that contact; conversations/s is the burst's N over the time
from its first POST to its last reply. At the end every contact must have had exactly one
reply accepted by the simulator (its log is the judge) and one queued reply row, with no stale
or handed-off reply and no dead letter; otherwise it exits 1. The last line printed is one JSON
object with the figures (README: Benchmarks).
"""

import argparse
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import Connection

from bench.delivery import (
    NOOP_ACTOR,
    NUMBER_RATE,
    BenchFailure,
    _tail,
    noop_burst,
    print_table,
    wait_until,
    worker_env,
    workers,
)
from bench.ingest import Http, Measure, _raise_interrupt, free_port, one_row, scratch_database
from db.pool import connect_kwargs
from db.profiles import set_profile
from db.tenants import create_tenant
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from ops.cli_run import DEMO_PROFILE, LLM_SIMULATOR_MODEL
from ops.database import database_url, describe
from ops.processes import Child, spawn, stop, wait_for_port, web_server_argv
from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute
from ops.simulators.llm import LlmSimulator, LlmSimulatorConfig

TENANT = "bench"
PHONE_NUMBER_ID = "100000000000097"
EMBEDDING_MODEL = "recado-sim-embedding"
WEB_START_SECONDS = 30.0
FIRST_NAMES = ("Ana", "Luis", "María", "Jorge", "Lucía", "Carlos", "Sofía", "Diego", "Elena")
SURNAMES = ("Torres", "Gómez", "Ruiz", "Navarro", "Castro", "Méndez", "Ortega")
# Each names the customer, which makes the answer theirs: never cached, never served from it.
PERSONAL_QUESTIONS = (
    "Hola, me llamo {name}. ¿Cuánto cuesta una sesión de fisioterapia?",
    "Buenas tardes, soy {name} y quisiera saber el precio del masaje terapéutico",
    "Hola, me llamo {name}, ¿cuánto dura la rehabilitación postoperatoria?",
    "Soy {name}. ¿Qué incluye la consulta de valoración y cuánto cuesta?",
)
# An answer every customer shares: once the model has answered it, the cache answers.
FAQ_QUESTION = "Hola, ¿qué formas de pago aceptan?"
LLM_PHASES = ("warm-up", "burst", "paced")


@dataclass(frozen=True)
class Inbound:
    wa_id: str
    name: str
    text: str


class Contacts:
    """Fresh senders: a contact never writes twice, so each conversation gets one reply."""

    def __init__(self) -> None:
        self.phase_of: dict[str, str] = {}

    def take(self, count: int, phase: str, question: str | None = None) -> list[Inbound]:
        taken = []
        for _ in range(count):
            i = len(self.phase_of)
            wa_id = f"1555{i:08d}"
            self.phase_of[wa_id] = phase
            name = (
                f"{FIRST_NAMES[i % len(FIRST_NAMES)]}"
                f" {SURNAMES[i // len(FIRST_NAMES) % len(SURNAMES)]}"
            )
            text = question or PERSONAL_QUESTIONS[i % len(PERSONAL_QUESTIONS)].format(name=name)
            taken.append(Inbound(wa_id, name, text))
        return taken


@dataclass(frozen=True)
class Verdict:
    conversations: int
    answered_once: int
    unanswered: int
    repeated_sends: int
    unexpected_sends: int
    queued_replies: int
    stale_replies: int
    handoffs: int
    duplicate_replies: int
    llm_replies: int
    llm_expected: int
    cache_hits: int
    cache_expected: int
    llm_chat_calls: int
    outbound_unsent: int
    dead_letters: int
    noop_jobs: int
    noop_done: int

    @property
    def sent_once(self) -> bool:
        return (
            self.answered_once == self.conversations
            and not self.repeated_sends
            and not self.unexpected_sends
        )

    @property
    def problems(self) -> list[str]:
        found = []
        if self.unanswered:
            found.append(f"{self.unanswered} of {self.conversations} conversations unanswered")
        if self.repeated_sends:
            found.append(f"{self.repeated_sends} replies sent more than once to one contact")
        if self.unexpected_sends:
            found.append(f"{self.unexpected_sends} sends to contacts that never wrote")
        if self.queued_replies != self.conversations:
            found.append(f"{self.queued_replies} queued replies for {self.conversations} messages")
        if self.stale_replies or self.duplicate_replies:
            found.append(
                f"{self.stale_replies} stale and {self.duplicate_replies} duplicate replies"
            )
        if self.handoffs:
            found.append(f"{self.handoffs} conversations handed to a person")
        if self.llm_replies != self.llm_expected:
            found.append(
                f"{self.llm_replies} of {self.llm_expected} personal questions answered by the LLM"
            )
        if self.cache_hits != self.cache_expected:
            found.append(f"{self.cache_hits} of {self.cache_expected} FAQ repeats from the cache")
        if self.outbound_unsent:
            found.append(f"{self.outbound_unsent} outbound messages not sent")
        if self.dead_letters:
            found.append(f"{self.dead_letters} dead letters")
        if self.noop_done != self.noop_jobs:
            found.append(f"{self.noop_jobs - self.noop_done} of {self.noop_jobs} no-op jobs undone")
        return found


# --- the customers' side ------------------------------------------------------------------------


def webhook_body(secret: str, inbound: Inbound) -> tuple[bytes, dict[str, str]]:
    message = TextMessage(
        wa_id=inbound.wa_id,
        profile_name=inbound.name,
        wamid=f"wamid.CONV{inbound.wa_id}{secrets.token_hex(4)}",
        text=inbound.text,
        timestamp=int(time.time()),
    )
    body = encode(text_envelope(PHONE_NUMBER_ID, [message]))
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}


def post_one(client: Http, secret: str, inbound: Inbound, started: dict[str, float]) -> bool:
    body, headers = webhook_body(secret, inbound)
    # Wall clock, as the simulator's acceptance times: both are read on this machine.
    started[inbound.wa_id] = time.time()
    return client.request("POST", f"/webhooks/whatsapp/{TENANT}", body, headers)


def post_burst(
    port: int, secret: str, inbound: Sequence[Inbound], concurrency: int
) -> dict[str, float]:
    """Every message as its own webhook, from `concurrency` threads at once: wa_id -> start."""
    started: dict[str, float] = {}
    refused = [0] * concurrency
    barrier = threading.Barrier(concurrency)

    def post_share(k: int) -> None:
        client = Http(port)
        barrier.wait()
        for message in inbound[k::concurrency]:
            if not post_one(client, secret, message, started):
                refused[k] += 1

    threads = [threading.Thread(target=post_share, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if sum(refused):
        raise BenchFailure(f"{sum(refused)} webhook POSTs refused")
    return started


def post_paced(
    port: int, secret: str, inbound: Sequence[Inbound], rate: float
) -> tuple[dict[str, float], float]:
    """Open loop: message k is POSTed at k / rate s (or as soon after as one client can).

    Returns the start times and the seconds the POSTs took.
    """
    client = Http(port)
    started: dict[str, float] = {}
    begun = time.perf_counter()
    for k, message in enumerate(inbound):
        delay = begun + k / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if not post_one(client, secret, message, started):
            raise BenchFailure("a paced webhook POST was refused")
    return started, time.perf_counter() - begun


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def wait_answered(
    graph: GraphApiSimulator, started: Mapping[str, float], timeout: float
) -> Measure:
    """Until the simulator accepted a reply to every contact; latency: POST start -> accepted."""
    first: dict[str, float] = {}

    def done() -> bool:
        for sent in graph.sent():
            wa_id = digits(sent.to)
            if wa_id in started and wa_id not in first:
                first[wa_id] = sent.accepted_at
        return len(first) >= len(started)

    wait_until(done, timeout, f"replies to {len(started)} conversations")
    latencies = [first[wa_id] - at for wa_id, at in started.items()]
    seconds = max(first.values()) - min(started.values())
    return Measure(len(latencies), 0, seconds, latencies)


def wait_cached(conn: Connection, timeout: float) -> None:
    def done() -> bool:
        row = conn.execute("SELECT count(*) FROM answer_cache").fetchone()
        conn.commit()
        assert row is not None
        return row[0] > 0

    wait_until(done, timeout, "the FAQ answer in the answer cache")


# --- processes ---------------------------------------------------------------------------------


@contextmanager
def web_server(env: Mapping[str, str], web_workers: int) -> Iterator[int]:
    """The web server on a free port of 127.0.0.1, stopped on exit; yields the port."""
    port = free_port()
    argv = web_server_argv(host="127.0.0.1", port=port, workers=web_workers)
    server = spawn(Child("web server", argv), env)
    try:
        if not wait_for_port("127.0.0.1", port, timeout=WEB_START_SECONDS):
            raise BenchFailure(f"web server not listening within {WEB_START_SECONDS:g} s")
        yield port
    finally:
        stop({"web server": server}, grace=15)


def assistant_env(base: Mapping[str, str], llm_url: str) -> dict[str, str]:
    # Whatever model the shell is configured for, the bench talks to its own simulator.
    return {
        **base,
        "OPENAI_API_KEY": f"bench-{secrets.token_hex(8)}",
        "OPENAI_BASE_URL": llm_url,
        "OPENAI_MODEL": LLM_SIMULATOR_MODEL,
        "OPENAI_EMBEDDING_MODEL": EMBEDDING_MODEL,
    }


# --- verdict ------------------------------------------------------------------------------------

_REPLIES = """
SELECT c.channel_user_id, r.outcome, r.source, r.cache_result
FROM replies r
JOIN conversations v ON v.id = r.conversation_id
JOIN contacts c ON c.id = v.contact_id
"""


def verify(
    conn: Connection,
    graph: GraphApiSimulator,
    llm: LlmSimulator,
    contacts: Contacts,
    noop_jobs: int,
) -> Verdict:
    """Each contact answered once at the simulator, by the path its phase was meant to take."""
    expected = contacts.phase_of
    sends = Counter(digits(s.to) for s in graph.sent())
    replies = conn.execute(_REPLIES).fetchall()
    (outbound_unsent,) = one_row(
        conn, "SELECT count(*) FROM messages WHERE direction = 'out' AND delivery_status <> 'sent'"
    )
    (dead_letters,) = one_row(conn, "SELECT count(*) FROM dead_letters")
    (noop_done,) = one_row(
        conn, "SELECT count(*) FROM step_runs WHERE actor = %s AND outcome = 'ok'", (NOOP_ACTOR,)
    )
    conn.commit()
    outcomes = Counter(outcome for _, outcome, _, _ in replies)
    queued = [
        (wa_id, source, cache) for wa_id, outcome, source, cache in replies if outcome == "queued"
    ]
    return Verdict(
        conversations=len(expected),
        answered_once=sum(1 for wa_id in expected if sends[wa_id] == 1),
        unanswered=sum(1 for wa_id in expected if sends[wa_id] == 0),
        repeated_sends=sum(count - 1 for count in sends.values() if count > 1),
        unexpected_sends=sum(count for wa_id, count in sends.items() if wa_id not in expected),
        queued_replies=len(queued),
        stale_replies=outcomes["stale"],
        handoffs=outcomes["handoff"],
        duplicate_replies=outcomes["duplicate"],
        llm_replies=sum(
            1
            for wa_id, source, cache in queued
            if expected.get(wa_id) in LLM_PHASES and source == "llm" and cache == "skip"
        ),
        llm_expected=sum(1 for phase in expected.values() if phase in LLM_PHASES),
        cache_hits=sum(
            1
            for wa_id, source, cache in queued
            if expected.get(wa_id) == "cached" and source == "cache" and cache == "hit_exact"
        ),
        cache_expected=sum(1 for phase in expected.values() if phase == "cached"),
        llm_chat_calls=sum(1 for call in llm.calls if call.mode != "embeddings"),
        outbound_unsent=outbound_unsent,
        dead_letters=dead_letters,
        noop_jobs=noop_jobs,
        noop_done=noop_done,
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    noop: Measure
    burst: Measure
    cached: Measure | None
    paced: Measure | None
    verdict: Verdict
    warm_up: int


def run(args: argparse.Namespace, url: str, log: Path) -> Result:
    secret, token = secrets.token_hex(16), secrets.token_hex(16)
    # Statuses are off: the webhook URL is never called.
    route = TenantRoute("http://127.0.0.1:9/unused", secret, token)
    graph_config = SimulatorConfig(
        routes={PHONE_NUMBER_ID: route}, send_statuses=False, latency_ms=0
    )
    contacts = Contacts()
    warm_up = args.processes * args.threads * 2
    with (
        GraphApiSimulator(graph_config) as graph,
        LlmSimulator(LlmSimulatorConfig(latency_ms=args.llm_latency_ms)) as llm,
        psycopg.connect(url, **connect_kwargs("recado-bench")) as conn,
    ):
        tenant = create_tenant(
            conn, slug=TENANT, name="Bench Clinic", wa_phone_number_id=PHONE_NUMBER_ID,
            wa_app_secret=secret, wa_verify_token=secrets.token_hex(8), wa_access_token=token,
            settings={"pacing": {"number": NUMBER_RATE}, "quiet_window_seconds": 0},
        )  # fmt: skip
        set_profile(conn, tenant.id, json.loads(DEMO_PROFILE.read_text(encoding="utf-8")))
        conn.commit()
        env = assistant_env(worker_env(url, f"{graph.url}/v24.0", None), llm.url)
        with (
            web_server(env, args.web_workers) as port,
            workers(args.processes, args.threads, env, log),
        ):

            def talk(inbound: Sequence[Inbound]) -> Measure:
                started = post_burst(port, secret, inbound, args.concurrency)
                return wait_answered(graph, started, args.timeout)

            # Pools filled, HTTP connections open, code paths imported, pacing rows created.
            noop_burst(conn, warm_up, args.timeout)
            talk(contacts.take(warm_up, "warm-up"))
            noop = noop_burst(conn, args.conversations, args.timeout)
            burst = talk(contacts.take(args.conversations, "burst"))
            cached = None
            if args.cached_conversations:
                talk(contacts.take(1, "cache-fill", FAQ_QUESTION))
                wait_cached(conn, args.timeout)
                cached = talk(contacts.take(args.cached_conversations, "cached", FAQ_QUESTION))
            paced = None
            if args.paced_seconds > 0:
                rate = max(1.0, burst.per_second * args.paced_fraction)
                count = max(1, round(rate * args.paced_seconds))
                started, offered = post_paced(port, secret, contacts.take(count, "paced"), rate)
                answered = wait_answered(graph, started, args.timeout)
                # Its rate is the offered one: the workers kept up (or the latencies say not).
                paced = Measure(answered.count, 0, offered, answered.latencies)
        # Workers stopped: nothing can send any more, the log is final.
        verdict = verify(conn, graph, llm, contacts, noop_jobs=warm_up + args.conversations)
    return Result(noop, burst, cached, paced, verdict, warm_up)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _row(name: str, m: Measure, per_second: float) -> tuple[str, ...]:
    return (
        name,
        str(m.count),
        f"{per_second:,.1f}",
        f"{m.percentile_ms(50):.1f}",
        f"{m.percentile_ms(99):.1f}",
        f"{max(m.latencies, default=0.0) * 1000:.1f}",
    )


def figures_of(args: argparse.Namespace, result: Result) -> dict[str, object]:
    noop, burst, cached, paced, verdict = (
        result.noop, result.burst, result.cached, result.paced, result.verdict
    )  # fmt: skip
    return {
        "bench": "conversation",
        "conversations": args.conversations,
        "processes": args.processes,
        "threads": args.threads,
        "web_workers": args.web_workers,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        "llm_latency_ms": args.llm_latency_ms,
        "quiet_window_seconds": 0,
        "e2e_p50_ms": round(burst.percentile_ms(50), 1),
        "e2e_p99_ms": round(burst.percentile_ms(99), 1),
        "e2e_max_ms": _ms(max(burst.latencies)),
        "conversations_per_s": round(burst.per_second, 1),
        "noop_actor_per_s": round(noop.per_second, 1),
        "ratio": round(burst.per_second / noop.per_second, 4) if noop.per_second else None,
        "cached_conversations": cached.count if cached else 0,
        "cached_per_s": round(cached.per_second, 1) if cached else None,
        "cached_e2e_p50_ms": round(cached.percentile_ms(50), 1) if cached else None,
        "cached_e2e_p99_ms": round(cached.percentile_ms(99), 1) if cached else None,
        "paced_conversations": paced.count if paced else 0,
        "paced_per_s": round(paced.per_second, 1) if paced else None,
        "paced_e2e_p50_ms": round(paced.percentile_ms(50), 1) if paced else None,
        "paced_e2e_p99_ms": round(paced.percentile_ms(99), 1) if paced else None,
        "warm_up_conversations": result.warm_up,
        "all_conversations": verdict.conversations,
        "sent_once": verdict.sent_once,
        "unanswered": verdict.unanswered,
        "repeated_sends": verdict.repeated_sends,
        "stale_replies": verdict.stale_replies,
        "duplicate_replies": verdict.duplicate_replies,
        "handoffs": verdict.handoffs,
        "llm_replies": verdict.llm_replies,
        "llm_chat_calls": verdict.llm_chat_calls,
        "cache_hits": verdict.cache_hits,
        "dead_letters": verdict.dead_letters,
    }


def report(args: argparse.Namespace, server_url: str, result: Result) -> dict[str, object]:
    figures = figures_of(args, result)
    verdict = result.verdict
    print(
        f"recado conversation benchmark: N = {args.conversations}, workers"
        f" {args.processes}x{args.threads} (python -m actors.worker), web server"
        f" x{args.web_workers}, {args.concurrency} webhook senders,"
        f" {os.cpu_count()} CPUs, PostgreSQL {describe(server_url)}"
    )
    print(
        f"Quiet window 0 s; LLM simulator latency {args.llm_latency_ms} ms; Graph API simulator"
        f" without latency or status webhooks; per-number pacing {NUMBER_RATE['per_second']:,}/s."
        " Latency: webhook POST start -> reply accepted by the simulator."
    )
    rows = [
        ("measure", "count", "per s", "p50 ms", "p99 ms", "max ms"),
        _row("no-op actor, burst of N (commit -> run)", result.noop, result.noop.per_second),
        _row("conversation, burst of N (LLM)", result.burst, result.burst.per_second),
    ]
    if result.cached:
        rows.append(
            _row("conversation, FAQ repeated (cache)", result.cached, result.cached.per_second)
        )
    if result.paced:
        rows.append(_row("conversation, paced (LLM)", result.paced, result.paced.per_second))
    print_table(rows)
    print(
        f"conversations / no-op: {figures['ratio']}   conversations {verdict.conversations}"
        f" (warm-up included), answered once {verdict.answered_once}, repeated sends"
        f" {verdict.repeated_sends}, stale {verdict.stale_replies}, hand-offs {verdict.handoffs},"
        f" LLM replies {verdict.llm_replies}, cache hits {verdict.cache_hits},"
        f" dead letters {verdict.dead_letters}"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000, help="in the burst (N)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--web-workers", type=int, default=2, help="web server processes")
    parser.add_argument("--concurrency", type=int, default=8, help="threads POSTing webhooks")
    parser.add_argument("--llm-latency-ms", type=int, default=0, help="added to every LLM call")
    parser.add_argument(
        "--cached-conversations", type=int, default=200, help="FAQ repeats (0: skip the phase)"
    )
    parser.add_argument(
        "--paced-fraction", type=float, default=0.5, help="paced rate, as a fraction of the burst's"
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=5.0, help="length of the paced phase (0: skip it)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per phase, in seconds")
    args = parser.parse_args(argv)
    if min(args.conversations, args.processes, args.threads, args.concurrency) < 1:
        parser.error("--conversations, --processes, --threads and --concurrency must be >= 1")
    if args.web_workers < 1:
        parser.error("--web-workers must be at least 1")
    if args.llm_latency_ms < 0 or args.cached_conversations < 0:
        parser.error("--llm-latency-ms and --cached-conversations must not be negative")
    # SIGTERM (timeout, CI) must reach the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)

    with (
        database_url() as server_url,
        scratch_database(server_url) as url,
        tempfile.TemporaryDirectory(prefix="recado-bench-") as scratch,
    ):
        log = Path(scratch) / "workers.log"
        try:
            result = run(args, url, log)
        except BenchFailure as failure:
            print(f"bench: {failure}\n--- worker log (tail) ---\n{_tail(log)}", file=sys.stderr)
            return 1
    figures = report(args, server_url, result)
    for problem in result.verdict.problems:
        print(f"FAILED: {problem}")
    print(json.dumps(figures))
    return 1 if result.verdict.problems else 0


if __name__ == "__main__":
    sys.exit(main())
