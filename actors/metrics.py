"""A daemon thread in each worker process: recounts the whole-history totals /metrics serves.

Every worker process runs one; a transaction-level advisory lock and the snapshot's own age let
one process count per period however many run.
"""

import logging
import threading
from datetime import timedelta

import psycopg

from db import metrics_snapshot
from db.broker_queue import try_job_lock
from db.pool import connect, limit_statement_time
from domain.settings import Settings

logger = logging.getLogger(__name__)

METRICS_JOB_LOCK = 7_263_145_108
REFRESH_EVERY = timedelta(seconds=30)
# The counts scan whole tables: past this the snapshot ages (visible on /metrics) instead.
COUNT_TIME_LIMIT = timedelta(seconds=60)


class MetricsSnapshotter:
    def __init__(self, settings: Settings, *, every: timedelta = REFRESH_EVERY) -> None:
        self.settings = settings
        self.every = every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-snapshot", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        # First count at start: a new deployment has figures within seconds.
        while not self._stopping.is_set():
            try:
                self.refresh()
            except psycopg.Error as error:
                # The database may be restarting, or the count hit its time limit.
                logger.warning("Metrics snapshot failed, retrying: %s", error)
            except Exception:
                logger.exception("Metrics snapshot failed, retrying.")
            self._stopping.wait(self.every.total_seconds())

    def refresh(self) -> bool:
        """Count and save, unless another process holds the job or counted within the period."""
        # A connection per round, not held between them: most rounds take nothing, and idle
        # worker processes should not hold one more connection each.
        with (
            connect(
                self.settings.database_url, application_name="recado-metrics", autocommit=True
            ) as conn,
            conn.transaction(),
        ):
            if not try_job_lock(conn, METRICS_JOB_LOCK):
                return False
            # Another process's count within the period is as good as ours.
            if metrics_snapshot.is_fresh(conn, self.every * 0.9):
                return False
            limit_statement_time(conn, COUNT_TIME_LIMIT)
            metrics_snapshot.refresh(conn)
        return True
