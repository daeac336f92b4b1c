//! This process as a node of a PostgreSQL cluster: the writer lease's settings from the
//! configuration, the keeper that holds or asks for the lease (`switchboard_store::Lease`),
//! and what a node does each time it becomes the writer.
//!
//! On SQLite there is no cluster: the one process is the writer from the start. On
//! PostgreSQL every node starts as a standby; the writer task (`switchboard_store::Writer`)
//! loads the state once the lease is granted and drops it when the lease goes. A standby
//! relays the writer's requests to it (`http/forward.rs`) and syncs its sockets' presence
//! to it (`cluster_presence.rs`).
//!
//! Never here: SQL (the lease's lives in the store), HTTP (`http/cluster.rs` reads the lease).

use std::net::SocketAddr;

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt as _};
use switchboard_engine::{Command, ModeratorId};
use switchboard_store::{Lease, LeaseKeeper, LeaseSettings, Role, Store, StoreError, WriterHandle};

use crate::config::Settings;

/// A running node of a cluster: its lease and the task that keeps it.
pub struct Node {
    pub lease: Lease,
    keeper: LeaseKeeper,
}

/// The lease settings of this process: `node_name` defaulting to host:port of `listen`,
/// `advertise_url` to `http://<listen>`.
#[must_use]
pub fn lease_settings(settings: &Settings, addr: SocketAddr) -> LeaseSettings {
    let base = settings.base_url(addr);
    LeaseSettings {
        node_name: settings.cluster.node_name.clone().unwrap_or_else(|| base.trim_start_matches("http://").to_owned()),
        advertise_url: settings.cluster.advertise_url.clone().unwrap_or(base),
        lease: settings.cluster.leader_lease,
    }
}

impl Node {
    /// Starts asking for the writer lease, or `None` on SQLite (one node, always the writer).
    ///
    /// # Errors
    /// The lease could not be started on PostgreSQL.
    pub fn start(store: &Store, settings: &Settings, addr: SocketAddr) -> anyhow::Result<Option<Node>> {
        match Lease::start(store, lease_settings(settings, addr)) {
            Ok((lease, keeper)) => Ok(Some(Node { lease, keeper })),
            Err(StoreError::LeaseNeedsPostgres) => Ok(None),
            Err(error) => Err(error).context("cannot start the writer lease"),
        }
    }

    /// Waits until this node knows its part: the writer serving under its epoch, a standby
    /// of a live writer, or `leader_lease` × 2 passed without either (the database is not
    /// answering: a standby for now). What a node does on each takeover (presence rebuilt)
    /// is `cluster_presence::run`'s.
    pub async fn settle(&mut self) {
        let mut role = self.lease.watch();
        let known = role
            .wait_for(|role| matches!(role, Role::Writer { serving: true, .. } | Role::Standby { writer: Some(_) }));
        let _ = tokio::time::timeout(self.lease.settings().lease * 2, known).await;
    }

    /// Graceful stop, after the writer has stopped: releases the lease (a standby listening
    /// takes it at once).
    pub async fn release(self) {
        self.keeper.release().await;
    }
}

/// The lease's series for `/metrics`: whether this node writes, and the epoch it holds
/// (0 on a standby). Nothing on SQLite.
pub fn render_metrics(lease: Option<&Lease>, out: &mut String) {
    let Some(lease) = lease else { return };
    let epoch = match lease.role() {
        Role::Writer { epoch, .. } if lease.is_serving_writer() => epoch,
        _ => 0,
    };
    crate::prometheus::gauge(
        out,
        "switchboard_cluster_writer",
        "1 while this node is the cluster's serving writer, 0 on a standby.",
        u8::from(epoch > 0),
    );
    crate::prometheus::gauge(
        out,
        "switchboard_cluster_epoch",
        "The writer-lease epoch this node serves under; 0 on a standby.",
        epoch,
    );
}

/// No realtime connection survives a restart or a takeover, whatever the database
/// remembers: every moderator recorded as connected is marked gone now, which also gives each
/// the whole `presence_timeout` to reconnect before the monitor disconnects it.
///
/// # Errors
/// The writer refused the read or a command.
pub async fn forget_realtime_connections(writer: &WriterHandle) -> anyhow::Result<()> {
    let connected: Vec<ModeratorId> = writer
        .read(|engine| engine.moderators().filter(|m| m.realtime_connected).map(|m| m.id).collect())
        .await
        .context("cannot read the restored state")?;
    let outcomes: Vec<_> = stream::iter(connected)
        .map(|moderator_id| writer.submit(Command::RealtimePresence { moderator_id, connected: false }))
        .buffer_unordered(crate::cluster_presence::PRESENCE_IN_FLIGHT)
        .collect()
        .await;
    for outcome in outcomes {
        outcome.context("cannot reset realtime presence")?;
    }
    Ok(())
}
