-- Events for the host platform (API.md "Outbound events to the host platform"): written by
-- the writer in the same transaction as the change they describe, read by the feed
-- (GET /api/events) and delivered as Standard Webhooks by the shell's delivery task.
-- `sequence` is handed out by the one writer, so it grows in commit order without gaps;
-- pruning keeps the newest row, so a restart never hands out a sequence twice.
CREATE TABLE host_events (
    sequence        BIGINT PRIMARY KEY,
    type            TEXT    NOT NULL,
    occurred_at     BIGINT NOT NULL,
    data            TEXT    NOT NULL,
    -- 'none': no webhook_url when it was committed (feed only).
    webhook_status  TEXT    NOT NULL CHECK (webhook_status IN ('none', 'pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    -- When the next delivery attempt is due (pending only).
    next_attempt_at BIGINT,
    -- HTTP status of the last attempt, if the receiver answered.
    last_status     BIGINT,
    -- Why the last attempt failed (timeout, connection refused, a non-2xx status).
    last_error      TEXT,
    delivered_at    BIGINT
);
-- The delivery task's question: which pending deliveries are due, oldest first.
CREATE INDEX host_events_pending ON host_events (next_attempt_at, sequence) WHERE webhook_status = 'pending';
-- Retention: rows older than event_retention are pruned by time.
CREATE INDEX host_events_occurred ON host_events (occurred_at);
-- Supervisors' list of failed deliveries and the health gauge, without a scan.
CREATE INDEX host_events_failed ON host_events (sequence) WHERE webhook_status = 'failed';
