"""bench/admin.py runs end to end at a tiny scale: every page and the live stream measured, the
raw SELECT's rows on each page, every webhook's event on the stream, the JSON figures last."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = (
    "inbox", "inbox_needs_reply", "inbox_search", "conversation_short", "conversation_long",
    "dead_letters_phone", "dead_letters_id",
)  # fmt: skip
PER_PAGE = (
    "p50_ms", "p95_ms", "raw_p50_ms", "raw_p95_ms", "ratio_p50", "ratio_p95", "rows",
    "rows_shown", "errors",
)  # fmt: skip
LIVE = (
    "live_rate", "live_seconds", "live_posted", "live_per_s", "live_events", "live_missing",
    "live_webhook_errors", "live_p50_ms", "live_p95_ms", "live_max_ms", "live_p95_ok",
    "live_reconnects", "live_stored",
)  # fmt: skip
RUN = (
    "bench", "messages", "conversations", "tenant_messages", "tenant_conversations",
    "dead_letters", "long_conversation_messages", "short_conversation_messages", "samples",
    "cpu_count", "load_seconds", "missing", "list_p95_ok", "conversation_p95_ok",
)  # fmt: skip


def test_admin_bench_measures_every_page_and_the_live_stream_and_prints_figures_last() -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.admin", "--messages", "2000", "--conversations", "100",
            "--dead-letters", "50", "--samples", "3", "--rate", "20", "--live-seconds", "1",
            "--web-workers", "1", "--threads", "4", "--timeout", "60",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {*RUN, *LIVE, *(f"{page}_{key}" for page in PAGES for key in PER_PAGE)}
    assert set(figures) == expected
    assert figures["bench"] == "admin"
    assert figures["missing"] == []
    # Both tenants' rows: the measured one's 2,000 messages and the other's tenth.
    assert figures["tenant_messages"] == 2000
    assert figures["messages"] == 2200
    assert figures["conversations"] == 110
    assert figures["short_conversation_messages"] == 20
    for page in PAGES:
        assert figures[f"{page}_errors"] == 0, page
        assert figures[f"{page}_rows"] > 0, page
        assert figures[f"{page}_rows_shown"] == figures[f"{page}_rows"], page
    assert figures["live_posted"] == 20
    assert figures["live_events"] == 20
    assert figures["live_missing"] == figures["live_webhook_errors"] == 0
    assert "webhook -> SSE event" in done.stdout
