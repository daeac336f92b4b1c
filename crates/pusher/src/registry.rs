//! Who is connected and who listens where: the open sockets and, per channel, the set of
//! subscribed sockets and (presence channels) the members, one per user however many of
//! its sockets are subscribed. Publishing is a lookup of one channel's set and a
//! non-blocking push of one shared, pre-serialised frame onto each subscriber's bounded
//! queue.
//!
//! A presence join or leave and the `member_added` / `member_removed` it causes happen
//! under the channel's lock, so every subscriber sees members come and go in one order.
//! The registry never awaits and never writes to a socket; each socket's own task does.
//!
//! With peers (several servers, `peers.rs`), a presence channel also holds the members the
//! other servers reported, each with the servers it is on. A user counts once however many
//! servers it is on: `member_added` goes out when it first appears anywhere, and
//! `member_removed` when it has left every server. A channel stays while it has local
//! subscribers or remote members; only local subscribers make it occupied.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

use crate::outgoing;
use crate::peers::PeerMember;
use crate::socket_id::SocketId;

/// A request to close one socket with a WebSocket close code; the first request wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

impl CloseRequest {
    /// The HTTP API's `terminate_connections` (4009), on whichever server the socket is.
    pub(crate) fn terminated() -> CloseRequest {
        CloseRequest { code: crate::codes::TERMINATED, reason: "Connection terminated by the application".to_owned() }
    }
}

/// How the rest of the server reaches one socket's task.
#[derive(Debug)]
pub(crate) struct SocketHandle {
    pub(crate) socket_id: SocketId,
    outbound: mpsc::Sender<Utf8Bytes>,
    close: watch::Sender<Option<CloseRequest>>,
}

/// The receiving ends, owned by the socket's task.
pub(crate) struct SocketInbox {
    pub(crate) outbound: mpsc::Receiver<Utf8Bytes>,
    pub(crate) close: watch::Receiver<Option<CloseRequest>>,
}

/// What happened to one frame pushed to one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Queued,
    /// The queue is full: the socket cannot keep up.
    QueueFull,
    /// The socket's task has ended.
    Gone,
}

impl SocketHandle {
    pub(crate) fn new(socket_id: SocketId, queue_frames: usize) -> (Arc<Self>, SocketInbox) {
        let (outbound_sender, outbound_receiver) = mpsc::channel(queue_frames);
        let (close_sender, close_receiver) = watch::channel(None);
        let handle = Arc::new(Self { socket_id, outbound: outbound_sender, close: close_sender });
        let inbox = SocketInbox { outbound: outbound_receiver, close: close_receiver };
        (handle, inbox)
    }

    pub(crate) fn deliver(&self, frame: Utf8Bytes) -> Delivery {
        match self.outbound.try_send(frame) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Delivery::QueueFull,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    /// Asks the socket's task to close; returns false if a close was already requested.
    pub(crate) fn request_close(&self, request: CloseRequest) -> bool {
        self.close.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(request);
            true
        })
    }
}

/// The outcome of one fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FanOut {
    pub(crate) delivered: usize,
    pub(crate) slow_consumers: usize,
}

/// One user on a presence channel, with the sockets through which it is subscribed.
#[derive(Debug)]
struct Member {
    info: Value,
    sockets: Vec<SocketId>,
}

/// A user another server reported on a presence channel, with the servers it is on there.
#[derive(Debug)]
struct RemoteMember {
    info: Value,
    servers: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Channel {
    subscribers: HashMap<SocketId, Arc<SocketHandle>>,
    /// Presence channels only, keyed by user id: the users with a socket on this server.
    members: HashMap<String, Member>,
    /// Presence channels only, keyed by user id: the users other servers reported.
    remote: HashMap<String, RemoteMember>,
    /// The other servers that reported a subscriber of this channel.
    remote_occupied: BTreeSet<String>,
}

impl Channel {
    fn has_user(&self, user_id: &str) -> bool {
        self.members.contains_key(user_id) || self.remote.contains_key(user_id)
    }

    /// Distinct users on this server and on every peer.
    fn user_count(&self) -> usize {
        self.members.len() + self.remote.keys().filter(|user_id| !self.members.contains_key(*user_id)).count()
    }

    /// Nothing left to keep: no local subscriber, no remote member, no other server's subscriber.
    fn is_unused(&self) -> bool {
        self.subscribers.is_empty() && self.remote.is_empty() && self.remote_occupied.is_empty()
    }

    /// A peer's user joined: `member_added` to local subscribers if nobody knew it yet.
    fn peer_joined(
        &mut self,
        channel: &str,
        server: &str,
        user_id: &str,
        info: &Value,
        slow_consumer_close: &CloseRequest,
    ) -> FanOut {
        let known = self.has_user(user_id);
        let member = self
            .remote
            .entry(user_id.to_owned())
            .or_insert_with(|| RemoteMember { info: info.clone(), servers: BTreeSet::new() });
        member.info = info.clone();
        member.servers.insert(server.to_owned());
        if known {
            return FanOut::default();
        }
        self.fan_out(&outgoing::member_added(channel, user_id, info), slow_consumer_close, None)
    }

    /// A peer's user left: `member_removed` to local subscribers if it is now nowhere.
    fn peer_left(&mut self, channel: &str, server: &str, user_id: &str, slow_consumer_close: &CloseRequest) -> FanOut {
        let Some(member) = self.remote.get_mut(user_id) else { return FanOut::default() };
        if !member.servers.remove(server) {
            return FanOut::default();
        }
        if !member.servers.is_empty() {
            return FanOut::default();
        }
        self.remote.remove(user_id);
        if self.members.contains_key(user_id) {
            return FanOut::default();
        }
        self.fan_out(&outgoing::member_removed(channel, user_id), slow_consumer_close, None)
    }

    fn fan_out(&self, frame: &Utf8Bytes, slow_consumer_close: &CloseRequest, except: Option<&SocketId>) -> FanOut {
        let mut outcome = FanOut::default();
        for (socket_id, handle) in &self.subscribers {
            if Some(socket_id) == except {
                continue;
            }
            match handle.deliver(frame.clone()) {
                Delivery::Queued => outcome.delivered += 1,
                Delivery::QueueFull => {
                    if handle.request_close(slow_consumer_close.clone()) {
                        outcome.slow_consumers += 1;
                    }
                }
                Delivery::Gone => {}
            }
        }
        outcome
    }

    /// `pusher_internal:subscription_succeeded`'s data on a presence channel: every server's
    /// users, with the info this server holds when it has the user too.
    fn presence_data(&self) -> String {
        let mut hash: Map<String, Value> =
            self.remote.iter().map(|(user_id, member)| (user_id.clone(), member.info.clone())).collect();
        hash.extend(self.members.iter().map(|(user_id, member)| (user_id.clone(), member.info.clone())));
        let ids: Vec<&String> = hash.keys().collect();
        let data = serde_json::json!({"presence": {"ids": ids, "hash": hash, "count": ids.len()}});
        data.to_string()
    }
}

/// A subscription was added or removed; `occupancy_changed` when the channel went from no
/// subscriber to one (or back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubscriptionEdge {
    pub(crate) changed: bool,
    pub(crate) occupancy_changed: bool,
}

/// A presence subscription made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PresenceJoin {
    /// The member hash for `subscription_succeeded`, as JSON text.
    pub(crate) subscription_data: String,
    /// The user was on no server before: `member_added` went to the others.
    pub(crate) member_added: bool,
    /// The user had no socket on this channel on this server before: peers must hear of it.
    pub(crate) joined_here: bool,
    pub(crate) occupied: bool,
    pub(crate) fan_out: FanOut,
}

/// A presence subscription removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PresenceLeave {
    /// The user is on no server any more: `member_removed` went to the others.
    pub(crate) member_removed: bool,
    /// That was the user's last socket on the channel on this server: peers must hear of it.
    pub(crate) left_here: bool,
    pub(crate) vacated: bool,
    pub(crate) fan_out: FanOut,
}

/// The presence channel already has its most members, and this user is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemberLimitReached;

/// What the HTTP API reports about one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelCounts {
    pub(crate) subscription_count: usize,
    pub(crate) user_count: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    sockets: DashMap<SocketId, Arc<SocketHandle>>,
    channels: DashMap<String, Channel>,
}

impl Registry {
    pub(crate) fn add_socket(&self, handle: &Arc<SocketHandle>) {
        self.sockets.insert(handle.socket_id.clone(), Arc::clone(handle));
    }

    pub(crate) fn remove_socket(&self, socket_id: &SocketId) {
        self.sockets.remove(socket_id);
    }

    /// Adds the socket to the channel's set.
    pub(crate) fn subscribe(&self, channel: &str, handle: &Arc<SocketHandle>) -> SubscriptionEdge {
        let mut state = self.channels.entry(channel.to_owned()).or_default();
        let occupied = state.subscribers.is_empty();
        let changed = state.subscribers.insert(handle.socket_id.clone(), Arc::clone(handle)).is_none();
        SubscriptionEdge { changed, occupancy_changed: occupied && changed }
    }

    /// Removes the socket from the channel's set, dropping the set once empty.
    pub(crate) fn unsubscribe(&self, channel: &str, socket_id: &SocketId) -> SubscriptionEdge {
        let (changed, now_empty) = match self.channels.get_mut(channel) {
            Some(mut state) => {
                let changed = state.subscribers.remove(socket_id).is_some();
                (changed, state.subscribers.is_empty())
            }
            None => (false, false),
        };
        if now_empty {
            self.channels.remove_if(channel, |_, state| state.is_unused());
        }
        SubscriptionEdge { changed, occupancy_changed: changed && now_empty }
    }

    /// Subscribes the socket to a presence channel as `user_id`; when the user is new on
    /// the channel, every other subscriber is sent `member_added`.
    pub(crate) fn join_presence(
        &self,
        channel: &str,
        handle: &Arc<SocketHandle>,
        user_id: &str,
        user_info: &Value,
        max_members: usize,
        slow_consumer_close: &CloseRequest,
    ) -> Result<PresenceJoin, MemberLimitReached> {
        let mut state = self.channels.entry(channel.to_owned()).or_default();
        let new_here = !state.members.contains_key(user_id);
        let new_user = !state.has_user(user_id);
        if new_user && state.user_count() >= max_members {
            let unused = state.is_unused();
            drop(state);
            if unused {
                self.channels.remove_if(channel, |_, state| state.is_unused());
            }
            return Err(MemberLimitReached);
        }
        let occupied = state.subscribers.is_empty();
        state.subscribers.insert(handle.socket_id.clone(), Arc::clone(handle));
        let member = state
            .members
            .entry(user_id.to_owned())
            .or_insert_with(|| Member { info: user_info.clone(), sockets: Vec::new() });
        member.sockets.push(handle.socket_id.clone());
        let fan_out = if new_user {
            let frame = outgoing::member_added(channel, user_id, user_info);
            state.fan_out(&frame, slow_consumer_close, Some(&handle.socket_id))
        } else {
            FanOut::default()
        };
        Ok(PresenceJoin {
            subscription_data: state.presence_data(),
            member_added: new_user,
            joined_here: new_here,
            occupied,
            fan_out,
        })
    }

    /// Removes the socket from a presence channel; when it was the user's last socket
    /// there, the remaining subscribers are sent `member_removed`.
    pub(crate) fn leave_presence(
        &self,
        channel: &str,
        socket_id: &SocketId,
        user_id: &str,
        slow_consumer_close: &CloseRequest,
    ) -> PresenceLeave {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return PresenceLeave::default();
        };
        if state.subscribers.remove(socket_id).is_none() {
            return PresenceLeave::default();
        }
        let mut left_here = false;
        if let Some(member) = state.members.get_mut(user_id) {
            member.sockets.retain(|held| held != socket_id);
            if member.sockets.is_empty() {
                state.members.remove(user_id);
                left_here = true;
            }
        }
        let member_removed = left_here && !state.remote.contains_key(user_id);
        let fan_out = if member_removed {
            state.fan_out(&outgoing::member_removed(channel, user_id), slow_consumer_close, None)
        } else {
            FanOut::default()
        };
        let vacated = state.subscribers.is_empty();
        let unused = state.is_unused();
        drop(state);
        if unused {
            self.channels.remove_if(channel, |_, state| state.is_unused());
        }
        PresenceLeave { member_removed, left_here, vacated, fan_out }
    }

    /// Queues `frame` for every subscriber of `channel` but `except`; a subscriber whose
    /// queue is full is asked to close with `slow_consumer_close`.
    pub(crate) fn fan_out(
        &self,
        channel: &str,
        frame: &Utf8Bytes,
        slow_consumer_close: &CloseRequest,
        except: Option<&SocketId>,
    ) -> FanOut {
        self.channels
            .get(channel)
            .map_or_else(FanOut::default, |state| state.fan_out(frame, slow_consumer_close, except))
    }

    /// Asks every open socket to close; returns how many were asked.
    pub(crate) fn close_all(&self, request: &CloseRequest) -> usize {
        self.sockets.iter().filter(|entry| entry.value().request_close(request.clone())).count()
    }

    /// Asks one socket to close; false if it is not open or already closing.
    pub(crate) fn close_socket(&self, socket_id: &SocketId, request: CloseRequest) -> bool {
        self.sockets.get(socket_id).is_some_and(|handle| handle.request_close(request))
    }

    /// Asks every socket that is `user_id` on some presence channel to close; walks every
    /// channel, which is fine for a call an operator makes by hand.
    pub(crate) fn close_user(&self, user_id: &str, request: &CloseRequest) -> usize {
        let mut sockets: Vec<SocketId> = Vec::new();
        for entry in &self.channels {
            if let Some(member) = entry.value().members.get(user_id) {
                sockets.extend(member.sockets.iter().cloned());
            }
        }
        sockets.sort();
        sockets.dedup();
        sockets.iter().filter(|socket_id| self.close_socket(socket_id, request.clone())).count()
    }

    pub(crate) fn subscriber_count(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, |state| state.subscribers.len())
    }

    /// Channels with at least one local subscriber.
    pub(crate) fn channel_count(&self) -> usize {
        self.channels.iter().filter(|entry| !entry.value().subscribers.is_empty()).count()
    }

    /// Local subscribers and every server's users of one channel, if anyone is on it.
    pub(crate) fn counts(&self, channel: &str) -> Option<ChannelCounts> {
        self.channels
            .get(channel)
            .map(|state| ChannelCounts { subscription_count: state.subscribers.len(), user_count: state.user_count() })
    }

    /// Every occupied channel whose name starts with `prefix`, sorted by name.
    pub(crate) fn occupied_channels(&self, prefix: &str) -> Vec<(String, ChannelCounts)> {
        let mut channels: Vec<(String, ChannelCounts)> = self
            .channels
            .iter()
            .filter(|entry| entry.key().starts_with(prefix) && !entry.value().subscribers.is_empty())
            .map(|entry| {
                let counts = ChannelCounts {
                    subscription_count: entry.value().subscribers.len(),
                    user_count: entry.value().user_count(),
                };
                (entry.key().clone(), counts)
            })
            .collect();
        channels.sort_by(|left, right| left.0.cmp(&right.0));
        channels
    }

    /// The member hash of a presence channel, for a socket that subscribes again.
    pub(crate) fn presence_data(&self, channel: &str) -> String {
        self.channels.get(channel).map_or_else(|| Channel::default().presence_data(), |state| state.presence_data())
    }

    /// The user ids on a presence channel, on every server, sorted.
    pub(crate) fn user_ids(&self, channel: &str) -> Vec<String> {
        let Some(state) = self.channels.get(channel) else { return Vec::new() };
        let users: BTreeSet<&String> = state.members.keys().chain(state.remote.keys()).collect();
        users.into_iter().cloned().collect()
    }

    /// Whether another server reported a subscriber of `channel`: this server's occupancy
    /// edges are then not the cluster's (no `channel_occupied` / `channel_vacated` webhook).
    pub(crate) fn occupied_elsewhere(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|state| !state.remote_occupied.is_empty())
    }

    /// The channels with a subscriber on this server, for a peer that asks.
    pub(crate) fn local_occupied(&self) -> Vec<String> {
        self.channels
            .iter()
            .filter(|entry| !entry.value().subscribers.is_empty())
            .map(|entry| entry.key().clone())
            .collect()
    }

    /// Peer `server` has a subscriber of `channel` now (`true`) or no longer (`false`).
    pub(crate) fn peer_occupancy(&self, server: &str, channel: &str, occupied: bool) {
        if occupied {
            self.channels.entry(channel.to_owned()).or_default().remote_occupied.insert(server.to_owned());
            return;
        }
        let Some(mut state) = self.channels.get_mut(channel) else { return };
        state.remote_occupied.remove(server);
        let unused = state.is_unused();
        drop(state);
        if unused {
            self.channels.remove_if(channel, |_, state| state.is_unused());
        }
    }

    /// Makes `channels` every channel peer `server` has a subscriber of.
    pub(crate) fn replace_peer_occupancy(&self, server: &str, channels: &[String]) {
        let listed: BTreeSet<&str> = channels.iter().map(String::as_str).collect();
        let held: Vec<String> = self
            .channels
            .iter()
            .filter(|entry| entry.value().remote_occupied.contains(server) && !listed.contains(entry.key().as_str()))
            .map(|entry| entry.key().clone())
            .collect();
        for channel in held {
            self.peer_occupancy(server, &channel, false);
        }
        for channel in channels {
            self.peer_occupancy(server, channel, true);
        }
    }

    /// Every user with a socket on a presence channel on this server, for a peer that asks.
    pub(crate) fn local_members(&self) -> Vec<PeerMember> {
        let mut members = Vec::new();
        for entry in &self.channels {
            for (user_id, member) in &entry.value().members {
                members.push(PeerMember {
                    channel: entry.key().clone(),
                    user_id: user_id.clone(),
                    user_info: member.info.clone(),
                });
            }
        }
        members
    }

    /// Peer `server` has `user_id` on `channel` now.
    pub(crate) fn peer_joined(
        &self,
        server: &str,
        channel: &str,
        user_id: &str,
        info: &Value,
        slow_consumer_close: &CloseRequest,
    ) -> FanOut {
        let mut state = self.channels.entry(channel.to_owned()).or_default();
        state.peer_joined(channel, server, user_id, info, slow_consumer_close)
    }

    /// Peer `server` no longer has `user_id` on `channel`.
    pub(crate) fn peer_left(
        &self,
        server: &str,
        channel: &str,
        user_id: &str,
        slow_consumer_close: &CloseRequest,
    ) -> FanOut {
        let Some(mut state) = self.channels.get_mut(channel) else { return FanOut::default() };
        let fan_out = state.peer_left(channel, server, user_id, slow_consumer_close);
        let unused = state.is_unused();
        drop(state);
        if unused {
            self.channels.remove_if(channel, |_, state| state.is_unused());
        }
        fan_out
    }

    /// What peer `server` reported, as (channel, user id) pairs.
    fn peer_memberships(&self, server: &str) -> BTreeSet<(String, String)> {
        let mut held = BTreeSet::new();
        for entry in &self.channels {
            for (user_id, member) in &entry.value().remote {
                if member.servers.contains(server) {
                    held.insert((entry.key().clone(), user_id.clone()));
                }
            }
        }
        held
    }

    /// Makes `members` everything peer `server` has: users it no longer lists leave (with
    /// `member_removed` where they are gone everywhere), new ones join. Returns the fan-outs
    /// by channel.
    pub(crate) fn replace_peer_members(
        &self,
        server: &str,
        members: &[PeerMember],
        slow_consumer_close: &CloseRequest,
    ) -> Vec<(String, FanOut)> {
        let listed: BTreeSet<(String, String)> =
            members.iter().map(|member| (member.channel.clone(), member.user_id.clone())).collect();
        let mut fan_outs = Vec::new();
        for (channel, user_id) in self.peer_memberships(server).difference(&listed) {
            fan_outs.push((channel.clone(), self.peer_left(server, channel, user_id, slow_consumer_close)));
        }
        for PeerMember { channel, user_id, user_info } in members {
            fan_outs
                .push((channel.clone(), self.peer_joined(server, channel, user_id, user_info, slow_consumer_close)));
        }
        fan_outs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn socket(id: &str, queue_frames: usize) -> (Arc<SocketHandle>, SocketInbox) {
        SocketHandle::new(SocketId::parse(id).expect("valid id"), queue_frames)
    }

    fn slow() -> CloseRequest {
        CloseRequest { code: 4100, reason: "slow".into() }
    }

    fn frames(inbox: &mut SocketInbox) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(frame) = inbox.outbound.try_recv() {
            frames.push(serde_json::from_str(frame.as_str()).expect("JSON"));
        }
        frames
    }

    #[test]
    fn fan_out_reaches_only_the_channel_subscribers() {
        let registry = Registry::default();
        let (first, mut first_inbox) = socket("1.1", 4);
        let (second, mut second_inbox) = socket("2.2", 4);
        registry.subscribe("a", &first);
        registry.subscribe("b", &second);
        let frame = Utf8Bytes::from_static("frame");
        assert_eq!(registry.fan_out("a", &frame, &slow(), None).delivered, 1);
        assert_eq!(first_inbox.outbound.try_recv().ok(), Some(frame));
        assert!(second_inbox.outbound.try_recv().is_err());
        assert_eq!(registry.fan_out("nobody", &Utf8Bytes::from_static("x"), &slow(), None), FanOut::default());
    }

    #[test]
    fn fan_out_can_skip_the_sender() {
        let registry = Registry::default();
        let (first, mut first_inbox) = socket("1.1", 4);
        let (second, mut second_inbox) = socket("2.2", 4);
        registry.subscribe("a", &first);
        registry.subscribe("a", &second);
        let frame = Utf8Bytes::from_static("frame");
        assert_eq!(registry.fan_out("a", &frame, &slow(), Some(&first.socket_id)).delivered, 1);
        assert!(first_inbox.outbound.try_recv().is_err());
        assert_eq!(second_inbox.outbound.try_recv().ok(), Some(frame));
    }

    #[test]
    fn subscribe_is_idempotent_and_empty_channels_disappear() {
        let registry = Registry::default();
        let (handle, _inbox) = socket("1.1", 4);
        let (other, _other_inbox) = socket("2.2", 4);
        assert_eq!(registry.subscribe("a", &handle), SubscriptionEdge { changed: true, occupancy_changed: true });
        assert_eq!(registry.subscribe("a", &handle), SubscriptionEdge { changed: false, occupancy_changed: false });
        assert_eq!(registry.subscribe("a", &other), SubscriptionEdge { changed: true, occupancy_changed: false });
        assert_eq!(registry.subscriber_count("a"), 2);
        assert_eq!(
            registry.unsubscribe("a", &other.socket_id),
            SubscriptionEdge { changed: true, occupancy_changed: false }
        );
        assert_eq!(
            registry.unsubscribe("a", &handle.socket_id),
            SubscriptionEdge { changed: true, occupancy_changed: true }
        );
        assert!(!registry.unsubscribe("a", &handle.socket_id).changed);
        assert_eq!(registry.channel_count(), 0);
    }

    #[test]
    fn presence_announces_a_user_once_however_many_sockets_it_has() {
        let registry = Registry::default();
        let (alice_tab_1, mut alice_inbox_1) = socket("1.1", 8);
        let (alice_tab_2, mut alice_inbox_2) = socket("1.2", 8);
        let (bob, mut bob_inbox) = socket("2.1", 8);
        let info = json!({"name": "Alice"});
        let first = registry.join_presence("presence-room", &alice_tab_1, "alice", &info, 10, &slow()).expect("room");
        assert!(first.member_added && first.occupied);
        let joined = registry.join_presence("presence-room", &bob, "bob", &json!(null), 10, &slow()).expect("room");
        let data: Value = serde_json::from_str(&joined.subscription_data).expect("JSON");
        assert_eq!(data["presence"]["count"], 2);
        assert_eq!(data["presence"]["hash"]["alice"], info);
        assert_eq!(frames(&mut alice_inbox_1).len(), 1, "alice saw bob arrive");
        let second_tab =
            registry.join_presence("presence-room", &alice_tab_2, "alice", &info, 10, &slow()).expect("room");
        assert!(!second_tab.member_added);
        assert!(frames(&mut bob_inbox).iter().all(|frame| frame["event"] != "pusher_internal:member_added"));
        assert_eq!(registry.counts("presence-room"), Some(ChannelCounts { subscription_count: 3, user_count: 2 }));

        let left = registry.leave_presence("presence-room", &alice_tab_1.socket_id, "alice", &slow());
        assert!(!left.member_removed);
        assert!(frames(&mut bob_inbox).is_empty());
        let left = registry.leave_presence("presence-room", &alice_tab_2.socket_id, "alice", &slow());
        assert!(left.member_removed && !left.vacated);
        let seen = frames(&mut bob_inbox);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["event"], "pusher_internal:member_removed");
        assert!(frames(&mut alice_inbox_2).is_empty(), "a user is never told about itself");
        let left = registry.leave_presence("presence-room", &bob.socket_id, "bob", &slow());
        assert!(left.member_removed && left.vacated);
        assert_eq!(registry.channel_count(), 0);
    }

    #[test]
    fn a_full_presence_channel_refuses_new_users_but_not_known_ones() {
        let registry = Registry::default();
        let (first, _first_inbox) = socket("1.1", 8);
        let (second, _second_inbox) = socket("1.2", 8);
        let (third, _third_inbox) = socket("2.1", 8);
        registry.join_presence("presence-room", &first, "alice", &json!(null), 1, &slow()).expect("room");
        assert!(registry.join_presence("presence-room", &second, "alice", &json!(null), 1, &slow()).is_ok());
        assert_eq!(
            registry.join_presence("presence-room", &third, "bob", &json!(null), 1, &slow()),
            Err(MemberLimitReached)
        );
        assert_eq!(registry.subscriber_count("presence-room"), 2);
        assert_eq!(
            registry.join_presence("presence-full", &third, "bob", &json!(null), 0, &slow()),
            Err(MemberLimitReached)
        );
        assert_eq!(registry.channel_count(), 1, "a refused join leaves no empty channel behind");
    }

    #[test]
    fn a_full_queue_closes_the_slow_consumer_once() {
        let registry = Registry::default();
        let (handle, inbox) = socket("1.1", 1);
        registry.subscribe("a", &handle);
        let frame = Utf8Bytes::from_static("frame");
        assert_eq!(registry.fan_out("a", &frame, &slow(), None).delivered, 1);
        assert_eq!(registry.fan_out("a", &frame, &slow(), None), FanOut { delivered: 0, slow_consumers: 1 });
        assert_eq!(registry.fan_out("a", &frame, &slow(), None).slow_consumers, 0);
        assert_eq!(*inbox.close.borrow(), Some(slow()));
    }

    #[test]
    fn close_all_reaches_every_open_socket() {
        let registry = Registry::default();
        let (first, first_inbox) = socket("1.1", 1);
        let (second, second_inbox) = socket("2.2", 1);
        registry.add_socket(&first);
        registry.add_socket(&second);
        let request = CloseRequest { code: 4200, reason: "restart".into() };
        assert_eq!(registry.close_all(&request), 2);
        assert_eq!(*first_inbox.close.borrow(), Some(request.clone()));
        assert_eq!(*second_inbox.close.borrow(), Some(request.clone()));
        registry.remove_socket(&first.socket_id);
        assert!(!registry.close_socket(&first.socket_id, request));
    }

    #[test]
    fn close_user_reaches_only_that_users_sockets() {
        let registry = Registry::default();
        let (alice, alice_inbox) = socket("1.1", 4);
        let (bob, bob_inbox) = socket("2.1", 4);
        registry.add_socket(&alice);
        registry.add_socket(&bob);
        registry.join_presence("presence-a", &alice, "alice", &json!(null), 10, &slow()).expect("room");
        registry.join_presence("presence-b", &alice, "alice", &json!(null), 10, &slow()).expect("room");
        registry.join_presence("presence-a", &bob, "bob", &json!(null), 10, &slow()).expect("room");
        let request = CloseRequest { code: 4009, reason: "terminated".into() };
        assert_eq!(registry.close_user("alice", &request), 1);
        assert_eq!(*alice_inbox.close.borrow(), Some(request));
        assert_eq!(*bob_inbox.close.borrow(), None);
    }

    #[test]
    fn other_servers_subscribers_keep_a_channel_occupied() {
        let registry = Registry::default();
        let (handle, _inbox) = socket("1.1", 4);
        registry.peer_occupancy("b", "news", true);
        assert!(registry.occupied_elsewhere("news"));
        assert_eq!(registry.channel_count(), 0, "occupancy here counts local subscribers only");
        registry.subscribe("news", &handle);
        assert!(registry.unsubscribe("news", &handle.socket_id).occupancy_changed, "this server's last left");
        assert!(registry.occupied_elsewhere("news"), "the other server still has one");
        registry.peer_occupancy("b", "news", false);
        assert!(!registry.occupied_elsewhere("news"));
        assert_eq!(registry.channels.len(), 0, "an unused channel is dropped");

        registry.replace_peer_occupancy("b", &["x".to_owned(), "y".to_owned()]);
        registry.replace_peer_occupancy("b", &["y".to_owned()]);
        assert!(!registry.occupied_elsewhere("x"));
        assert!(registry.occupied_elsewhere("y"));
        registry.replace_peer_occupancy("b", &[]);
        assert_eq!(registry.channels.len(), 0);
    }
}
