-- An assignment's locked clients are the `client_locks` rows of its holder under its profile
-- (one row per client and profile, with the lock's times): the store derives the seed's
-- `locked_clients` list from them when it loads. Keeping a JSON copy here meant rewriting the
-- whole list, which grows with the backlog, every time one lock changed.
ALTER TABLE moderator_profile_assignments DROP COLUMN locked_clients;
