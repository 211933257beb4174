-- Provider ids are unique per tenant, and a conversation is read in the provider's order.

-- Another tenant's event with the same id (any tenant can post any id, signed with its own
-- secret) must not make this tenant's event a duplicate. Every existing row satisfied the old,
-- stricter constraint, so it satisfies this one.
ALTER TABLE inbound_events DROP CONSTRAINT inbound_events_channel_provider_event_id_key;
ALTER TABLE inbound_events
    ADD CONSTRAINT inbound_events_once UNIQUE (tenant_id, channel, provider_event_id);

-- Where the event stood in its webhook body: messages of one envelope keep the sender's order
-- although separate jobs store them. Unknown for events stored before: 0.
ALTER TABLE inbound_events ADD COLUMN envelope_position integer NOT NULL DEFAULT 0;

-- A message's place in its conversation: (ordered_at, received_at, envelope_position, id).
-- ordered_at is the provider's timestamp, never later than our receipt of it (a sender's clock
-- in year 9999 would otherwise sort it last and hold the 24-hour window open forever; the raw
-- value stays in provider_timestamp). Outbound messages: when we wrote them.
ALTER TABLE messages
    ADD COLUMN ordered_at timestamptz,
    ADD COLUMN received_at timestamptz,
    ADD COLUMN envelope_position integer NOT NULL DEFAULT 0;
UPDATE messages m SET received_at = r.at, ordered_at = LEAST(m.provider_timestamp, r.at)
FROM (SELECT s.id, COALESCE(e.received_at, s.created_at) AS at
      FROM messages s LEFT JOIN inbound_events e ON e.id = s.inbound_event_id) r
WHERE r.id = m.id;
ALTER TABLE messages
    ALTER COLUMN ordered_at SET DEFAULT now(),
    ALTER COLUMN ordered_at SET NOT NULL,
    ALTER COLUMN received_at SET DEFAULT now(),
    ALTER COLUMN received_at SET NOT NULL;
CREATE INDEX messages_conversation_order
    ON messages (conversation_id, ordered_at, received_at, envelope_position, id);

-- Windows held open by a future timestamp close like the others: from the clamped time.
UPDATE conversations v SET last_inbound_at = COALESCE(
    (SELECT max(m.ordered_at) FROM messages m
     WHERE m.conversation_id = v.id AND m.tenant_id = v.tenant_id AND m.direction = 'in'),
    LEAST(v.last_inbound_at, v.updated_at))
WHERE v.last_inbound_at > now();
