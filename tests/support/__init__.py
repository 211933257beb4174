"""Helpers shared by tests: a private PostgreSQL cluster, test-only actors."""

# One row per run of a recording test actor (tests/support/load_actors.py).
LOAD_RUNS_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS load_runs (
    key text NOT NULL,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
