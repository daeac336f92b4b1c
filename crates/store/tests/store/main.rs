//! The store's integration suite: every behaviour runs on a fresh SQLite file and on a fresh
//! PostgreSQL database (127.0.0.1:5432; the PostgreSQL half fails, never skips, without it).

mod common;

mod behaviour;
mod lease;
mod outage;
mod repair;
mod schema;
