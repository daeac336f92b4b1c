-- String message ids (API.md, contract v2): the platform may number a message with a
-- positive integer or with a string of 1-128 characters from [A-Za-z0-9._:-] (UUIDs, ULIDs),
-- and idempotency compares them exactly, so the integer 5 and the string "5" are two
-- messages. A string goes in its own column beside the integer one, each with its own UNIQUE
-- index; a row holds one or the other. Existing rows are untouched: their integer stays
-- where it was and their new column is NULL. COLLATE "C" compares bytes, which is what
-- "exactly" means for these ASCII keys (and is the cheapest comparison there is).
ALTER TABLE messages
    ADD COLUMN message_key TEXT COLLATE "C" UNIQUE CHECK (length(message_key) BETWEEN 1 AND 128);
-- The first schema's unnamed CHECK said "inbound = has a message_id"; it becomes "inbound =
-- has exactly one of message_id and message_key" (outbound rows have neither).
ALTER TABLE messages DROP CONSTRAINT messages_check;
ALTER TABLE messages
    ADD CONSTRAINT messages_inbound_has_an_id CHECK ((direction = 'inbound') = (message_id IS NOT NULL OR message_key IS NOT NULL)),
    ADD CONSTRAINT messages_one_id_form CHECK (message_id IS NULL OR message_key IS NULL);

-- The conversation's last inbound message (carried by ConversationAssigned) in the same
-- two forms.
ALTER TABLE conversations
    ADD COLUMN last_inbound_message_key TEXT COLLATE "C",
    ADD CONSTRAINT conversations_last_inbound_one_id_form
        CHECK (last_inbound_message_id IS NULL OR last_inbound_message_key IS NULL);
