"""The chaos run (bench/chaos.py, `recado chaos`): its message plan and schedule, and a reduced run
under faults, worker kills and a PostgreSQL crash that must end with zero violations."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos import chaos_schedule, plan_bursts

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 1000


@pytest.mark.parametrize(
    ("messages", "contacts", "burst_share"),
    [(1, 1, 0.0), (10, 3, 1.0), (1000, 100, 0.3), (7, 50, 0.5)],
)
def test_plan_covers_every_message_once_in_bursts_of_one_to_four(
    messages: int, contacts: int, burst_share: float
) -> None:
    bursts = plan_bursts(messages, contacts, burst_share, random.Random(7))

    inbound = [m for burst in bursts for m in burst]
    assert len(inbound) == messages
    assert len({m.wamid for m in inbound}) == messages
    assert all(1 <= len(burst) <= 4 for burst in bursts)
    assert all(len({m.wa_id for m in burst}) == 1 for burst in bursts)
    assert len({m.wa_id for m in inbound}) <= contacts
    if burst_share == 0.0:
        assert all(len(burst) == 1 for burst in bursts)


@pytest.mark.parametrize(("kills", "pg_restarts"), [(0, 0), (3, 1), (20, 2)])
def test_schedule_spreads_every_fault_over_the_feed(kills: int, pg_restarts: int) -> None:
    events = chaos_schedule(40.0, kills, pg_restarts, random.Random(3))

    assert [what for _, what in events].count("kill") == kills
    assert [what for _, what in events].count("pg") == pg_restarts
    assert all(0 < at < 40.0 for at, _ in events)
    assert [at for at, _ in events] == sorted(at for at, _ in events)


@pytest.mark.slow
def test_reduced_chaos_run_loses_and_repeats_nothing() -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "ops", "chaos", "--messages", str(MESSAGES),
            "--contacts", "100", "--rate", "25", "--kills", "3", "--pg-restarts", "1",
            "--drain-timeout", "150",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=420,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip

    # The seed is printed first: a failure can be replayed with --seed.
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["violations"] == 0
    assert figures["problems"] == {}
    assert figures["drained"] is True
    assert figures["lost"] == figures["duplicated"] == 0
    assert figures["acknowledged"] == figures["stored"] == MESSAGES
    # Every webhook was acknowledged three times: the two later copies were absorbed.
    assert figures["duplicates_delivered"] == 2 * MESSAGES
    assert figures["kills"] == figures["worker_restarts"] == 3
    assert figures["pg_restarts"] == 1
    assert figures["faults_injected"] > 0
    assert figures["queued_replies"] + figures["handoffs"] >= figures["conversations"]
    assert figures["dead_letters_after_requeue"] == 0
