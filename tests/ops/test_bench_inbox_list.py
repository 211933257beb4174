"""bench/inbox_list.py runs end to end (small) and ends with its JSON figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_inbox_list_bench_prints_plans_and_figures_last() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.inbox_list", "--conversations", "300", "--runs", "3"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["loaded"]["messages"] > 300 * 20
    assert {"first_page", "page_21", "filter_mine", "search_text_common", "alerts"} <= set(
        figures["db"]
    )
    assert figures["page"]["first_page"]["p95_ms"] > 0
    assert "Index Scan Backward using conversations_inbox" in done.stdout
