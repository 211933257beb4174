"""Every load figure in one table, each beside its raw baseline measured in the same run.

    python -m bench.run_all [--quick]

Runs, one after another, each as its own process whose last line is its JSON figures:
  ingest         bench.ingest: webhook POSTs beside INSERT+COMMIT and a no-op GET
  delivery       bench.delivery: send_message beside the no-op actor
  conversation   bench.conversation: webhook -> assistant (LLM simulator) -> sent, beside the
                 no-op actor
  processes 1/2/4  bench.delivery with 1, 2 and 4 worker processes (smaller N, no paced phase)
  prefill        bench.scaling prefill: ingest on an empty database vs with 1,000,000 messages
  rss            bench.scaling rss: a worker's VmRSS at start and after 100,000 no-op jobs
  health         bench.health: /readyz, /metrics and webhooks under scraping at 0 and at
                 5,000,000 finished broker rows, beside SELECT 1
`--quick` scales every step down to a smoke run. A step that exits non-zero (its own checks:
every message stored, sent or answered exactly once) fails the run. The last line printed is
one JSON object with all figures, the checks and each step's duration (docs/PERFORMANCE.md).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROCESS_COUNTS = (1, 2, 4)
OUTPUT_TAIL_LINES = 30


@dataclass(frozen=True)
class Step:
    name: str
    module: str
    args: tuple[str, ...]


def steps(quick: bool) -> list[Step]:
    if quick:
        ingest = ("--seconds", "0.5", "--concurrency", "2")
        delivery = ("--messages", "40", "--processes", "1", "--threads", "2")
        delivery += ("--paced-seconds", "0.5", "--timeout", "60")
        conversation = ("--conversations", "30", "--processes", "1", "--threads", "4")
        conversation += ("--web-workers", "1", "--concurrency", "4")
        conversation += ("--cached-conversations", "5", "--paced-seconds", "0.5")
        conversation += ("--timeout", "60")
        scaled = ("--messages", "30", "--threads", "2", "--paced-seconds", "0", "--timeout", "60")
        prefill = ("prefill", "--messages", "5000", "--seconds", "0.5", "--concurrency", "2")
        prefill += ("--web-workers", "1")
        rss = ("rss", "--jobs", "600", "--batch", "200", "--threads", "2")
        health = ("--rows", "20000", "--seconds", "0.5", "--concurrency", "4")
        health += ("--web-workers", "1")
    else:
        ingest = delivery = conversation = health = ()
        scaled = ("--messages", "1000", "--threads", "8", "--paced-seconds", "0")
        prefill = ("prefill",)
        rss = ("rss",)
    return [
        Step("ingest", "bench.ingest", ingest),
        Step("delivery", "bench.delivery", delivery),
        Step("conversation", "bench.conversation", conversation),
        *(
            Step(f"processes_{n}", "bench.delivery", (*scaled, "--processes", str(n)))
            for n in PROCESS_COUNTS
        ),
        Step("prefill", "bench.scaling", prefill),
        Step("rss", "bench.scaling", rss),
        Step("health", "bench.health", health),
    ]


@dataclass(frozen=True)
class Outcome:
    figures: dict
    passed: bool
    seconds: float


def run_step(step: Step, timeout: float) -> Outcome:
    argv = [sys.executable, "-m", step.module, *step.args]
    print(f"run_all: {step.name}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        output, code = done.stdout, done.returncode
        errors = done.stderr
    except subprocess.TimeoutExpired as expired:
        output, code = _text(expired.stdout), None
        errors = f"{_text(expired.stderr)}\ntimed out after {timeout:g} s"
    seconds = time.perf_counter() - started
    figures = last_json(output)
    passed = code == 0 and figures is not None
    if not passed:
        tail = "\n".join((output + errors).splitlines()[-OUTPUT_TAIL_LINES:])
        print(f"run_all: {step.name} FAILED (exit {code})\n{tail}", file=sys.stderr, flush=True)
    return Outcome(figures or {}, passed, seconds)


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def last_json(output: str) -> dict | None:
    lines = output.strip().splitlines()
    if not lines:
        return None
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return figures if isinstance(figures, dict) else None


def ratio(value: object, baseline: object) -> float | None:
    if isinstance(value, int | float) and isinstance(baseline, int | float) and baseline:
        return round(value / baseline, 3)
    return None


def collect(outcomes: dict[str, Outcome]) -> dict[str, object]:
    """The flat figures of the whole run, named by step."""

    def get(step: str, key: str) -> object:
        return outcomes[step].figures.get(key)

    figures: dict[str, object] = {
        "ingest_webhook_rps": get("ingest", "webhook_rps"),
        "ingest_webhook_p50_ms": get("ingest", "webhook_p50_ms"),
        "ingest_webhook_p99_ms": get("ingest", "webhook_p99_ms"),
        "ingest_insert_tps": get("ingest", "insert_tps"),
        "ingest_noop_get_rps": get("ingest", "noop_rps"),
        "ingest_vs_insert": get("ingest", "webhook_vs_insert"),
        "delivery_sends_per_s": get("delivery", "sends_per_s"),
        "delivery_noop_per_s": get("delivery", "noop_per_s"),
        "delivery_vs_noop": get("delivery", "sends_vs_noop"),
        "delivery_paced_p50_ms": get("delivery", "paced_pending_to_sent_p50_ms"),
        "delivery_paced_p99_ms": get("delivery", "paced_pending_to_sent_p99_ms"),
        "conversations_per_s": get("conversation", "conversations_per_s"),
        "conversation_noop_per_s": get("conversation", "noop_actor_per_s"),
        "conversation_vs_noop": get("conversation", "ratio"),
        "conversation_e2e_p50_ms": get("conversation", "e2e_p50_ms"),
        "conversation_e2e_p99_ms": get("conversation", "e2e_p99_ms"),
        "conversation_cached_per_s": get("conversation", "cached_per_s"),
        "conversation_paced_e2e_p50_ms": get("conversation", "paced_e2e_p50_ms"),
        "conversation_paced_e2e_p99_ms": get("conversation", "paced_e2e_p99_ms"),
    }
    for n in PROCESS_COUNTS:
        step = f"processes_{n}"
        figures[f"sends_per_s_{n}_processes"] = get(step, "sends_per_s")
        figures[f"noop_per_s_{n}_processes"] = get(step, "noop_per_s")
        figures[f"sends_vs_noop_{n}_processes"] = get(step, "sends_vs_noop")
    figures["sends_4_vs_1_processes"] = ratio(
        figures["sends_per_s_4_processes"], figures["sends_per_s_1_processes"]
    )
    figures.update(
        {
            "prefill_messages": get("prefill", "prefill_messages"),
            "prefill_seconds": get("prefill", "prefill_seconds"),
            "empty_webhook_rps": get("prefill", "empty_webhook_rps"),
            "empty_insert_tps": get("prefill", "empty_insert_tps"),
            "prefilled_webhook_rps": get("prefill", "prefilled_webhook_rps"),
            "prefilled_insert_tps": get("prefill", "prefilled_insert_tps"),
            "prefilled_webhook_p99_ms": get("prefill", "prefilled_webhook_p99_ms"),
            "empty_webhook_p99_ms": get("prefill", "empty_webhook_p99_ms"),
            "prefilled_vs_empty": get("prefill", "prefilled_vs_empty"),
            "rss_jobs": get("rss", "jobs"),
            "rss_start_kib": get("rss", "rss_start_kib"),
            "rss_end_kib": get("rss", "rss_end_kib"),
            "rss_peak_kib": get("rss", "rss_peak_kib"),
            "rss_growth_kib": get("rss", "rss_growth_kib"),
            "rss_growth_after_first_batch_kib": get("rss", "rss_growth_after_first_batch_kib"),
            "rss_noop_per_s": get("rss", "noop_per_s"),
            "health_rows": get("health", "rows"),
            "health_select1_p50_ms": get("health", "full_select1_p50_ms"),
            "health_readyz_p50_ms_empty": get("health", "empty_readyz_p50_ms"),
            "health_readyz_p50_ms_full": get("health", "full_readyz_p50_ms"),
            "health_metrics_p50_ms_empty": get("health", "empty_metrics_p50_ms"),
            "health_metrics_p50_ms_full": get("health", "full_metrics_p50_ms"),
            "health_webhook_p99_ms_full": get("health", "full_webhook_p99_ms"),
            "health_webhook_scraped_p99_ms_full": get("health", "full_webhook_scraped_p99_ms"),
        }
    )
    return figures


def _number(value: object, unit: str = "") -> str:
    if not isinstance(value, int | float):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text}{unit}"


def table(figures: dict[str, object]) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, baseline, baseline value, ratio) rows."""
    f = figures

    def row(
        name: str, key: str, baseline: str, base_key: str | None, unit: str = "/s"
    ) -> tuple[str, str, str, str, str]:
        base = f.get(base_key) if base_key else None
        return (
            name,
            _number(f.get(key), unit),
            baseline,
            _number(base, unit) if base_key else "",
            _number(ratio(f.get(key), base)) if base_key else "",
        )

    rows = [
        row("webhook ingest (POST, 1 message)", "ingest_webhook_rps",
            "INSERT+COMMIT", "ingest_insert_tps"),
        row("webhook ingest p99", "ingest_webhook_p99_ms", "", None, " ms"),
        row("send_message (burst)", "delivery_sends_per_s", "no-op actor", "delivery_noop_per_s"),
        row("conversation end to end (LLM sim.)", "conversations_per_s",
            "no-op actor", "conversation_noop_per_s"),
        row("conversation p50 (burst)", "conversation_e2e_p50_ms", "", None, " ms"),
        row("conversation p99 (burst)", "conversation_e2e_p99_ms", "", None, " ms"),
        row("conversation p99 (paced)", "conversation_paced_e2e_p99_ms", "", None, " ms"),
        row("conversation from answer cache", "conversation_cached_per_s",
            "no-op actor", "conversation_noop_per_s"),
    ]  # fmt: skip
    for n in PROCESS_COUNTS:
        rows.append(
            row(f"send_message, {n} worker process(es)", f"sends_per_s_{n}_processes",
                f"no-op actor, {n} proc.", f"noop_per_s_{n}_processes")
        )  # fmt: skip
    rows += [
        row("send_message, 4 vs 1 processes", "sends_per_s_4_processes",
            "1 process", "sends_per_s_1_processes"),
        row("webhook ingest, empty database", "empty_webhook_rps",
            "INSERT+COMMIT", "empty_insert_tps"),
        row(f"webhook ingest, {_number(f.get('prefill_messages'))} stored",
            "prefilled_webhook_rps", "INSERT+COMMIT", "prefilled_insert_tps"),
        row("webhook ingest, stored vs empty", "prefilled_webhook_rps",
            "empty database", "empty_webhook_rps"),
        row(f"worker RSS after {_number(f.get('rss_jobs'))} no-op jobs", "rss_end_kib",
            "RSS at start", "rss_start_kib", " KiB"),
        row(f"GET /metrics p50, {_number(f.get('health_rows'))} finished rows",
            "health_metrics_p50_ms_full", "0 finished rows", "health_metrics_p50_ms_empty", " ms"),
        row(f"GET /readyz p50, {_number(f.get('health_rows'))} finished rows",
            "health_readyz_p50_ms_full", "0 finished rows", "health_readyz_p50_ms_empty", " ms"),
        row("GET /metrics p50, same rows", "health_metrics_p50_ms_full",
            "SELECT 1 p50", "health_select1_p50_ms", " ms"),
        row("webhook p99 while /metrics is scraped", "health_webhook_scraped_p99_ms_full",
            "not scraped", "health_webhook_p99_ms_full", " ms"),
    ]  # fmt: skip
    return rows


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    header = ("figure", "value", "baseline (same run)", "baseline", "ratio")
    every = [header, *rows]
    widths = [max(len(r[i]) for r in every) for i in range(len(header))]
    for r in every:
        print(
            "  ".join(
                c.ljust(w) if i in (0, 2) else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every step scaled down")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per step, in seconds")
    args = parser.parse_args(argv)

    load_before = _load()
    started = time.perf_counter()
    outcomes = {step.name: run_step(step, args.timeout) for step in steps(args.quick)}
    figures = collect(outcomes)
    checks = {name: outcome.passed for name, outcome in outcomes.items()}
    summary = {
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _load(),
        "seconds": round(time.perf_counter() - started, 1),
        "step_seconds": {name: round(o.seconds, 1) for name, o in outcomes.items()},
        "checks": checks,
        "figures": figures,
    }
    print(
        f"recado benchmarks{' (quick)' if args.quick else ''}: {os.cpu_count()} CPUs, load average"
        f" {load_before} before, {summary['load_average_after']} after, {summary['seconds']} s"
    )
    print_table(table(figures))
    print(
        "checks: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in checks.items())
    )
    print(json.dumps(summary))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
