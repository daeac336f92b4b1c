//! Who is connected and who listens where: the open sockets and, per channel, the set of
//! subscribed sockets. Publishing is a lookup of one channel's set and a non-blocking push
//! of one shared, pre-serialised frame onto each subscriber's bounded queue.
//!
//! The registry never awaits and never writes to a socket; each socket's own task does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use tokio::sync::{mpsc, watch};

use crate::socket_id::SocketId;

/// A request to close one socket with a WebSocket close code; the first request wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: String,
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

#[derive(Debug, Default)]
pub(crate) struct Registry {
    sockets: DashMap<SocketId, Arc<SocketHandle>>,
    channels: DashMap<String, HashMap<SocketId, Arc<SocketHandle>>>,
}

impl Registry {
    pub(crate) fn add_socket(&self, handle: &Arc<SocketHandle>) {
        self.sockets.insert(handle.socket_id.clone(), Arc::clone(handle));
    }

    pub(crate) fn remove_socket(&self, socket_id: &SocketId) {
        self.sockets.remove(socket_id);
    }

    /// Adds the socket to the channel's set; false if it was already there.
    pub(crate) fn subscribe(&self, channel: &str, handle: &Arc<SocketHandle>) -> bool {
        let mut subscribers = self.channels.entry(channel.to_owned()).or_default();
        subscribers.insert(handle.socket_id.clone(), Arc::clone(handle)).is_none()
    }

    /// Removes the socket from the channel's set, dropping the set once empty; false if it
    /// was not subscribed.
    pub(crate) fn unsubscribe(&self, channel: &str, socket_id: &SocketId) -> bool {
        let (removed, now_empty) = match self.channels.get_mut(channel) {
            Some(mut subscribers) => {
                let removed = subscribers.remove(socket_id).is_some();
                (removed, subscribers.is_empty())
            }
            None => (false, false),
        };
        if now_empty {
            self.channels.remove_if(channel, |_, subscribers| subscribers.is_empty());
        }
        removed
    }

    /// Queues `frame` for every subscriber of `channel`; a subscriber whose queue is full is
    /// asked to close with `slow_consumer_close`.
    pub(crate) fn fan_out(&self, channel: &str, frame: &Utf8Bytes, slow_consumer_close: &CloseRequest) -> FanOut {
        let mut outcome = FanOut::default();
        let Some(subscribers) = self.channels.get(channel) else {
            return outcome;
        };
        for handle in subscribers.values() {
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

    /// Asks every open socket to close; returns how many were asked.
    pub(crate) fn close_all(&self, request: &CloseRequest) -> usize {
        self.sockets.iter().filter(|entry| entry.value().request_close(request.clone())).count()
    }

    /// Asks one socket to close; false if it is not open or already closing.
    pub(crate) fn close_socket(&self, socket_id: &SocketId, request: CloseRequest) -> bool {
        self.sockets.get(socket_id).is_some_and(|handle| handle.request_close(request))
    }

    pub(crate) fn subscriber_count(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, |subscribers| subscribers.len())
    }

    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(id: &str, queue_frames: usize) -> (Arc<SocketHandle>, SocketInbox) {
        SocketHandle::new(SocketId::parse(id).expect("valid id"), queue_frames)
    }

    fn slow() -> CloseRequest {
        CloseRequest { code: 4100, reason: "slow".into() }
    }

    #[test]
    fn fan_out_reaches_only_the_channel_subscribers() {
        let registry = Registry::default();
        let (first, mut first_inbox) = socket("1.1", 4);
        let (second, mut second_inbox) = socket("2.2", 4);
        registry.subscribe("a", &first);
        registry.subscribe("b", &second);
        let frame = Utf8Bytes::from_static("frame");
        assert_eq!(registry.fan_out("a", &frame, &slow()).delivered, 1);
        assert_eq!(first_inbox.outbound.try_recv().ok(), Some(frame));
        assert!(second_inbox.outbound.try_recv().is_err());
        assert_eq!(registry.fan_out("nobody", &Utf8Bytes::from_static("x"), &slow()), FanOut::default());
    }

    #[test]
    fn subscribe_is_idempotent_and_empty_channels_disappear() {
        let registry = Registry::default();
        let (handle, _inbox) = socket("1.1", 4);
        assert!(registry.subscribe("a", &handle));
        assert!(!registry.subscribe("a", &handle));
        assert_eq!(registry.subscriber_count("a"), 1);
        assert!(registry.unsubscribe("a", &handle.socket_id));
        assert!(!registry.unsubscribe("a", &handle.socket_id));
        assert_eq!(registry.channel_count(), 0);
    }

    #[test]
    fn a_full_queue_closes_the_slow_consumer_once() {
        let registry = Registry::default();
        let (handle, inbox) = socket("1.1", 1);
        registry.subscribe("a", &handle);
        let frame = Utf8Bytes::from_static("frame");
        assert_eq!(registry.fan_out("a", &frame, &slow()).delivered, 1);
        assert_eq!(registry.fan_out("a", &frame, &slow()), FanOut { delivered: 0, slow_consumers: 1 });
        assert_eq!(registry.fan_out("a", &frame, &slow()).slow_consumers, 0);
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
}
