-- PostgreSQL's regular expressions repeat at most 255 times: the name check of 0013 refused
-- every insert ("invalid repetition count"). The same rule, spelled so PostgreSQL takes it.
ALTER TABLE message_templates DROP CONSTRAINT message_templates_name_check;
ALTER TABLE message_templates ADD CONSTRAINT message_templates_name_check
    CHECK (name ~ '^[a-z0-9_]+$' AND length(name) <= 512);
