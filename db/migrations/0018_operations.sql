-- The operations pages: which message each step run worked for (the run trace), when its job
-- became ready (queue wait), and indexes for the dead-letter list and search at scale.

-- Filled by the step journal (actors/middleware.py) from the ids a step annotates: the tenant,
-- the messages row it worked on (inbound or outbound) and the inbound event it read. NULL when
-- the step failed before it knew them, and for runs recorded before this migration.
ALTER TABLE step_runs
    ADD COLUMN tenant_id bigint,
    ADD COLUMN subject_message_id bigint,
    ADD COLUMN inbound_event_id bigint,
    -- When the job could first run: enqueued, or its delay (eta) for a delayed job or a retry.
    ADD COLUMN ready_at timestamptz;
CREATE INDEX step_runs_subject ON step_runs (tenant_id, subject_message_id)
    WHERE subject_message_id IS NOT NULL;
CREATE INDEX step_runs_event ON step_runs (inbound_event_id) WHERE inbound_event_id IS NOT NULL;
-- Throughput per tenant (finished in the last minute/hour).
CREATE INDEX step_runs_tenant_finished ON step_runs (tenant_id, finished_at);

-- A tenant's letters newest first, one page after another (keyset on last_failed_at, id).
CREATE INDEX dead_letters_tenant_page
    ON dead_letters (tenant_id, state, last_failed_at DESC, id DESC);
-- Across tenants, the same order; it serves whatever the old (state, last_failed_at) one did.
CREATE INDEX dead_letters_state_page ON dead_letters (state, last_failed_at DESC, id DESC);
DROP INDEX dead_letters_state;
-- Search: by conversation (a phone number or conversation id resolves to conversations), and by
-- the message or inbound event a step annotated (a provider message id resolves to those).
CREATE INDEX dead_letters_conversation ON dead_letters (conversation_id)
    WHERE conversation_id IS NOT NULL;
CREATE INDEX dead_letters_related_message ON dead_letters ((related ->> 'message_id'));
CREATE INDEX dead_letters_related_event ON dead_letters ((related ->> 'inbound_event_id'));

-- Search by phone number, across tenants for operators: the contact, then its conversations
-- (closed ones too, through 0015's conversations_contact).
CREATE INDEX contacts_phone ON contacts (phone_e164) WHERE phone_e164 IS NOT NULL;
