"""bench/conversation.py runs end to end (briefly): every conversation answered once, by the path
its phase was meant to take, with the JSON figures last."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATES = {
    "e2e_p50_ms", "e2e_p99_ms", "e2e_max_ms", "conversations_per_s", "noop_actor_per_s", "ratio",
    "cached_per_s", "cached_e2e_p50_ms", "cached_e2e_p99_ms", "paced_per_s", "paced_e2e_p50_ms",
    "paced_e2e_p99_ms",
}  # fmt: skip


def test_conversation_bench_answers_each_conversation_once_and_prints_figures_last() -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.conversation", "--conversations", "40",
            "--processes", "1", "--threads", "4", "--web-workers", "1",
            "--concurrency", "4", "--cached-conversations", "10", "--paced-seconds", "0.5",
            "--timeout", "60",
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
    assert figures["bench"] == "conversation"
    assert figures["conversations"] == 40
    for name in RATES:
        assert figures[name] > 0, name
    assert figures["cached_conversations"] == 10
    assert figures["paced_conversations"] >= 1
    # Warm-up (1 x 4 x 2), burst, the answer that fills the cache, its repeats, paced.
    total = 8 + 40 + 1 + 10 + figures["paced_conversations"]
    assert figures["all_conversations"] == total
    assert figures["sent_once"] is True
    assert figures["unanswered"] == figures["repeated_sends"] == 0
    assert figures["stale_replies"] == figures["duplicate_replies"] == figures["handoffs"] == 0
    assert figures["dead_letters"] == 0
    # Every personal question went to the model; every FAQ repeat came from the cache.
    assert figures["llm_replies"] == total - 1 - 10
    assert figures["llm_chat_calls"] >= total - 10
    assert figures["cache_hits"] == 10
    assert "conversations / no-op" in done.stdout
