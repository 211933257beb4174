-- The agents' inbox: assignment, what each agent has read, private notes, canned replies, the
-- tenant's approved WhatsApp templates, and one send per composed message.

ALTER TABLE conversations
    ADD COLUMN assigned_user_id bigint REFERENCES users (id),
    ADD COLUMN assigned_at timestamptz,
    ADD COLUMN closed_at timestamptz;
CREATE INDEX conversations_assigned ON conversations (tenant_id, assigned_user_id)
    WHERE assigned_user_id IS NOT NULL;

-- The newest message of a conversation each user has seen: unread counts are the inbound
-- messages after it.
CREATE TABLE conversation_reads (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    read_through_message_id bigint NOT NULL,
    read_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, conversation_id)
);

-- Notes agents leave on a conversation for each other; never sent to the customer.
CREATE TABLE conversation_notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    user_id bigint REFERENCES users (id),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_notes_conversation ON conversation_notes (conversation_id, id);

-- Replies an agent inserts with one click; {name}-style variables are filled from the lead.
CREATE TABLE canned_replies (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 80),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, title)
);

-- Templates the tenant's WhatsApp account has approved: the only messages allowed outside the
-- 24-hour window. `parameters` names the body's {{1}}, {{2}}... in order.
CREATE TABLE message_templates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    -- PostgreSQL's regular expressions repeat at most 255 times: the length is checked apart.
    name text NOT NULL CHECK (name ~ '^[a-z0-9_]+$' AND length(name) <= 512),
    language text NOT NULL,
    body text NOT NULL,
    parameters text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name, language)
);

-- Who wrote an outbound message from the inbox (NULL: the assistant), and the composer's key:
-- a double click or a resubmitted form inserts the message once.
ALTER TABLE messages
    ADD COLUMN sent_by_user_id bigint REFERENCES users (id),
    ADD COLUMN compose_key uuid;
CREATE UNIQUE INDEX messages_compose_once ON messages (tenant_id, compose_key)
    WHERE compose_key IS NOT NULL;
