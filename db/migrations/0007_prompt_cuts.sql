-- What of the conversation was cut to fit the model's prompt budget, per planned reply: messages
-- shortened or left out, and the characters cut from them (the stored messages stay whole).
ALTER TABLE replies
    ADD COLUMN prompt_messages_cut integer NOT NULL DEFAULT 0,
    ADD COLUMN prompt_chars_cut bigint NOT NULL DEFAULT 0;
