-- Live updates of the admin pages (webapp/live/): triggers record what changed in live_events and
-- NOTIFY 'recado_live' with '<tenant_id>:<event id>' only; each web process LISTENs once and reads
-- the rows. A browser that reconnects catches up from its Last-Event-ID; rows older than an hour
-- are pruned by the workers' housekeeping (db/live_events.py purge_live_events).
--
-- No foreign keys: the rows live an hour and every check would slow the webhook's insert.
CREATE TABLE live_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('message', 'status', 'conversation')),
    conversation_id bigint NOT NULL,
    message_id bigint,
    data jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
-- Catch-up reads one tenant's events after an id.
CREATE INDEX live_events_tenant ON live_events (tenant_id, id);
-- Pruning by age: rows come in time order, so a BRIN index is tiny and nearly free to keep.
CREATE INDEX live_events_at ON live_events USING brin (at);

CREATE FUNCTION live_event(
    p_tenant_id bigint, p_kind text, p_conversation_id bigint, p_message_id bigint, p_data jsonb
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    event_id bigint;
BEGIN
    INSERT INTO live_events (tenant_id, kind, conversation_id, message_id, data)
    VALUES (p_tenant_id, p_kind, p_conversation_id, p_message_id, p_data)
    RETURNING id INTO event_id;
    -- Ids only: far below NOTIFY's 8,000-byte payload limit whatever the data holds.
    PERFORM pg_notify('recado_live', p_tenant_id || ':' || event_id);
END
$$;

CREATE FUNCTION live_message_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_event(NEW.tenant_id, 'message', NEW.conversation_id, NEW.id,
        jsonb_build_object('conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                           'direction', NEW.direction));
    RETURN NULL;
END
$$;

-- error holds the provider's errors as a list of {code, title, message, details} (db/messages.py).
CREATE FUNCTION live_message_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    data jsonb := jsonb_build_object('conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                                     'status', NEW.delivery_status);
BEGIN
    IF NEW.delivery_status = 'failed' AND jsonb_typeof(NEW.error) = 'array'
       AND NEW.error -> 0 ->> 'title' IS NOT NULL THEN
        data := data || jsonb_build_object('reason', left(NEW.error -> 0 ->> 'title', 200));
    END IF;
    PERFORM live_event(NEW.tenant_id, 'status', NEW.conversation_id, NEW.id, data);
    RETURN NULL;
END
$$;

CREATE FUNCTION live_conversation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_event(NEW.tenant_id, 'conversation', NEW.id, NULL,
        jsonb_build_object('conversation_id', NEW.id, 'status', NEW.status));
    RETURN NULL;
END
$$;

CREATE TRIGGER live_message_inserted AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION live_message_inserted();
CREATE TRIGGER live_message_status AFTER UPDATE OF delivery_status ON messages
    FOR EACH ROW WHEN (OLD.delivery_status IS DISTINCT FROM NEW.delivery_status)
    EXECUTE FUNCTION live_message_status();
CREATE TRIGGER live_conversation_changed AFTER UPDATE ON conversations
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.assigned_user_id IS DISTINCT FROM NEW.assigned_user_id
        OR OLD.needs_human_reason IS DISTINCT FROM NEW.needs_human_reason
        OR OLD.handoff_at IS DISTINCT FROM NEW.handoff_at
        OR OLD.closed_at IS DISTINCT FROM NEW.closed_at
        OR OLD.updated_at IS DISTINCT FROM NEW.updated_at
    )
    EXECUTE FUNCTION live_conversation_changed();
