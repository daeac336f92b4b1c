//! The mapping between the engine's entities and the database's rows, both ways; nothing
//! here runs SQL (that is `sql.rs`) or decides a rule (that is the engine).
//!
//! Writing: `plan_batch` turns an `AppliedBatch` into a `WritePlan`, the deletes and the
//! current rows to insert or upsert for every changed entity whose rows differ from the
//! shadow, plus the batch's messages, alerts and outbox rows. Reading: `Loader` turns the rows
//! of every table back into the engine's `RestoredState`.
//!
//! The files, from the bottom up (each uses only those above it):
//! - `columns`: one value in one column (`Value`, ids and times as `i64`, `RowExt`, `Direction`),
//!   and a message id in its two columns (an integer or a string);
//! - `tables`: the descriptors of the tables the writer writes;
//! - `rows`: the row each entity is written as;
//! - `shadow`: the per-row hashes of what is stored, which let a batch skip unchanged rows;
//! - `plan`: a batch's transaction (`plan_batch`, `WritePlan`);
//! - `load`: rows back to the engine's records (`Loader`, `Loaded`).
//!
//! Conventions: ids and counters are `u64` stored bit-for-bit in signed 64-bit columns;
//! times are milliseconds since the Unix epoch; sets and lists are JSON arrays in TEXT.

mod columns;
mod load;
mod plan;
mod rows;
mod shadow;
mod tables;

pub use self::columns::Direction;
pub(crate) use self::columns::{id, read_message_id, timestamp, ts, RowExt, Value};
pub(crate) use self::load::{Loaded, Loader};
pub(crate) use self::plan::{plan_batch, AppliedBatch, MarkDelivered, WritePlan};
pub(crate) use self::rows::{MessageRow, RowIds};
pub(crate) use self::shadow::Shadow;
pub(crate) use self::tables::Table;
