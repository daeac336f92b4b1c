-- Indexes on the referencing side of every foreign key whose parent rows the writer updates.
-- Without them, each update of a parent key (an upsert rewrites those columns) makes the
-- database scan the whole child table to check references: a cost that grows with the
-- stored state instead of with the batch.
DROP INDEX IF EXISTS conversations_assigned_to;
CREATE INDEX conversations_profile_assigned ON conversations (profile_id, assigned_to);
DROP INDEX IF EXISTS moderator_profile_assignments_moderator;
CREATE INDEX moderator_profile_assignments_holder ON moderator_profile_assignments (moderator_id, holder_state);
CREATE INDEX profile_locks_moderator ON profile_locks (moderator_id);
CREATE INDEX client_lock_holders_moderator ON client_lock_holders (moderator_id);
CREATE INDEX client_locks_holder ON client_locks (client_id, moderator_id);
CREATE INDEX client_locks_profile ON client_locks (profile_id);
