//! The ordered indexes that make every decision O(log n): each is a `BTreeSet` of keys
//! derived from an entity's fields, so "queue head", "least busy", "best free profile" and
//! "next expiry" are `first()` calls, never scans.
//!
//! Each entity remembers the keys under which it is currently filed (`ModeratorKeys`,
//! `ProfileKeys`), so re-filing after a change removes exactly the stale key.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::ids::{ClientId, ConversationKey, ModeratorId, ProfileId, Timestamp};

/// Queue order (SPEC §5): priority descending, then `queued_at`, then moderator id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey {
    pub priority: Reverse<i32>,
    pub queued_at: Timestamp,
    pub moderator_id: ModeratorId,
}

/// Which free profile a moderator gets (SPEC §4): most waiting conversations, then oldest
/// waiting message, then lowest id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FreeProfileKey {
    pub waiting: Reverse<u32>,
    pub oldest_waiting: Timestamp,
    pub profile_id: ProfileId,
}

/// Least busy working moderator with room for another profile (SPEC §4 rule 2): load, then
/// number of profiles, then time of last assignment, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CapacityKey {
    pub load: u32,
    pub profiles: u32,
    pub last_assigned_at: Timestamp,
    pub moderator_id: ModeratorId,
}

/// Something that happens at an instant unless renewed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Deadline {
    ProfileLease(ProfileId),
    ClientLock(ClientId, ProfileId),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModeratorKeys {
    pub queue: Option<QueueKey>,
    pub capacity: Option<CapacityKey>,
    /// Working moderators by load, for balancing and overload.
    pub load: Option<(u32, ModeratorId)>,
    /// Working moderators with work waiting, by the instant inactivity is counted from.
    pub idle: Option<(Timestamp, ModeratorId)>,
    /// Connected moderators without a realtime connection, by last sign of life.
    pub presence: Option<(Timestamp, ModeratorId)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileKeys {
    pub free: Option<FreeProfileKey>,
    /// Orphans not yet alerted on, by the instant they became orphans.
    pub orphan: Option<(Timestamp, ProfileId)>,
}

/// Waiting conversations not yet alerted on, by the instant they started waiting.
pub type WaitingKey = (Timestamp, ConversationKey);

/// Moves `entry` from `old` to `new` in `set` when they differ; returns whether it moved.
pub(crate) fn refile<K: Ord + Copy>(
    set: &mut std::collections::BTreeSet<K>,
    old: &mut Option<K>,
    new: Option<K>,
) -> bool {
    if *old == new {
        return false;
    }
    if let Some(stale) = old.take() {
        set.remove(&stale);
    }
    if let Some(fresh) = new {
        set.insert(fresh);
    }
    *old = new;
    true
}

/// Expiry instants of leases and client locks, in order. Renewal is lazy: activity only moves
/// the expiry in the record, and a deadline that fires early is filed again at the record's
/// true expiry (`Engine::advance`). Renewing on every keystroke thus costs nothing here; only
/// grants, releases and moves to an earlier instant touch the index.
///
/// `filed` is the truth: where each deadline is filed. `order` is a min-heap over it that may
/// also hold stale entries (a deadline since unfiled or filed elsewhere); an entry counts only
/// while `filed` agrees with it. Stale entries are dropped when they reach the top, which is
/// kept valid after every change, and the heap is rebuilt from `filed` when they outnumber the
/// live ones, so memory stays proportional to the deadlines filed. A heap rather than an
/// ordered set because nearly every deadline is filed later than all others (now + a TTL) and
/// taken from the front: a push there is a comparison or two, a pop one walk down.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadlines {
    order: BinaryHeap<Reverse<(Timestamp, Deadline)>>,
    filed: FxHashMap<Deadline, Timestamp>,
}

impl PartialEq for Deadlines {
    /// Equal when the same deadlines are filed at the same instants; stale heap entries are
    /// bookkeeping.
    fn eq(&self, other: &Self) -> bool {
        self.filed == other.filed
    }
}

impl Eq for Deadlines {}

impl Deadlines {
    /// Files `deadline` at exactly `at`.
    pub fn file(&mut self, deadline: Deadline, at: Timestamp) {
        if self.filed.insert(deadline, at) == Some(at) {
            return;
        }
        self.order.push(Reverse((at, deadline)));
        self.tidy();
    }

    /// The record now expires at `expires_at`: nothing to do unless that is earlier than
    /// where the deadline is filed (or it is not filed at all).
    pub fn renewed(&mut self, deadline: Deadline, expires_at: Timestamp) {
        match self.filed.get(&deadline) {
            Some(&filed) if filed <= expires_at => {}
            _ => self.file(deadline, expires_at),
        }
    }

    pub fn unfile(&mut self, deadline: Deadline) {
        if self.filed.remove(&deadline).is_some() {
            self.tidy();
        }
    }

    pub fn first(&self) -> Option<(Timestamp, Deadline)> {
        self.order.peek().map(|&Reverse(entry)| entry)
    }

    /// Files the first deadline again at `later` (not earlier than where it is filed) in
    /// place: the renewal `Engine::advance` makes for most deadlines it reaches. One walk down
    /// the heap, where taking the entry out and filing it again would cost a pop and a push.
    pub fn postpone_first(&mut self, later: Timestamp) {
        let Some(mut top) = self.order.peek_mut() else { return };
        let Reverse((at, deadline)) = *top;
        debug_assert!(later >= at, "postponing a deadline to an earlier instant");
        *top = Reverse((later, deadline));
        // Dropping `top` moves the entry down to its place.
        drop(top);
        self.filed.insert(deadline, later);
        self.tidy();
    }

    pub fn pop_first(&mut self) -> Option<(Timestamp, Deadline)> {
        let Reverse((at, deadline)) = self.order.pop()?;
        self.filed.remove(&deadline);
        self.tidy();
        Some((at, deadline))
    }

    pub fn filed_at(&self, deadline: Deadline) -> Option<Timestamp> {
        self.filed.get(&deadline).copied()
    }

    pub fn len(&self) -> usize {
        self.filed.len()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.filed.clear();
    }

    /// Restores "the top entry is live" and bounds the stale entries.
    fn tidy(&mut self) {
        if self.order.len() > 2 * self.filed.len() + 64 {
            self.order = self.filed.iter().map(|(&deadline, &at)| Reverse((at, deadline))).collect();
            return;
        }
        while let Some(&Reverse((at, deadline))) = self.order.peek() {
            if self.filed.get(&deadline) == Some(&at) {
                break;
            }
            self.order.pop();
        }
    }
}
