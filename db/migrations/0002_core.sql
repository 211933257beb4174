-- Tenants, contacts, leads, conversations, messages and the ingest/failure bookkeeping.

CREATE TABLE tenants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL,
    wa_phone_number_id text UNIQUE,
    wa_access_token text,
    wa_app_secret text,
    wa_verify_token text,
    settings jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    channel text NOT NULL,
    -- wa_id, or the business-scoped user id when the provider sends no phone number
    channel_user_id text NOT NULL,
    phone_e164 text,
    profile_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, channel, channel_user_id)
);

CREATE TABLE leads (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    contact_id bigint NOT NULL REFERENCES contacts (id),
    name text,
    email text,
    phone_e164 text,
    stage text NOT NULL DEFAULT 'new',
    score integer NOT NULL DEFAULT 0,
    facts jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, contact_id)
);

CREATE TABLE conversations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    contact_id bigint NOT NULL REFERENCES contacts (id),
    channel text NOT NULL,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'handoff', 'closed')),
    last_inbound_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- At most one live conversation per contact and channel.
CREATE UNIQUE INDEX conversations_one_live
    ON conversations (tenant_id, contact_id, channel) WHERE status <> 'closed';

CREATE TABLE inbound_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    channel text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('message', 'status', 'error')),
    provider_event_id text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome text,
    UNIQUE (channel, provider_event_id)
);
CREATE INDEX inbound_events_unprocessed ON inbound_events (received_at) WHERE processed_at IS NULL;

CREATE TABLE messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    channel text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    type text NOT NULL,
    text text,
    media jsonb,
    details jsonb NOT NULL DEFAULT '{}',
    provider_message_id text,
    reply_to text,
    inbound_event_id bigint UNIQUE REFERENCES inbound_events (id),
    provider_timestamp timestamptz,
    -- delivery tracking, outbound only: pending -> sending -> sent -> delivered -> read | failed
    delivery_status text CHECK (
        delivery_status IN ('pending', 'sending', 'sent', 'delivered', 'read', 'failed')
    ),
    sent_at timestamptz,
    delivered_at timestamptz,
    read_at timestamptz,
    failed_at timestamptz,
    error jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((direction = 'out') = (delivery_status IS NOT NULL))
);
CREATE UNIQUE INDEX messages_provider_id
    ON messages (tenant_id, channel, provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- A status webhook can arrive before the message it describes is recorded; it waits here.
CREATE TABLE pending_statuses (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    channel text NOT NULL,
    provider_message_id text NOT NULL,
    status text NOT NULL,
    status_at timestamptz NOT NULL,
    errors jsonb NOT NULL DEFAULT '[]',
    inbound_event_id bigint NOT NULL UNIQUE REFERENCES inbound_events (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_statuses_lookup ON pending_statuses (tenant_id, channel, provider_message_id);

-- Correctly signed bodies we could not parse: stored raw, visible, replayable.
CREATE TABLE quarantine (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    channel text NOT NULL,
    reason text NOT NULL,
    content_type text,
    body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX quarantine_received ON quarantine (received_at);

CREATE TABLE dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id uuid NOT NULL UNIQUE,
    queue_name text NOT NULL,
    actor text NOT NULL,
    args jsonb NOT NULL,
    kwargs jsonb NOT NULL DEFAULT '{}',
    attempts integer NOT NULL,
    exception_type text NOT NULL,
    exception_text text NOT NULL,
    traceback text NOT NULL,
    tenant_id bigint REFERENCES tenants (id),
    conversation_id bigint,
    related jsonb NOT NULL DEFAULT '{}',
    state text NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'requeued', 'discarded', 'resolved')),
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    failures integer NOT NULL DEFAULT 1
);
CREATE INDEX dead_letters_state ON dead_letters (state, last_failed_at);
CREATE INDEX dead_letters_actor ON dead_letters (actor, last_failed_at);

CREATE TABLE dead_letter_requeues (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dead_letter_id bigint NOT NULL REFERENCES dead_letters (id),
    message_id uuid NOT NULL UNIQUE,
    requeued_by text NOT NULL,
    requeued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letter_requeues_letter ON dead_letter_requeues (dead_letter_id);

CREATE TABLE step_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor text NOT NULL,
    message_id uuid NOT NULL,
    attempt integer NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('ok', 'retry', 'failed')),
    error text
);
CREATE INDEX step_runs_message ON step_runs (message_id);
CREATE INDEX step_runs_finished ON step_runs (finished_at);
