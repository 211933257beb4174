-- Whole-history totals for /metrics (replies, hand-offs, closed conversations, resends, settled
-- dead letters), recounted by a worker every 30 s (actors/metrics.py) so that a scrape reads
-- one row however large those tables grow. One row at most.
CREATE TABLE metrics_snapshot (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    figures jsonb NOT NULL,
    refreshed_at timestamptz NOT NULL
);
