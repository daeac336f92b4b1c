-- The writer lease of a cluster (README "Running several nodes"): one row naming the node
-- allowed to commit, with an epoch that grows by one at every grant and an expiry on the
-- database's clock (never a node's). Every batch transaction of the writer checks its epoch
-- under a row lock (`FOR SHARE`), so a grant (an UPDATE of this row) waits for a batch in
-- flight and no batch of an older epoch can commit after it.
CREATE TABLE writer_lease (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    advertise_url TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    acquired_at TIMESTAMPTZ,
    renewed_at TIMESTAMPTZ,
    -- Free when in the past: never granted, expired, or released (set to the release time).
    expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
INSERT INTO writer_lease (id) VALUES (1);

-- One row per grant: who held the epoch, when it began and ended, and how many batches it
-- committed (each fenced batch counts itself here in its own transaction). The batch log the
-- tests read: no epoch commits after the next epoch's `acquired_at`.
CREATE TABLE writer_epochs (
    epoch BIGINT PRIMARY KEY,
    holder TEXT NOT NULL,
    advertise_url TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    commits BIGINT NOT NULL DEFAULT 0,
    last_commit_at TIMESTAMPTZ
);

-- The nodes that asked for the lease lately (standbys poll; the writer renews): for
-- `GET /api/supervisor/cluster`. Never read to decide anything.
CREATE TABLE cluster_nodes (
    node_name TEXT PRIMARY KEY,
    advertise_url TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
