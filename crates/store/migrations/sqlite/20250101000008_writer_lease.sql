-- The writer lease exists on PostgreSQL only (migrations/postgres/20250101000008): SQLite
-- is one node, with no lease and no fencing. This file keeps the two migration sets numbered
-- alike.
SELECT 1;
