"""The worker's metrics thread recounts whole-history totals once per period across processes."""

import os
import time
from datetime import timedelta

import psycopg

from actors.metrics import METRICS_JOB_LOCK, MetricsSnapshotter
from db.metrics_snapshot import read_snapshot
from domain.settings import Settings


def snapshot_rows(db: psycopg.Connection) -> list[tuple]:
    return db.execute("SELECT figures, refreshed_at FROM metrics_snapshot").fetchall()


def test_the_thread_counts_at_start_and_stops(db):
    snapshotter = MetricsSnapshotter(Settings.from_env(os.environ))
    snapshotter.start()
    try:
        deadline = time.monotonic() + 20
        while not snapshot_rows(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        snapshotter.stop()
    snapshot = read_snapshot(db)
    assert snapshot is not None
    assert snapshot.totals.handoffs == 0
    assert snapshot.totals.cache_lookups == {"hit_exact": 0, "hit_semantic": 0, "miss": 0}


def test_one_count_per_period_however_many_processes(db, tenant):
    settings = Settings.from_env(os.environ)
    first = MetricsSnapshotter(settings, every=timedelta(minutes=5))
    second = MetricsSnapshotter(settings, every=timedelta(minutes=5))
    assert first.refresh()
    assert not second.refresh()
    assert not first.refresh()
    db.execute("UPDATE metrics_snapshot SET refreshed_at = now() - interval '6 minutes'")
    assert second.refresh()
    # While one process counts, the others skip.
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (METRICS_JOB_LOCK,))
        db.execute("UPDATE metrics_snapshot SET refreshed_at = now() - interval '6 minutes'")
        assert not first.refresh()
    [(figures, _)] = snapshot_rows(db)
    assert figures["closed_conversations"] == 0
