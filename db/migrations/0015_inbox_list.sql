-- The conversation list: what each row shows and sorts by, kept on the conversation by a trigger
-- on messages, so the list reads one row per conversation instead of scanning its messages.

ALTER TABLE conversations
    -- The newest message in the provider's order, whatever its direction or status: the row's
    -- preview, and the time of the conversation's latest activity.
    ADD COLUMN last_message_id bigint,
    ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now(),
    -- Since when the customer waits: their first message after our newest outbound message that
    -- counts (a failed or withdrawn one answered nothing). NULL while that outbound message is the
    -- newest of those: the same "customer wrote last" as db/conversation_views.py's needs-reply.
    ADD COLUMN waiting_since timestamptz;

-- The inbox's groups, first shown first: 3 needs a reply, 2 with a person, 1 with the assistant,
-- 0 closed. Stored so one index serves the order and its keyset pages.
ALTER TABLE conversations ADD COLUMN inbox_group smallint GENERATED ALWAYS AS (
    CASE
        WHEN status <> 'closed' AND waiting_since IS NOT NULL THEN 3
        WHEN status = 'handoff' THEN 2
        WHEN status = 'open' THEN 1
        ELSE 0
    END
) STORED;

CREATE FUNCTION inbox_refresh(conversation bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    answered_at timestamptz;
    answered_received timestamptz;
    answered_position integer;
    answered_id bigint;
    waiting timestamptz;
BEGIN
    -- Taken first: a message another transaction committed while this one waited for the row is
    -- seen by the queries below (each statement takes a new snapshot).
    PERFORM 1 FROM conversations WHERE id = conversation FOR UPDATE;
    SELECT ordered_at, received_at, envelope_position, id
    INTO answered_at, answered_received, answered_position, answered_id
    FROM messages
    WHERE conversation_id = conversation AND direction = 'out'
      AND delivery_status NOT IN ('failed', 'cancelled')
    ORDER BY ordered_at DESC, received_at DESC, envelope_position DESC, id DESC LIMIT 1;
    IF answered_id IS NULL THEN
        SELECT ordered_at INTO waiting FROM messages
        WHERE conversation_id = conversation AND direction = 'in'
        ORDER BY ordered_at, received_at, envelope_position, id LIMIT 1;
    ELSE
        SELECT ordered_at INTO waiting FROM messages
        WHERE conversation_id = conversation AND direction = 'in'
          AND (ordered_at, received_at, envelope_position, id)
              > (answered_at, answered_received, answered_position, answered_id)
        ORDER BY ordered_at, received_at, envelope_position, id LIMIT 1;
    END IF;
    UPDATE conversations v SET
        waiting_since = waiting,
        last_message_id = newest.id,
        last_activity_at = COALESCE(newest.ordered_at, v.created_at)
    FROM (SELECT NULL) one
    LEFT JOIN LATERAL (
        SELECT id, ordered_at FROM messages
        WHERE conversation_id = conversation
        ORDER BY ordered_at DESC, received_at DESC, envelope_position DESC, id DESC LIMIT 1
    ) newest ON true
    WHERE v.id = conversation;
END
$$;

CREATE FUNCTION inbox_message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM inbox_refresh(NEW.conversation_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_inbox_insert AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION inbox_message_changed();
-- Only a reply failing or being withdrawn (or coming back from that) changes who wrote last.
CREATE TRIGGER messages_inbox_status AFTER UPDATE OF delivery_status ON messages
    FOR EACH ROW
    WHEN ((OLD.delivery_status IN ('failed', 'cancelled'))
          IS DISTINCT FROM (NEW.delivery_status IN ('failed', 'cancelled')))
    EXECUTE FUNCTION inbox_message_changed();

SELECT inbox_refresh(id) FROM conversations;

-- The list's order and keyset pages, whole and by the filters on status and assignment.
CREATE INDEX conversations_inbox ON conversations (tenant_id, inbox_group, last_activity_at, id);
CREATE INDEX conversations_inbox_status
    ON conversations (tenant_id, status, inbox_group, last_activity_at, id);
CREATE INDEX conversations_inbox_assigned
    ON conversations (tenant_id, assigned_user_id, inbox_group, last_activity_at, id);
CREATE INDEX conversations_contact ON conversations (contact_id);
-- The alerts: hand-offs nobody has taken, and customers waiting longest.
CREATE INDEX conversations_handed_off ON conversations (tenant_id)
    WHERE status = 'handoff' AND assigned_user_id IS NULL;
CREATE INDEX conversations_waiting ON conversations (tenant_id, waiting_since)
    WHERE inbox_group = 3;

-- Search by name, number and message text: trigram indexes where the server ships pg_trgm (the
-- compose file's PostgreSQL does); elsewhere the same queries run unindexed, under a time limit.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX contacts_name_trgm ON contacts USING gin (profile_name gin_trgm_ops);
        CREATE INDEX contacts_phone_trgm ON contacts USING gin (phone_e164 gin_trgm_ops);
        CREATE INDEX messages_text_trgm ON messages USING gin (text gin_trgm_ops);
    END IF;
END
$$;
