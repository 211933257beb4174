-- The conversation page shows, under each assistant reply, the planning record that produced it:
-- found by the outbound message's id, one page of messages at a time.
CREATE INDEX replies_outbound ON replies (outbound_message_id) WHERE outbound_message_id IS NOT NULL;
