-- The broker's queue table, in the shape dramatiq-pg 0.12 reads and writes
-- (tests/db/test_migrations.py compares it with the package's own schema).
CREATE SCHEMA IF NOT EXISTS dramatiq;

CREATE TYPE dramatiq.state AS ENUM ('queued', 'consumed', 'rejected', 'done');

CREATE TABLE dramatiq.queue (
    message_id uuid PRIMARY KEY,
    queue_name text NOT NULL DEFAULT 'default',
    "state" dramatiq.state,
    mtime timestamptz DEFAULT (now() AT TIME ZONE 'UTC'),
    message jsonb,
    "result" jsonb,
    result_ttl timestamptz
);

CREATE INDEX ON dramatiq.queue ("state", mtime);

-- Each message costs one INSERT and two non-HOT UPDATEs: vacuum this table early and often.
ALTER TABLE dramatiq.queue SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    fillfactor = 70
);
