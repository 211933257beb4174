"""bench/run_all.py --quick runs every benchmark and prints one JSON object with all figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = {
    "ingest", "delivery", "conversation", "processes_1", "processes_2", "processes_4", "prefill",
    "rss", "health",
}  # fmt: skip
FIGURES = {
    "ingest_webhook_rps", "ingest_webhook_p50_ms", "ingest_webhook_p99_ms", "ingest_insert_tps",
    "ingest_noop_get_rps", "ingest_vs_insert", "delivery_sends_per_s", "delivery_noop_per_s",
    "delivery_vs_noop", "delivery_paced_p50_ms", "delivery_paced_p99_ms", "conversations_per_s",
    "conversation_noop_per_s", "conversation_vs_noop", "conversation_e2e_p50_ms",
    "conversation_e2e_p99_ms", "conversation_cached_per_s", "conversation_paced_e2e_p50_ms",
    "conversation_paced_e2e_p99_ms", "sends_per_s_1_processes", "noop_per_s_1_processes",
    "sends_vs_noop_1_processes", "sends_per_s_2_processes", "noop_per_s_2_processes",
    "sends_vs_noop_2_processes", "sends_per_s_4_processes", "noop_per_s_4_processes",
    "sends_vs_noop_4_processes", "sends_4_vs_1_processes", "prefill_messages",
    "empty_webhook_rps", "empty_insert_tps", "prefilled_webhook_rps", "prefilled_insert_tps",
    "prefilled_webhook_p99_ms", "empty_webhook_p99_ms", "prefilled_vs_empty", "rss_jobs",
    "rss_start_kib", "rss_end_kib", "rss_peak_kib", "rss_noop_per_s", "health_rows",
    "health_select1_p50_ms", "health_readyz_p50_ms_empty", "health_readyz_p50_ms_full",
    "health_metrics_p50_ms_empty", "health_metrics_p50_ms_full", "health_webhook_p99_ms_full",
    "health_webhook_scraped_p99_ms_full",
}  # fmt: skip


def test_run_all_quick_passes_every_check_and_reports_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--quick", "--timeout", "240"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["quick"] is True
    assert summary["checks"] == dict.fromkeys(STEPS, True)
    assert summary["step_seconds"].keys() == STEPS
    figures = summary["figures"]
    assert figures.keys() >= FIGURES
    for name in FIGURES:
        value = figures[name]
        assert isinstance(value, int | float) and value > 0, (name, value)
    assert figures["prefill_messages"] == 5000
    assert figures["rss_jobs"] == 600
    assert figures["health_rows"] == 20000
    # The table names each figure beside the baseline measured in the same run.
    assert "INSERT+COMMIT" in done.stdout and "no-op actor" in done.stdout
