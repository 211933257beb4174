"""bench/ingest.py runs end to end (briefly) and ends with its JSON figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "webhook_rps", "webhook_p50_ms", "webhook_p99_ms", "webhook_errors", "events_stored",
    "webhook_accepted_total", "noop_rps", "noop_p50_ms", "noop_p99_ms", "insert_tps",
    "insert_p50_ms", "insert_p99_ms", "webhook_vs_noop", "webhook_vs_insert", "concurrency",
}  # fmt: skip


def test_ingest_bench_prints_figures_last_and_cleans_up() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--seconds", "0.5", "--concurrency", "2"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures.keys() >= FIGURES
    assert figures["webhook_rps"] > 0
    assert figures["events_stored"] == figures["webhook_accepted_total"]
    assert "webhook / no-op" in done.stdout
