-- The rows written for every message (its conversation, the client's lock and lock holder)
-- keep only the foreign keys that carry an invariant: a conversation's holder is its
-- profile's (invariant 2), all locks on a client belong to one holder (invariant 3). The
-- others only said that a child row's client, profile or moderator exists; the one writer
-- writes whole entities, and the loader reports and drops any row naming a missing one.
-- Each of them cost a lookup per row at COMMIT, over a third of the server's time per batch
-- (perf, docs/PERFORMANCE.md), and two indexes existed only to serve them.
ALTER TABLE conversations DROP CONSTRAINT conversations_client_id_fkey;
ALTER TABLE conversations DROP CONSTRAINT conversations_profile_id_fkey;
ALTER TABLE client_lock_holders DROP CONSTRAINT client_lock_holders_client_id_fkey;
ALTER TABLE client_lock_holders DROP CONSTRAINT client_lock_holders_moderator_id_fkey;
ALTER TABLE client_locks DROP CONSTRAINT client_locks_profile_id_fkey;
DROP INDEX client_lock_holders_moderator;
DROP INDEX client_locks_profile;
-- A holder's deletion finds its locks through the primary key's client_id prefix.
DROP INDEX client_locks_holder;
