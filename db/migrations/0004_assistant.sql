-- The assistant: business profiles, planned replies (audit), lead updates, hand-off
-- notifications, monthly LLM usage and the answer cache (when Redis is not configured).

-- NULL: no assistant; inbound messages wait for a person.
ALTER TABLE tenants ADD COLUMN profile jsonb;

ALTER TABLE conversations
    -- The newest inbound message a reply (or a hand-off) has been planned for.
    ADD COLUMN replied_through bigint NOT NULL DEFAULT 0,
    -- Consecutive assistant turns below the tenant's confidence threshold.
    ADD COLUMN low_confidence_streak integer NOT NULL DEFAULT 0,
    ADD COLUMN handoff_at timestamptz;
-- Conversations from before the assistant: what was written so far was for people to answer.
UPDATE conversations v SET replied_through = COALESCE(
    (SELECT max(m.id) FROM messages m WHERE m.conversation_id = v.id AND m.direction = 'in'), 0);

-- A reply planned but withdrawn before sending (the conversation went to a person) ends here.
ALTER TABLE messages DROP CONSTRAINT messages_delivery_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_delivery_status_check CHECK (
    delivery_status IN ('pending', 'sending', 'sent', 'delivered', 'read', 'failed', 'cancelled')
);
ALTER TABLE messages ADD COLUMN cancelled_at timestamptz;

-- One row per planning outcome that reached the commit: what was asked, what came back, and
-- what became of it. (conversation_id, through_message_id) makes a re-run a no-op.
CREATE TABLE replies (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    -- The newest inbound message this reply answers (it sees every earlier unanswered one).
    through_message_id bigint NOT NULL REFERENCES messages (id),
    outcome text NOT NULL CHECK (outcome IN ('queued', 'stale', 'handoff', 'duplicate')),
    source text NOT NULL CHECK (source IN ('llm', 'cache', 'fallback', 'rule')),
    fallback_reason text,
    cache_result text CHECK (cache_result IN ('hit_exact', 'hit_semantic', 'miss', 'skip')),
    -- Set when the answer may be cached: the normalised question, its scope and TTL class.
    cache_question text,
    cache_scope text,
    cache_class text,
    prompt_version text,
    model text,
    request jsonb,
    response jsonb,
    reply_text text,
    intent text,
    confidence real,
    extraction jsonb NOT NULL DEFAULT '{}',
    prompt_tokens integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    latency_ms integer,
    cost_usd numeric(12, 6) NOT NULL DEFAULT 0,
    handoff_reason text,
    outbound_message_id bigint REFERENCES messages (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX replies_once ON replies (conversation_id, through_message_id)
    WHERE outcome IN ('queued', 'handoff');
CREATE INDEX replies_tenant ON replies (tenant_id, created_at);

-- What the lead step applied for a reply: its presence makes a re-run a no-op.
CREATE TABLE lead_updates (
    reply_id bigint PRIMARY KEY REFERENCES replies (id),
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    lead_id bigint NOT NULL REFERENCES leads (id),
    changes jsonb NOT NULL,
    score_delta integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lead_service_interest (
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    lead_id bigint NOT NULL REFERENCES leads (id),
    service text NOT NULL,
    mentions integer NOT NULL DEFAULT 1,
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, service)
);

-- An agent is needed: written with the hand-off, read by agents' tools and /metrics.
CREATE TABLE agent_notifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    kind text NOT NULL,
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz
);
CREATE INDEX agent_notifications_open ON agent_notifications (tenant_id, created_at)
    WHERE acknowledged_at IS NULL;

-- Spend per tenant and calendar month (UTC), checked against the tenant's cap before a call.
CREATE TABLE llm_usage (
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    month date NOT NULL,
    calls integer NOT NULL DEFAULT 0,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month)
);

-- The answer cache's PostgreSQL backend (Redis holds the same entries when configured).
CREATE TABLE answer_cache (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    -- Profile fingerprint, prompt version and language: a changed profile never serves old answers.
    scope text NOT NULL,
    question text NOT NULL,
    answer text NOT NULL,
    ttl_class text NOT NULL CHECK (ttl_class IN ('faq', 'general', 'transient')),
    embedding double precision[],
    hits integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    UNIQUE (tenant_id, scope, question)
);
CREATE INDEX answer_cache_expiry ON answer_cache (tenant_id, expires_at);
