"""Process-wide resources for step code: the settings (read once) and a lazily opened pool."""

import os
import threading

from psycopg_pool import ConnectionPool

from db.pool import make_pool
from domain.settings import Settings

settings = Settings.from_env(os.environ)

_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def pool() -> ConnectionPool:
    """The worker's connection pool, opened on first use (after fork, never before)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                # Sized for dramatiq's default 8 worker threads plus the middleware.
                _pool = make_pool(
                    settings.database_url, application_name="recado-worker", max_size=12, timeout=10
                )
    return _pool
