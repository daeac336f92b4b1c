//! Realtime presence (SPEC §2) across the nodes of a cluster: a moderator counts as connected
//! while it has a socket on its own channel on *any* node.
//!
//! Each node counts its own sockets (`realtime::Presence`). The writer keeps one set of
//! moderators per other node, replaced whole by that node's sync (`POST
//! /api/supervisor/cluster/presence`, sent at once on a change and every [`SYNC_INTERVAL`],
//! which is also its heartbeat); a node silent for [`ClusterPresence::silence`] loses its
//! moderators, as a socket closing would. The writer submits `RealtimePresence` for the
//! difference between the union of the sets and what it last told the engine, so commands
//! follow the sets and never a stream of edges that a takeover could cut in half.
//!
//! Each time this node starts serving under a new epoch (and once at start on SQLite), the
//! connections the previous writer remembered are forgotten (`cluster::forget_realtime_
//! connections`) and the sets are rebuilt from this node's sockets and the standbys' next
//! syncs, which arrive within a second: well inside `presence_timeout`, so a moderator whose
//! socket lives on a standby keeps its profiles across the takeover.
//!
//! Never here: sockets (`switchboard-pusher`), the lease (`cluster.rs`), HTTP routing
//! (`http/cluster.rs` receives the syncs).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use serde_json::json;
use switchboard_engine::{Command, ModeratorId};
use switchboard_store::{Lease, Role, WriteError, WriterHandle};
use tokio::sync::{watch, Notify};

use crate::auth::{Caller, Tokens};
use crate::cluster::forget_realtime_connections;
use crate::realtime::Presence;

/// How often a standby sends its whole set to the writer, and the writer re-checks the sets.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest silence after which a node's moderators are counted gone.
pub const MIN_SILENCE: Duration = Duration::from_secs(3);
/// The path standbys post their sets to.
pub const SYNC_PATH: &str = "/api/supervisor/cluster/presence";
/// Presence changes submitted at once: enough to fill group commits (512 commands each).
pub const PRESENCE_IN_FLIGHT: usize = 256;

/// The sets of the other nodes, as the writer last heard them.
pub struct ClusterPresence {
    remote: Mutex<HashMap<String, RemoteSet>>,
    changed: Notify,
    silence: Duration,
}

struct RemoteSet {
    moderators: BTreeSet<ModeratorId>,
    heard_at: Instant,
}

impl ClusterPresence {
    /// `lease`: the writer lease's length; a node is given up after twice that (at least
    /// [`MIN_SILENCE`]) without a sync.
    #[must_use]
    pub fn new(lease: Duration) -> Arc<ClusterPresence> {
        Arc::new(ClusterPresence {
            remote: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            silence: (lease * 2).max(MIN_SILENCE),
        })
    }

    /// How long a node may stay silent before its moderators are counted gone.
    #[must_use]
    pub fn silence(&self) -> Duration {
        self.silence
    }

    /// A node's sync: its whole set replaces what it said before.
    pub fn replace_remote(&self, node: &str, moderators: BTreeSet<ModeratorId>, now: Instant) {
        let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        remote.insert(node.to_owned(), RemoteSet { moderators, heard_at: now });
        drop(remote);
        self.changed.notify_one();
    }

    /// The nodes heard from within the silence, and how many moderators each has.
    #[must_use]
    pub fn nodes(&self, now: Instant) -> Vec<(String, usize)> {
        let remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        let mut nodes: Vec<(String, usize)> = remote
            .iter()
            .filter(|(_, set)| now.duration_since(set.heard_at) < self.silence)
            .map(|(node, set)| (node.clone(), set.moderators.len()))
            .collect();
        nodes.sort();
        nodes
    }

    /// Every moderator with a socket somewhere: `local` and the sets of the nodes heard from
    /// within the silence (the others are dropped).
    fn desired(&self, local: &BTreeSet<ModeratorId>, now: Instant) -> BTreeSet<ModeratorId> {
        let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        remote.retain(|node, set| {
            let live = now.duration_since(set.heard_at) < self.silence;
            if !live {
                tracing::warn!(
                    node,
                    moderators = set.moderators.len(),
                    "a node stopped syncing its sockets; its moderators count as gone"
                );
            }
            live
        });
        let mut desired = local.clone();
        for set in remote.values() {
            desired.extend(set.moderators.iter().copied());
        }
        desired
    }

    fn forget_remote(&self) {
        self.remote.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// What the presence task needs to reach the writer from a standby.
pub struct Sync {
    pub client: reqwest::Client,
    pub tokens: Tokens,
    pub node_name: String,
}

/// Whether this node serves as the writer now, and under which epoch (0 on SQLite).
fn serving_epoch(lease: Option<&Lease>) -> Option<i64> {
    match lease {
        None => Some(0),
        Some(lease) => match lease.role() {
            Role::Writer { epoch, .. } if lease.is_serving_writer() => Some(epoch),
            _ => None,
        },
    }
}

/// Keeps the engine's presence equal to the cluster's sockets (on the writer) or keeps the
/// writer told of this node's sockets (on a standby), until `stop`.
pub async fn run(
    cluster: Arc<ClusterPresence>,
    presence: Arc<Presence>,
    writer: WriterHandle,
    lease: Option<Lease>,
    sync: Sync,
    mut stop: watch::Receiver<bool>,
) {
    let mut roles = lease.as_ref().map(Lease::watch);
    let mut tick = tokio::time::interval(SYNC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut served: Option<i64> = None;
    let mut told: BTreeSet<ModeratorId> = BTreeSet::new();
    let mut sync_failing = false;
    loop {
        match serving_epoch(lease.as_ref()) {
            Some(epoch) => {
                if served != Some(epoch) {
                    if lease.is_some() {
                        tracing::info!(
                            epoch,
                            "serving as the writer; rebuilding realtime presence from every node's sockets"
                        );
                    }
                    if let Err(error) = forget_realtime_connections(&writer).await {
                        tracing::warn!(error = %format!("{error:#}"), epoch, "could not reset realtime presence; retrying");
                    } else {
                        served = Some(epoch);
                        told.clear();
                        cluster.forget_remote();
                    }
                }
                if served == Some(epoch) {
                    let desired = cluster.desired(&presence.connected(), Instant::now());
                    apply(&writer, &desired, &mut told).await;
                }
            }
            None => {
                served = None;
                told.clear();
                if let Some(Role::Standby { writer: Some(url) }) = lease.as_ref().map(Lease::role) {
                    let sent = post_set(&sync, &url, &presence.connected()).await;
                    match sent {
                        Ok(()) if sync_failing => {
                            sync_failing = false;
                            tracing::info!(writer = %url, "the writer takes this node's presence again");
                        }
                        Ok(()) => {}
                        Err(error) if !sync_failing => {
                            sync_failing = true;
                            tracing::warn!(writer = %url, %error, "cannot tell the writer which moderators have sockets here; retrying every second");
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        tokio::select! {
            () = presence.changed() => {}
            () = cluster.changed.notified() => {}
            _ = tick.tick() => {}
            () = role_changed(roles.as_mut()) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}

async fn role_changed(roles: Option<&mut watch::Receiver<Role>>) {
    match roles {
        Some(roles) => {
            if roles.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Submits the difference between `desired` and `told`; `told` follows what was applied
/// (or refused for good, like an unknown moderator), so a failed submit is retried. Up to
/// [`PRESENCE_IN_FLIGHT`] changes are in flight at once, so that a takeover's rebuild of
/// thousands of moderators shares group commits instead of waiting for one each.
async fn apply(writer: &WriterHandle, desired: &BTreeSet<ModeratorId>, told: &mut BTreeSet<ModeratorId>) {
    let arrived = desired.difference(told).map(|id| (*id, true));
    let left = told.difference(desired).map(|id| (*id, false));
    let changes: Vec<(ModeratorId, bool)> = arrived.chain(left).collect();
    let outcomes: Vec<_> = stream::iter(changes)
        .map(|(moderator_id, connected)| async move {
            let outcome = writer.submit(Command::RealtimePresence { moderator_id, connected }).await;
            (moderator_id, connected, outcome)
        })
        .buffer_unordered(PRESENCE_IN_FLIGHT)
        .collect()
        .await;
    for (moderator_id, connected, outcome) in outcomes {
        match outcome {
            Ok(_) | Err(WriteError::Rejected(_)) => {
                if connected {
                    told.insert(moderator_id);
                } else {
                    told.remove(&moderator_id);
                }
            }
            Err(error) => {
                tracing::debug!(%moderator_id, connected, %error, "presence change not applied; retrying");
            }
        }
    }
}

async fn post_set(sync: &Sync, writer: &str, moderators: &BTreeSet<ModeratorId>) -> Result<(), String> {
    let token = sync.tokens.mint(Caller::Supervisor, Duration::from_secs(60)).map_err(|error| error.to_string())?;
    let ids: Vec<u64> = moderators.iter().map(|id| id.0).collect();
    let url = format!("{}{SYNC_PATH}", writer.trim_end_matches('/'));
    let answer = sync
        .client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({"node": sync.node_name, "moderators": ids}).to_string())
        .timeout(SYNC_INTERVAL * 2)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("the writer answered {}", answer.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<ModeratorId> {
        ids.iter().copied().map(ModeratorId).collect()
    }

    #[test]
    fn a_moderator_is_connected_on_any_node_until_its_node_falls_silent() {
        let cluster = ClusterPresence::new(Duration::from_secs(1));
        assert_eq!(cluster.silence(), MIN_SILENCE);
        let start = Instant::now();
        cluster.replace_remote("b", set(&[2, 3]), start);
        cluster.replace_remote("c", set(&[3, 4]), start + Duration::from_secs(2));
        assert_eq!(cluster.desired(&set(&[1]), start + Duration::from_secs(1)), set(&[1, 2, 3, 4]));
        // A sync replaces the node's whole set.
        cluster.replace_remote("b", set(&[5]), start + Duration::from_secs(1));
        assert_eq!(cluster.desired(&set(&[]), start + Duration::from_secs(2)), set(&[3, 4, 5]));
        // b silent for 3 s: gone; c still heard.
        assert_eq!(cluster.desired(&set(&[1]), start + Duration::from_secs(4)), set(&[1, 3, 4]));
        assert_eq!(cluster.nodes(start + Duration::from_secs(4)), vec![("c".to_owned(), 2)]);
        cluster.forget_remote();
        assert_eq!(cluster.desired(&set(&[]), start + Duration::from_secs(4)), set(&[]));
    }

    #[test]
    fn the_silence_is_twice_the_lease() {
        assert_eq!(ClusterPresence::new(Duration::from_secs(5)).silence(), Duration::from_secs(10));
    }
}
