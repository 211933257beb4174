"""bench/delivery.py runs end to end (briefly): every message sent once, JSON figures last."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "messages", "processes", "threads", "sends_per_s", "burst_pending_to_sent_p50_ms",
    "burst_pending_to_sent_p99_ms", "noop_per_s", "noop_burst_p50_ms", "noop_burst_p99_ms",
    "sends_vs_noop", "paced_messages", "paced_per_s", "paced_pending_to_sent_p50_ms",
    "paced_pending_to_sent_p99_ms", "outbox_rows", "sent", "simulator_accepted",
    "distinct_callback_data", "resends", "dead_letters",
}  # fmt: skip


def test_delivery_bench_sends_each_message_once_and_prints_figures_last() -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.delivery", "--messages", "40", "--processes", "1",
            "--threads", "2", "--paced-seconds", "0.5", "--timeout", "60",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures.keys() >= FIGURES
    assert figures["messages"] == 40
    assert figures["sends_per_s"] > 0 and figures["noop_per_s"] > 0
    assert figures["paced_messages"] >= 1
    # Warm-up, burst and paced messages: each accepted exactly once by the simulator.
    assert figures["sent"] == figures["outbox_rows"] == figures["simulator_accepted"]
    assert figures["distinct_callback_data"] == figures["outbox_rows"]
    assert figures["resends"] == figures["dead_letters"] == 0
    assert "sends / no-op" in done.stdout
