//! How one value sits in one column, for every table and both backends: the bound `Value`,
//! `u64` ids and `Timestamp`s as signed 64-bit integers, typed reads of a fetched row
//! (`RowExt`), a message id as its pair of columns, and a message's `Direction` as text.
//! Both directions of the mapping build on this; it knows no table.

use switchboard_engine::{MessageId, MessageKey, Timestamp};

use crate::error::StoreError;

/// One bound value of a row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
}

/// A `u64` id or counter as its signed 64-bit column value, bit for bit (ids above
/// `i64::MAX` are stored negative and read back unchanged).
pub(crate) fn id(value: u64) -> i64 {
    value as i64
}

/// The inverse of `id`.
pub(super) fn unsigned(value: i64) -> u64 {
    value as u64
}

/// A time as its column value: milliseconds since the Unix epoch.
pub(crate) fn ts(at: Timestamp) -> i64 {
    id(at.0)
}

/// The inverse of `ts`.
pub(crate) fn timestamp(value: i64) -> Timestamp {
    Timestamp(unsigned(value))
}

pub(super) fn opt_ts(at: Option<Timestamp>) -> Value {
    Value::OptInt(at.map(ts))
}

pub(super) fn opt_id(value: Option<u64>) -> Value {
    Value::OptInt(value.map(id))
}

pub(super) fn opt_timestamp(value: Option<i64>) -> Option<Timestamp> {
    value.map(timestamp)
}

/// A message id as its two columns, an integer (`message_id`) and a string (`message_key`):
/// exactly one is set for an id, neither for none. Two columns, each with its own UNIQUE
/// index, keep the comparison exact (the integer 5 and the string "5" never meet) and leave
/// rows written before string ids existed as they were.
pub(super) fn message_id_values(message_id: Option<&MessageId>) -> [Value; 2] {
    match message_id {
        Some(MessageId::Number(number)) => [Value::OptInt(Some(id(*number))), Value::OptText(None)],
        Some(MessageId::Key(key)) => [Value::OptInt(None), Value::OptText(Some(key.as_str().to_owned()))],
        None => [Value::OptInt(None), Value::OptText(None)],
    }
}

/// The inverse of `message_id_values`, from the columns `number_column` and `key_column`
/// of a row of `table`. A key the API would refuse, or both columns set, is corrupt.
pub(crate) fn read_message_id(
    row: &impl RowExt,
    table: &'static str,
    number_column: &'static str,
    key_column: &'static str,
) -> Result<Option<MessageId>, StoreError> {
    match (row.opt_int(number_column)?, row.opt_text(key_column)?) {
        (None, None) => Ok(None),
        (Some(number), None) => Ok(Some(MessageId::Number(unsigned(number)))),
        (None, Some(key)) => match MessageKey::parse(&key) {
            Ok(key) => Ok(Some(MessageId::Key(key))),
            Err(error) => Err(StoreError::corrupt(table, key_column, format!("{key:?} {error}"))),
        },
        (Some(number), Some(key)) => {
            Err(StoreError::corrupt(table, key_column, format!("both {number} and {key:?} are set")))
        }
    }
}

/// Whether a stored message came from the client or from a moderator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to profile, with the platform's message id.
    Inbound,
    /// Moderator (as the profile) to client.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Typed access to a column of a row, whichever backend it came from.
pub(crate) trait RowExt {
    fn int(&self, column: &'static str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, column: &'static str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error>;
    fn boolean(&self, column: &'static str) -> Result<bool, sqlx::Error>;
    fn int_at(&self, index: usize) -> Result<i64, sqlx::Error>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, column: &'static str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn opt_int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn text(&self, column: &'static str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn opt_text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn boolean(&self, column: &'static str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn int_at(&self, index: usize) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }
        }
    };
}

impl_row_ext!(sqlx::sqlite::SqliteRow);
impl_row_ext!(sqlx::postgres::PgRow);

#[cfg(test)]
mod tests {
    use super::{id, timestamp, ts, unsigned};
    use switchboard_engine::Timestamp;

    #[test]
    fn ids_and_times_survive_the_signed_column_bit_for_bit() {
        for value in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(unsigned(id(value)), value);
            assert_eq!(timestamp(ts(Timestamp(value))), Timestamp(value));
        }
        assert_eq!(id(u64::MAX), -1);
    }
}
