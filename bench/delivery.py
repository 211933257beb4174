"""Outbound delivery throughput and latency beside the raw no-op actor rate, in one run.

    python -m bench.delivery [--messages 2000] [--processes 2] [--threads 8]

Creates a scratch database on DATABASE_URL's server (or the embedded one), starts the Graph API
simulator on 127.0.0.1 (no added latency, no status webhooks) and `--processes` worker processes
(`python -m actors.worker --threads T --import bench.delivery`), then, on that one broker:
  no-op   N jobs of an actor that does nothing, committed at once on the `send` queue
  burst   N outbox rows with their send_message jobs, committed at once, one recipient each
  paced   send_message at a fraction of the burst rate, one outbox row per transaction as replies
          are made; pending -> sent there is the pipeline's latency when it is not saturated
The tenant's per-number pacing is raised to 100,000/s so the pipeline is measured, not Meta's
default 80/s. At the end every outbox row must be `sent`, each accepted exactly once by the
simulator (one log entry per row, distinct callback data, same wamid); otherwise it exits 1.
The last line printed is one JSON object with the figures (README: Benchmarks).
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import psycopg
from psycopg import Connection

from actors.steps import step
from bench.ingest import Measure, _raise_interrupt, one_row, scratch_database
from db.conversations import live_conversation, upsert_contact
from db.pool import connect_kwargs
from db.queue import enqueue as insert_jobs
from db.tenants import create_tenant
from domain.outbox import callback_data
from domain.tenant_settings import MAX_BURST, MAX_PER_SECOND
from ops.database import database_url, describe
from ops.processes import _die_with_parent, stop
from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute

TENANT = "bench"
PHONE_NUMBER_ID = "100000000000098"
CHANNEL = "whatsapp"
# The send step's queue: the no-op jobs wait in the same queue, behind the same consumers.
QUEUE = "send"
NOOP_ACTOR = "bench_noop"
# The most a tenant may set: far above what two cores send, so pacing never holds a send here.
NUMBER_RATE = {"per_second": MAX_PER_SECOND, "burst": MAX_BURST}
POLL_SECONDS = 0.05
# Workers that are not up by then will not be.
START_TIMEOUT_SECONDS = 60.0
LOG_TAIL_LINES = 40


def _declare_noop_actor() -> None:
    @step(actor_name=NOOP_ACTOR, queue_name=QUEUE, max_retries=0)
    def bench_noop() -> None:
        """Nothing: what the broker, the worker and the step journal cost per message."""


# A worker imports this module (`--import bench.delivery`) before it binds its steps to the
# app's broker: the no-op actor joins them there. The bench process itself runs as __main__
# and builds the no-op messages by name, so it declares nothing.
if __name__ != "__main__":
    _declare_noop_actor()


@dataclass(frozen=True)
class Verdict:
    rows: int
    sent: int
    failed: int
    distinct_wamids: int
    resends: int
    send_jobs: int
    dead_letters: int
    simulator_accepted: int
    distinct_callback_data: int
    callback_data_match: bool
    wamids_match: bool
    noop_jobs: int
    noop_done: int

    @property
    def problems(self) -> list[str]:
        found = []
        if self.sent != self.rows:
            found.append(f"{self.rows - self.sent} of {self.rows} outbox rows not sent")
        if self.simulator_accepted != self.rows:
            found.append(f"simulator accepted {self.simulator_accepted} sends for {self.rows} rows")
        if self.distinct_callback_data != self.simulator_accepted:
            found.append(
                f"{self.simulator_accepted - self.distinct_callback_data} sends repeated"
                " a callback data"
            )
        if not self.callback_data_match:
            found.append("the simulator's callback data are not exactly our outbox ids")
        if not self.wamids_match or self.distinct_wamids != self.rows:
            found.append("recorded wamids differ from the simulator's")
        if self.dead_letters:
            found.append(f"{self.dead_letters} dead letters")
        if self.noop_done != self.noop_jobs:
            found.append(f"{self.noop_jobs - self.noop_done} of {self.noop_jobs} no-op jobs undone")
        return found


class BenchFailure(Exception):
    """The run could not be measured; the message says why."""


def worker_env(url: str, api_base_url: str, redis_url: str | None) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": url, "WHATSAPP_API_BASE_URL": api_base_url}
    # Only 127.0.0.1 traffic: no error reports leave the machine, no shared Redis is touched.
    for key in ("SENTRY_DSN", "REDIS_URL"):
        env.pop(key, None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextmanager
def workers(processes: int, threads: int, env: Mapping[str, str], log: Path) -> Iterator[None]:
    """Worker processes logging to `log`, stopped (and their groups killed) on exit."""
    argv = [
        sys.executable, "-m", "actors.worker",
        "--threads", str(threads), "--import", "bench.delivery",
    ]  # fmt: skip
    procs: dict[str, subprocess.Popen] = {}
    with log.open("ab") as out:
        try:
            for i in range(processes):
                # As ops.processes.spawn, with the output in a file: a line per send would
                # bury the figures.
                procs[f"worker {i + 1}"] = subprocess.Popen(
                    argv,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            wait_started(procs, log, processes)
            yield
        finally:
            stop(procs, grace=15)


def wait_started(procs: Mapping[str, subprocess.Popen], log: Path, expected: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while log.read_text(errors="replace").count("Worker started:") < expected:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise BenchFailure(f"{name} exited with code {proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise BenchFailure(f"workers not started within {START_TIMEOUT_SECONDS:g} s")
        time.sleep(POLL_SECONDS)


def create_recipients(conn: Connection, tenant_id: int, count: int) -> list[int]:
    """One contact and open conversation per future message (24-hour window open)."""
    now = datetime.now(UTC)
    conversations = []
    for i in range(count):
        wa_id = f"1555{i:08d}"
        contact = upsert_contact(
            conn, tenant_id=tenant_id, channel=CHANNEL, channel_user_id=wa_id,
            phone_e164=f"+{wa_id}", profile_name=f"Bench {i}",
        )  # fmt: skip
        conversations.append(
            live_conversation(
                conn, tenant_id=tenant_id, contact_id=contact, channel=CHANNEL, inbound_at=now
            ).id
        )
    conn.commit()
    return conversations


def commit_time(conn: Connection) -> datetime:
    """Right after a commit: when its rows and jobs became visible to the workers."""
    conn.commit()
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    conn.commit()
    assert row is not None
    return row[0]


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise BenchFailure(f"{what}: not done within {timeout:g} s")
        time.sleep(POLL_SECONDS)


# --- the no-op burst ---------------------------------------------------------------------------

# The step journal's finish time: written as the actor returns, whereas the broker row is marked
# done when its consumer thread next handles acks (up to a second later when the queue is idle).
_NOOP_RUNS = """
SELECT outcome, extract(epoch FROM finished_at - %s)::float8 FROM step_runs
WHERE message_id = ANY(%s)
"""


def noop_burst(conn: Connection, count: int, timeout: float) -> Measure:
    jobs = [
        json.loads(dramatiq.Message(QUEUE, NOOP_ACTOR, (), {}, {}).encode()) for _ in range(count)
    ]
    ids = [uuid.UUID(job["message_id"]) for job in jobs]
    insert_jobs(conn, jobs)
    started = commit_time(conn)
    runs: list[tuple[str, float]] = []

    def done() -> bool:
        runs[:] = conn.execute(_NOOP_RUNS, (started, ids)).fetchall()
        conn.commit()
        failed = sum(1 for outcome, _ in runs if outcome != "ok")
        if failed:
            raise BenchFailure(f"{failed} no-op jobs failed")
        return len(runs) >= count

    wait_until(done, timeout, f"{count} no-op jobs")
    finished = [seconds for _, seconds in runs]
    return Measure(len(finished), count - len(finished), max(finished, default=0.0), finished)


# --- send_message ------------------------------------------------------------------------------

_UNSENT = """
SELECT count(*) FILTER (WHERE delivery_status IN ('pending', 'sending')),
       count(*) FILTER (WHERE delivery_status = 'failed')
FROM messages WHERE id = ANY(%s)
"""
_BURST_LATENCY = """
SELECT extract(epoch FROM sent_at - %s)::float8 FROM messages
WHERE id = ANY(%s) AND delivery_status = 'sent'
"""
_PACED_LATENCY = """
SELECT extract(epoch FROM sent_at - created_at)::float8 FROM messages
WHERE id = ANY(%s) AND delivery_status = 'sent'
"""


def reply(
    queue_outbound: Callable[..., int],
    conn: Connection,
    tenant_id: int,
    conversation: int,
    text: str,
) -> int:
    """One text reply in the outbox with its send_message job, on `conn`'s transaction."""
    return queue_outbound(
        conn,
        tenant_id=tenant_id,
        conversation_id=conversation,
        channel=CHANNEL,
        type="text",
        text=text,
    )


def wait_sent(conn: Connection, ids: list[int], timeout: float) -> None:
    def done() -> bool:
        row = conn.execute(_UNSENT, (ids,)).fetchone()
        conn.commit()
        assert row is not None
        if row[1]:
            raise BenchFailure(f"{row[1]} messages failed (see the worker log)")
        return row[0] == 0

    wait_until(done, timeout, f"{len(ids)} sends")


def send_burst(
    conn: Connection,
    queue_outbound: Callable[..., int],
    tenant_id: int,
    conversations: list[int],
    timeout: float,
) -> Measure:
    text = "Your appointment is confirmed for Friday at 10:00."
    ids = [reply(queue_outbound, conn, tenant_id, c, text) for c in conversations]
    started = commit_time(conn)
    wait_sent(conn, ids, timeout)
    latencies = [r[0] for r in conn.execute(_BURST_LATENCY, (started, ids)).fetchall()]
    conn.commit()
    return Measure(
        len(latencies), len(ids) - len(latencies), max(latencies, default=0.0), latencies
    )


def send_paced(
    conn: Connection,
    queue_outbound: Callable[..., int],
    tenant_id: int,
    conversations: list[int],
    rate: float,
    timeout: float,
) -> tuple[Measure, float]:
    """Open loop: message k is committed at k / rate s (or as soon after as the producer can).

    Returns the sends and the rate actually offered.
    """
    ids = []
    started = time.perf_counter()
    for k, conversation in enumerate(conversations):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        text = "Thanks! A colleague will call you back today."
        ids.append(reply(queue_outbound, conn, tenant_id, conversation, text))
        conn.commit()
    offered = time.perf_counter() - started
    wait_sent(conn, ids, timeout)
    latencies = [r[0] for r in conn.execute(_PACED_LATENCY, (ids,)).fetchall()]
    conn.commit()
    # Its rate is the offered one: the workers kept up (or the latencies say they did not).
    measure = Measure(len(latencies), len(ids) - len(latencies), offered, latencies)
    return measure, len(ids) / offered if offered else 0.0


def verify(conn: Connection, simulator: GraphApiSimulator, noop_jobs: int) -> Verdict:
    """Every outbox row sent once: one simulator log entry each, with its own callback data."""
    rows = conn.execute(
        "SELECT id, delivery_status, provider_message_id, resends FROM messages"
        " WHERE direction = 'out'"
    ).fetchall()
    (send_jobs,) = one_row(
        conn, "SELECT count(*) FROM dramatiq.queue WHERE message->>'actor_name' = 'send_message'"
    )
    (noop_done,) = one_row(
        conn, "SELECT count(*) FROM step_runs WHERE actor = %s AND outcome = 'ok'", (NOOP_ACTOR,)
    )
    (dead_letters,) = one_row(conn, "SELECT count(*) FROM dead_letters")
    conn.commit()
    log = simulator.sent()
    wamids = {r[2] for r in rows if r[2] is not None}
    return Verdict(
        rows=len(rows),
        sent=sum(1 for r in rows if r[1] == "sent"),
        failed=sum(1 for r in rows if r[1] == "failed"),
        distinct_wamids=len(wamids),
        resends=sum(r[3] for r in rows),
        send_jobs=send_jobs,
        dead_letters=dead_letters,
        simulator_accepted=len(log),
        distinct_callback_data=len({s.callback_data for s in log}),
        callback_data_match={s.callback_data for s in log} == {callback_data(r[0]) for r in rows},
        wamids_match={s.wamid for s in log} == wamids,
        noop_jobs=noop_jobs,
        noop_done=noop_done,
    )


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def _row(name: str, m: Measure, per_second: float) -> tuple[str, ...]:
    return (
        name,
        str(m.count),
        f"{per_second:,.0f}",
        f"{m.percentile_ms(50):.1f}",
        f"{m.percentile_ms(99):.1f}",
        str(m.errors),
    )


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="per burst (N)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument(
        "--paced-fraction", type=float, default=0.5, help="paced rate, as a fraction of the burst's"
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=5.0, help="length of the paced phase (0: skip it)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="per phase, in seconds")
    parser.add_argument("--redis-url", help="keep pacing state in this Redis (default: PostgreSQL)")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.processes < 1 or args.threads < 1:
        parser.error("--messages, --processes and --threads must be at least 1")
    # SIGTERM (timeout, CI) must reach the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)

    warm_up = args.processes * args.threads * 2
    with (
        database_url() as server_url,
        scratch_database(server_url) as url,
        tempfile.TemporaryDirectory(prefix="recado-bench-") as scratch,
    ):
        log = Path(scratch) / "workers.log"
        try:
            result = run(args, url, warm_up, log)
        except BenchFailure as failure:
            print(f"bench: {failure}\n--- worker log (tail) ---\n{_tail(log)}", file=sys.stderr)
            return 1
    noop, burst, paced, paced_rate, verdict, simulator_url = result
    sends_per_s, noop_per_s = burst.per_second, noop.per_second
    figures = {
        "messages": args.messages,
        "processes": args.processes,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "number_rate_per_s": NUMBER_RATE["per_second"],
        "pacing_state": "redis" if args.redis_url else "postgresql",
        "sends_per_s": round(sends_per_s, 1),
        "burst_pending_to_sent_p50_ms": round(burst.percentile_ms(50), 1),
        "burst_pending_to_sent_p99_ms": round(burst.percentile_ms(99), 1),
        "noop_per_s": round(noop_per_s, 1),
        "noop_burst_p50_ms": round(noop.percentile_ms(50), 1),
        "noop_burst_p99_ms": round(noop.percentile_ms(99), 1),
        "sends_vs_noop": round(sends_per_s / noop_per_s, 3) if noop_per_s else None,
        "paced_messages": paced.count if paced else 0,
        "paced_per_s": round(paced_rate, 1) if paced else None,
        "paced_pending_to_sent_p50_ms": round(paced.percentile_ms(50), 1) if paced else None,
        "paced_pending_to_sent_p99_ms": round(paced.percentile_ms(99), 1) if paced else None,
        "warm_up_messages": warm_up,
        "outbox_rows": verdict.rows,
        "sent": verdict.sent,
        "simulator_accepted": verdict.simulator_accepted,
        "distinct_callback_data": verdict.distinct_callback_data,
        "resends": verdict.resends,
        "send_jobs": verdict.send_jobs,
        "dead_letters": verdict.dead_letters,
    }
    print(
        f"recado delivery benchmark: N = {args.messages} per burst, workers"
        f" {args.processes}x{args.threads} (python -m actors.worker), {os.cpu_count()} CPUs,"
        f" PostgreSQL {describe(server_url)}"
    )
    print(
        f"Graph API simulator {simulator_url}: no added latency, no status webhooks."
        f" One recipient per message; per-number pacing raised to"
        f" {NUMBER_RATE['per_second']:,}/s (burst {NUMBER_RATE['burst']:,}), state in"
        f" {'Redis' if args.redis_url else 'PostgreSQL'}."
    )
    rows = [
        ("measure", "count", "per s", "p50 ms", "p99 ms", "errors"),
        _row("no-op actor, burst of N (commit -> run)", noop, noop_per_s),
        _row("send_message, burst of N (commit -> sent)", burst, sends_per_s),
    ]
    if paced:
        rows.append(_row("send_message, paced (created -> sent)", paced, paced_rate))
    print_table(rows)
    print(
        f"sends / no-op: {figures['sends_vs_noop']}   outbox rows {verdict.rows}, sent"
        f" {verdict.sent}, simulator accepted {verdict.simulator_accepted} with"
        f" {verdict.distinct_callback_data} distinct callback data, resends {verdict.resends},"
        f" dead letters {verdict.dead_letters}"
    )
    for problem in verdict.problems:
        print(f"FAILED: {problem}")
    print(json.dumps(figures))
    return 1 if verdict.problems else 0


def run(
    args: argparse.Namespace, url: str, warm_up: int, log: Path
) -> tuple[Measure, Measure, Measure | None, float, Verdict, str]:
    secret, token = secrets.token_hex(16), secrets.token_hex(16)
    # Statuses are off: the webhook URL is never called.
    route = TenantRoute("http://127.0.0.1:9/unused", secret, token)
    config = SimulatorConfig(routes={PHONE_NUMBER_ID: route}, send_statuses=False, latency_ms=0)
    paced_most = args.messages if args.paced_seconds > 0 else 0
    with (
        GraphApiSimulator(config) as simulator,
        psycopg.connect(url, **connect_kwargs("recado-bench")) as conn,
    ):
        tenant = create_tenant(
            conn, slug=TENANT, name="Bench", wa_phone_number_id=PHONE_NUMBER_ID,
            wa_app_secret=secret, wa_verify_token=secrets.token_hex(8), wa_access_token=token,
            settings={"pacing": {"number": NUMBER_RATE}},
        )  # fmt: skip
        conversations = create_recipients(conn, tenant.id, warm_up + args.messages + paced_most)
        # It builds send_message jobs, written on `conn`: no broker, no settings needed.
        from actors.send import queue_outbound

        env = worker_env(url, f"{simulator.url}/v24.0", args.redis_url)
        with workers(args.processes, args.threads, env, log):
            # Pools filled, HTTP connections open, code paths imported, pacing rows created.
            noop_burst(conn, warm_up, args.timeout)
            send_burst(conn, queue_outbound, tenant.id, conversations[:warm_up], args.timeout)
            first = warm_up + args.messages
            noop = noop_burst(conn, args.messages, args.timeout)
            burst = send_burst(
                conn, queue_outbound, tenant.id, conversations[warm_up:first], args.timeout
            )
            paced, paced_rate = None, 0.0
            if paced_most:
                rate = max(1.0, burst.per_second * args.paced_fraction)
                count = max(1, min(paced_most, round(rate * args.paced_seconds)))
                paced, paced_rate = send_paced(
                    conn, queue_outbound, tenant.id, conversations[first : first + count],
                    rate, args.timeout,
                )  # fmt: skip
        # Workers stopped: nothing can send any more, the log is final.
        verdict = verify(conn, simulator, noop_jobs=warm_up + args.messages)
        return noop, burst, paced, paced_rate, verdict, simulator.url


if __name__ == "__main__":
    sys.exit(main())
