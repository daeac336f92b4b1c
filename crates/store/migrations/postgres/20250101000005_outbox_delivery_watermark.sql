-- Events are handed to the realtime server in id order, so what has been delivered is a
-- prefix of the outbox: one watermark says it. Marking each row's delivered_at rewrote
-- every outbox row a second time (and its partial index), doubling the outbox's cost.
CREATE TABLE outbox_delivered (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    -- Every outbox row with an id up to this one has been delivered.
    up_to_id     BIGINT NOT NULL,
    delivered_at BIGINT NOT NULL
);
INSERT INTO outbox_delivered (id, up_to_id, delivered_at)
SELECT 1,
       COALESCE((SELECT min(id) - 1 FROM outbox WHERE delivered_at IS NULL), (SELECT max(id) FROM outbox), 0),
       COALESCE((SELECT max(delivered_at) FROM outbox), 0);
DROP INDEX outbox_undelivered;
ALTER TABLE outbox DROP COLUMN delivered_at;
