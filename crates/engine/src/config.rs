//! The rules' tunable values (SPEC §9), with the SPEC's defaults.
//!
//! Parsing from files and the environment belongs to the server; the engine only receives a
//! finished `Config`.

use std::time::Duration;

/// How simultaneous connections are ordered when there are fewer free profiles than
/// moderators connecting (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictStrategy {
    /// Earliest connection first, ties by lowest moderator id.
    Timestamp,
    /// Lowest moderator id first.
    Id,
}

impl ConflictStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStrategy::Timestamp => "timestamp",
            ConflictStrategy::Id => "id",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How long a client lock lasts unless its holder types in that conversation.
    pub client_lock_ttl: Duration,
    /// How long a profile lease lasts without activity of its holder.
    pub profile_lock_ttl: Duration,
    /// How far an explicit `extend` may push a lock beyond its normal length.
    pub max_lock_extension: Duration,
    /// Silence after which a moderator with work waiting is declared `away`.
    pub inactivity_threshold: Duration,
    /// How often the server runs the monitor (the engine does not schedule itself).
    pub monitor_interval: Duration,
    /// Highest load minus lowest load at which balancing starts moving profiles.
    pub imbalance_threshold: u32,
    /// Minimum time between two balancing moves of one profile, and how long a moderator who
    /// gave a profile back is not offered it again.
    pub anti_ping_pong: Duration,
    pub max_profiles_per_moderator: u32,
    /// Bound on balancing work in one monitor run.
    pub max_moves_per_tick: u32,
    /// Connections closer than this to each other can collide.
    pub conflict_window: Duration,
    pub conflict_strategy: ConflictStrategy,
    /// Without a realtime connection or an API call for this long, a moderator is disconnected.
    pub presence_timeout: Duration,
    /// The highest queue priority a moderator may give itself; above it only a supervisor can.
    pub max_self_priority: i32,
    /// Release interval assumed for wait estimates until two releases have been seen.
    pub default_release_interval: Duration,
    /// A conversation waiting longer than this raises an alert and marks its moderator overloaded.
    pub response_alert: Duration,
    /// A free profile with waiting conversations for this long raises an alert.
    pub orphan_alert_after: Duration,
    /// A non-empty queue with no assignment for this long raises an alert.
    pub queue_stall_alert: Duration,
    /// How many moderators and how many profiles one monitor run audits (the integrity check
    /// walks the whole state in slices so that one run stays short at any scale).
    pub integrity_slice: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_lock_ttl: Duration::from_secs(30),
            profile_lock_ttl: Duration::from_secs(500),
            max_lock_extension: Duration::from_secs(600),
            inactivity_threshold: Duration::from_secs(60),
            monitor_interval: Duration::from_secs(15),
            imbalance_threshold: 2,
            anti_ping_pong: Duration::from_secs(5 * 60),
            max_profiles_per_moderator: 3,
            max_moves_per_tick: 10,
            conflict_window: Duration::from_secs(1),
            conflict_strategy: ConflictStrategy::Timestamp,
            presence_timeout: Duration::from_secs(60),
            max_self_priority: 0,
            default_release_interval: Duration::from_secs(60),
            response_alert: Duration::from_secs(180),
            orphan_alert_after: Duration::from_secs(60),
            queue_stall_alert: Duration::from_secs(10 * 60),
            integrity_slice: 4096,
        }
    }
}
