//! Counters the embedder reads for its metrics, and the permit that keeps the count of
//! open sockets within `max_sockets`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The counters of a running server. All monotonic except `open_sockets`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    open_sockets: AtomicUsize,
    connections_accepted_total: AtomicU64,
    connections_refused_total: AtomicU64,
    events_published_total: AtomicU64,
    events_delivered_total: AtomicU64,
    slow_consumers_closed_total: AtomicU64,
    client_events_relayed_total: AtomicU64,
    client_events_refused_total: AtomicU64,
    api_requests_refused_total: AtomicU64,
    webhook_events_dropped_total: AtomicU64,
    webhook_batches_delivered_total: AtomicU64,
    webhook_batches_abandoned_total: AtomicU64,
    /// Woken whenever `open_sockets` drops to zero.
    idle: Notify,
}

/// A point-in-time copy of the server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Sockets currently open (accepted and not yet closed).
    pub open_sockets: usize,
    /// Connections that received `pusher:connection_established`.
    pub connections_accepted_total: u64,
    /// Connections refused after the upgrade (unknown key, bad protocol, over capacity).
    pub connections_refused_total: u64,
    /// Calls to [`crate::Realtime::publish`].
    pub events_published_total: u64,
    /// Event frames queued to a socket, summed over all publishes (peers' included).
    pub events_delivered_total: u64,
    /// Sockets closed with 4100 because their outbound queue was full.
    pub slow_consumers_closed_total: u64,
    /// `client-*` events relayed to a channel.
    pub client_events_relayed_total: u64,
    /// `client-*` events refused (disabled, wrong channel, not subscribed, rate limit).
    pub client_events_refused_total: u64,
    /// HTTP-API requests answered with a 4xx.
    pub api_requests_refused_total: u64,
    /// Webhook events dropped because the webhook queue was full.
    pub webhook_events_dropped_total: u64,
    /// Webhook batches the receiver accepted (2xx).
    pub webhook_batches_delivered_total: u64,
    /// Webhook batches dropped after failing for the whole retry window.
    pub webhook_batches_abandoned_total: u64,
}

impl Stats {
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            open_sockets: self.open_sockets.load(Ordering::Relaxed),
            connections_accepted_total: self.connections_accepted_total.load(Ordering::Relaxed),
            connections_refused_total: self.connections_refused_total.load(Ordering::Relaxed),
            events_published_total: self.events_published_total.load(Ordering::Relaxed),
            events_delivered_total: self.events_delivered_total.load(Ordering::Relaxed),
            slow_consumers_closed_total: self.slow_consumers_closed_total.load(Ordering::Relaxed),
            client_events_relayed_total: self.client_events_relayed_total.load(Ordering::Relaxed),
            client_events_refused_total: self.client_events_refused_total.load(Ordering::Relaxed),
            api_requests_refused_total: self.api_requests_refused_total.load(Ordering::Relaxed),
            webhook_events_dropped_total: self.webhook_events_dropped_total.load(Ordering::Relaxed),
            webhook_batches_delivered_total: self.webhook_batches_delivered_total.load(Ordering::Relaxed),
            webhook_batches_abandoned_total: self.webhook_batches_abandoned_total.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn record_accepted(&self) {
        self.connections_accepted_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_refused(&self) {
        self.connections_refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_publish(&self, delivered: usize) {
        self.events_published_total.fetch_add(1, Ordering::Relaxed);
        self.events_delivered_total.fetch_add(u64::try_from(delivered).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A peer's frame reached `delivered` local sockets: deliveries, not a publish.
    pub(crate) fn record_peer_delivery(&self, delivered: usize) {
        self.events_delivered_total.fetch_add(u64::try_from(delivered).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn record_slow_consumer(&self) {
        self.slow_consumers_closed_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_client_events_relayed(&self) {
        self.client_events_relayed_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_client_events_refused(&self) {
        self.client_events_refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_api_requests_refused(&self) {
        self.api_requests_refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_webhook_events_dropped(&self) {
        self.webhook_events_dropped_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_webhook_batches_delivered(&self) {
        self.webhook_batches_delivered_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_webhook_batches_abandoned(&self) {
        self.webhook_batches_abandoned_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until no socket is open.
    pub(crate) async fn wait_until_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before checking, so a release between the two is not missed.
            notified.as_mut().enable();
            if self.open_sockets.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One open socket's share of `max_sockets`; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct SocketPermit {
    stats: Arc<Stats>,
}

impl SocketPermit {
    /// Takes a slot if fewer than `max_sockets` are open.
    pub(crate) fn try_acquire(stats: &Arc<Stats>, max_sockets: usize) -> Option<Self> {
        stats
            .open_sockets
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < max_sockets).then_some(open + 1))
            .ok()
            .map(|_| Self { stats: Arc::clone(stats) })
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        if self.stats.open_sockets.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stats.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_stop_at_the_limit_and_free_on_drop() {
        let stats = Arc::new(Stats::default());
        let first = SocketPermit::try_acquire(&stats, 2);
        let second = SocketPermit::try_acquire(&stats, 2);
        assert!(first.is_some() && second.is_some());
        assert!(SocketPermit::try_acquire(&stats, 2).is_none());
        assert_eq!(stats.snapshot().open_sockets, 2);
        drop(first);
        assert_eq!(stats.snapshot().open_sockets, 1);
        assert!(SocketPermit::try_acquire(&stats, 2).is_some());
        assert_eq!(stats.snapshot().open_sockets, 1);
    }

    #[tokio::test]
    async fn idle_wait_ends_when_the_last_permit_drops() {
        let stats = Arc::new(Stats::default());
        let permit = SocketPermit::try_acquire(&stats, 1).expect("room for one");
        let waiter = tokio::spawn({
            let stats = Arc::clone(&stats);
            async move { stats.wait_until_idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(permit);
        waiter.await.expect("the waiter finishes");
    }
}
