//! Switchboard's side of the Pusher server: which channels are Switchboard's own (no publish
//! from the Pusher HTTP API, no client event: only committed events reach them), who may
//! subscribe to them, publishing committed outbox events under their Laravel-style names,
//! and counting a moderator's socket on its own channel as presence (SPEC §2). The host's
//! own channels (public, private, presence, encrypted) are the host's: its Laravel
//! `/broadcasting/auth` signs them with the same app secret, and its broadcaster publishes
//! to them through the Pusher HTTP API.
//!
//! The protocol itself belongs to `switchboard-pusher`; this module never touches a socket.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use switchboard_engine::{ModeratorId, ProfileId};
use switchboard_pusher::{AuthDenied, Realtime, ReservedChannels, SubscriptionChange, SubscriptionHook};
use switchboard_store::{Clock, EventSink, OutboxEvent, WriterHandle};
use tokio::sync::Notify;

use crate::auth::{parse_positive_id, Caller};

/// The channel every supervisor may follow.
pub const SUPERVISORS_CHANNEL: &str = "private-supervisors";
const MODERATOR_PREFIX: &str = "private-moderator.";
const PROFILE_PREFIX: &str = "private-profile.";

/// Whether `channel` is one of Switchboard's own: `private-moderator.*`,
/// `private-profile.*` or `private-supervisors`.
#[must_use]
pub fn is_switchboard_channel(channel: &str) -> bool {
    channel == SUPERVISORS_CHANNEL || channel.starts_with(MODERATOR_PREFIX) || channel.starts_with(PROFILE_PREFIX)
}

/// The Pusher server's view of Switchboard's own channels.
#[must_use]
pub fn reserved_channels() -> ReservedChannels {
    Arc::new(is_switchboard_channel)
}

/// The service's clock as the Pusher server reads it, so both tell the same time.
pub struct PusherClock(pub Arc<dyn Clock>);

impl switchboard_pusher::Clock for PusherClock {
    fn now_millis(&self) -> u64 {
        self.0.now().0
    }
}

/// Decides `/broadcasting/auth` from the verified caller (the HTTP layer reads the bearer
/// token) and the channel.
#[derive(Clone)]
pub struct ChannelPolicy {
    writer: WriterHandle,
}

impl ChannelPolicy {
    #[must_use]
    pub fn new(writer: WriterHandle) -> Self {
        ChannelPolicy { writer }
    }

    /// A supervisor may have any channel; a moderator its own channel and the channels of
    /// the profiles it holds now; nobody else anything.
    ///
    /// # Errors
    /// The refusal, with a message safe to show.
    pub async fn authorize(&self, caller: Caller, channel: &str) -> Result<(), AuthDenied> {
        match caller {
            Caller::Supervisor => Ok(()),
            Caller::Platform => Err(AuthDenied::new("platform tokens may not subscribe to channels")),
            Caller::Moderator(moderator_id) => {
                if moderator_channel(channel) == Some(moderator_id) {
                    return Ok(());
                }
                if let Some(profile_id) = channel.strip_prefix(PROFILE_PREFIX).and_then(parse_positive_id) {
                    let holder = self
                        .writer
                        .read(move |engine| engine.profile(ProfileId(profile_id)).and_then(|profile| profile.holder()))
                        .await
                        .map_err(|_| AuthDenied::new("the service is unavailable"))?;
                    if holder == Some(moderator_id) {
                        return Ok(());
                    }
                    return Err(AuthDenied::new("only the profile's holder may follow its channel"));
                }
                Err(AuthDenied::new("a moderator may follow its own channel and its profiles' channels only"))
            }
        }
    }
}

/// `private-moderator.{id}` → the id.
#[must_use]
pub fn moderator_channel(channel: &str) -> Option<ModeratorId> {
    channel.strip_prefix(MODERATOR_PREFIX).and_then(parse_positive_id).map(ModeratorId)
}

/// The wire name of an event: `<namespace>\<Name>`, or the bare name with no namespace.
#[must_use]
pub fn wire_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}\\{name}")
    }
}

/// Publishes committed outbox events on the Pusher channels.
pub struct PusherSink {
    realtime: Realtime,
    namespace: String,
    /// Events handed to the Pusher server, and how many socket deliveries they made.
    pub published: AtomicU64,
    /// `AlertRaised` events published.
    pub alerts: AtomicU64,
}

impl PusherSink {
    #[must_use]
    pub fn new(realtime: Realtime, namespace: String) -> Self {
        PusherSink { realtime, namespace, published: AtomicU64::new(0), alerts: AtomicU64::new(0) }
    }
}

impl EventSink for PusherSink {
    fn deliver(&self, events: &[OutboxEvent]) {
        for event in events {
            self.realtime.publish(&event.channel, &wire_name(&self.namespace, &event.name), &event.data);
            self.published.fetch_add(1, Ordering::Relaxed);
            if event.name == "AlertRaised" {
                self.alerts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Counts each moderator's sockets on its own channel and turns the first arrival and the
/// last departure into a signal for `cluster_presence::run`, off the socket tasks.
pub struct Presence {
    sockets: Mutex<HashMap<ModeratorId, usize>>,
    changed: Notify,
}

impl Presence {
    /// An empty count; its [`Presence::hook`] goes to the Pusher server.
    #[must_use]
    pub fn new() -> Arc<Presence> {
        Arc::new(Presence { sockets: Mutex::new(HashMap::new()), changed: Notify::new() })
    }

    /// The subscription hook: never blocks, only counts and forwards.
    #[must_use]
    pub fn hook(self: &Arc<Self>) -> SubscriptionHook {
        let presence = Arc::clone(self);
        Arc::new(move |change| presence.observe(&change))
    }

    /// Resolves after the set of [`Presence::connected`] moderators may have changed (at
    /// once if it changed since the last wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The moderators with at least one socket on their own channel on this node now.
    #[must_use]
    pub fn connected(&self) -> BTreeSet<ModeratorId> {
        self.sockets.lock().map(|sockets| sockets.keys().copied().collect()).unwrap_or_default()
    }

    fn observe(&self, change: &SubscriptionChange) {
        let (channel, joined) = match change {
            SubscriptionChange::Subscribed { channel, .. } => (channel, true),
            SubscriptionChange::Unsubscribed { channel, .. } => (channel, false),
        };
        let Some(moderator_id) = moderator_channel(channel) else { return };
        let Ok(mut sockets) = self.sockets.lock() else { return };
        let count = sockets.entry(moderator_id).or_insert(0);
        let edge = if joined {
            *count += 1;
            *count == 1
        } else {
            *count = count.saturating_sub(1);
            *count == 0
        };
        if *count == 0 {
            sockets.remove(&moderator_id);
        }
        if edge {
            // A stored permit: a burst of edges wakes the reader once.
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_channels() {
        assert_eq!(wire_name("App\\Events", "ProfileAssigned"), "App\\Events\\ProfileAssigned");
        assert_eq!(wire_name("", "ProfileAssigned"), "ProfileAssigned");
        assert_eq!(moderator_channel("private-moderator.7"), Some(ModeratorId(7)));
        assert_eq!(moderator_channel("private-moderator.07x"), None);
        assert_eq!(moderator_channel("private-profile.7"), None);
    }

    #[test]
    fn switchboard_channels_are_told_apart_from_the_hosts() {
        for own in ["private-supervisors", "private-moderator.7", "private-profile.10"] {
            assert!(is_switchboard_channel(own), "{own}");
        }
        for host in
            ["orders", "private-orders.7", "presence-chat.1", "private-encrypted-moderator.7", "private-supervisorsx"]
        {
            assert!(!is_switchboard_channel(host), "{host}");
        }
    }

    #[test]
    fn presence_counts_sockets_on_a_moderators_own_channel() {
        let presence = Presence::new();
        let socket = |n: u64| switchboard_pusher::SocketId::parse(&format!("{n}.1")).expect("socket id");
        let subscribe =
            |n| SubscriptionChange::Subscribed { socket_id: socket(n), channel: "private-moderator.3".into() };
        let leave = |n| SubscriptionChange::Unsubscribed {
            socket_id: socket(n),
            channel: "private-moderator.3".into(),
            cause: switchboard_pusher::UnsubscribeCause::Disconnected,
        };
        let three = BTreeSet::from([ModeratorId(3)]);
        presence.observe(&subscribe(1));
        presence.observe(&subscribe(2));
        assert_eq!(presence.connected(), three);
        presence.observe(&leave(1));
        assert_eq!(presence.connected(), three, "one socket left of two");
        presence.observe(&leave(2));
        assert!(presence.connected().is_empty());
        presence.observe(&SubscriptionChange::Subscribed { socket_id: socket(3), channel: "private-profile.3".into() });
        assert!(presence.connected().is_empty(), "a profile channel is not presence");
    }
}
