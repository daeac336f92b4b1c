-- String message ids (API.md, contract v2): the platform may number a message with a
-- positive integer or with a string of 1-128 characters from [A-Za-z0-9._:-] (UUIDs, ULIDs),
-- and idempotency compares them exactly, so the integer 5 and the string "5" are two
-- messages. A string goes in its own column beside the integer one, each with its own UNIQUE
-- index; a row holds one or the other (TEXT affinity and the BINARY collation keep "5" a
-- string and compare it byte for byte).
--
-- The first schema's CHECK said "inbound = has a message_id", and SQLite cannot drop a
-- constraint: `messages` is rebuilt, every row copied as it was (its new column NULL). No
-- foreign key points at it or from it.
CREATE TABLE messages_rebuilt (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER UNIQUE,
    message_key  TEXT    UNIQUE CHECK (length(message_key) BETWEEN 1 AND 128),
    client_id    INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL,
    direction    TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    moderator_id INTEGER,
    body         TEXT    NOT NULL,
    sent_at      INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    -- Inbound rows have exactly one of the two ids, outbound rows neither.
    CHECK ((direction = 'inbound') = (message_id IS NOT NULL OR message_key IS NOT NULL)),
    CHECK (message_id IS NULL OR message_key IS NULL)
);
INSERT INTO messages_rebuilt (id, message_id, client_id, profile_id, direction, moderator_id, body, sent_at, recorded_at)
    SELECT id, message_id, client_id, profile_id, direction, moderator_id, body, sent_at, recorded_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_rebuilt RENAME TO messages;
CREATE INDEX messages_conversation ON messages (client_id, profile_id, id);

-- The conversation's last inbound message (carried by ConversationAssigned) in the same
-- two forms. Adding a column with a CHECK needs no rebuild; existing rows pass it.
ALTER TABLE conversations ADD COLUMN last_inbound_message_key TEXT
    CHECK (last_inbound_message_id IS NULL OR last_inbound_message_key IS NULL);
