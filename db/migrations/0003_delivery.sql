-- Sending: outbox bookkeeping, paused tenants, circuit breakers and pacing without Redis.

ALTER TABLE tenants
    ADD COLUMN sending_paused_at timestamptz,
    ADD COLUMN sending_paused_reason text;

ALTER TABLE messages
    ADD COLUMN send_attempts integer NOT NULL DEFAULT 0,
    -- When the latest attempt was claimed ('sending').
    ADD COLUMN send_started_at timestamptz,
    -- The latest attempt may have reached the provider (timeout, dropped connection, crash):
    -- no resend before evidence is awaited.
    ADD COLUMN send_uncertain boolean NOT NULL DEFAULT false,
    -- Resends made after an uncertain attempt left no evidence of acceptance.
    ADD COLUMN resends integer NOT NULL DEFAULT 0;
CREATE INDEX messages_outbox ON messages (tenant_id, delivery_status)
    WHERE delivery_status IN ('pending', 'sending');

ALTER TABLE conversations ADD COLUMN needs_human_reason text;

CREATE TABLE circuit_breakers (
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    channel text NOT NULL,
    state text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failures integer NOT NULL DEFAULT 0,
    -- open: calls resume at this time; half_open: the trial call's deadline.
    until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel)
);

-- GCRA pacing: the theoretical arrival time of the next send per key (number or recipient).
CREATE TABLE send_pacing (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);
-- Idle rows are deleted by age (db/pacing.py).
CREATE INDEX send_pacing_tat ON send_pacing (tat);

-- Evidence that an uncertain send was accepted: a stored status webhook carrying our id.
CREATE INDEX inbound_events_status_callback
    ON inbound_events (tenant_id, (payload -> 'status' ->> 'biz_opaque_callback_data'))
    WHERE kind = 'status';
