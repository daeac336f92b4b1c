//! The embedder's view of subscriptions: a callback told whenever a socket joins or leaves
//! a channel, so that it can, for example, count a moderator as present while a socket is
//! subscribed to `private-moderator.{id}`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::socket_id::SocketId;

/// Called on every subscription change, from the socket's own task, in the order the
/// changes happen for that socket. It must return quickly and never block: hand the
/// change to a channel if it needs real work. A panic inside it is caught and logged.
pub type SubscriptionHook = Arc<dyn Fn(SubscriptionChange) + Send + Sync>;

/// A socket joined or left a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// The socket is now subscribed (sent after `pusher_internal:subscription_succeeded`
    /// is queued, once per channel even if the client subscribes twice).
    Subscribed {
        /// The subscribing connection.
        socket_id: SocketId,
        /// The full channel name, prefix included (`private-moderator.42`).
        channel: String,
    },
    /// The socket is no longer subscribed.
    Unsubscribed {
        /// The connection that left.
        socket_id: SocketId,
        /// The full channel name, prefix included.
        channel: String,
        /// Whether the client asked or the connection ended.
        cause: UnsubscribeCause,
    },
}

/// Why a socket left a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeCause {
    /// The client sent `pusher:unsubscribe`.
    ClientRequest,
    /// The connection closed, for whatever reason; fired once per channel it held.
    Disconnected,
}

/// Calls the hook, if any, without letting its panic unwind into the socket's task.
pub(crate) fn notify(hook: Option<&SubscriptionHook>, change: SubscriptionChange) {
    let Some(hook) = hook else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| hook(change))).is_err() {
        tracing::error!("the subscription hook panicked; the change was dropped");
    }
}
