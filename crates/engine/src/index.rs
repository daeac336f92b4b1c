//! The keys of the ordered indexes (their order is the SPEC's order for each decision) and
//! the deadlines of leases and client locks. The sets of keys live in `indexes.rs`.
//!
//! Each entity remembers the keys under which it is currently filed (`ModeratorKeys`,
//! `ProfileKeys`), so re-filing after a change removes exactly the stale key.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

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

/// Expiry instants of leases and client locks, in order. Renewal is lazy: activity only moves
/// the expiry in the record, and a deadline that fires early is filed again at the record's
/// true expiry (`Engine::advance`). Renewing on every keystroke thus costs nothing here; only
/// grants, releases and moves to an earlier instant touch the index.
///
/// `filed` is the truth: where each deadline is filed. The entries that order it may also be
/// stale (a deadline since unfiled or filed elsewhere); an entry counts only while `filed`
/// agrees with it. Stale entries are dropped when they reach the front, which is kept valid
/// after every change, and everything is rebuilt from `filed` when they outnumber the live
/// ones, so memory stays proportional to the deadlines filed.
///
/// Nearly every deadline is filed at now + a TTL that is the same for all deadlines of its
/// kind, hence later than every other of that kind: each kind has a `run`, a queue in
/// ascending order where such an entry is appended and taken from the front in O(1). An
/// entry that would break a run's order goes to `others`, a min-heap. The first deadline is
/// the least of the three fronts; entries are totally ordered, so where an entry sits never
/// changes the order in which deadlines come out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadlines {
    /// Leases, then client locks (`Deadline::kind`).
    runs: [VecDeque<(Timestamp, Deadline)>; 2],
    others: BinaryHeap<Reverse<(Timestamp, Deadline)>>,
    filed: FxHashMap<Deadline, Timestamp>,
}

impl Deadline {
    /// Which of `Deadlines::runs` holds this kind.
    fn kind(self) -> usize {
        match self {
            Deadline::ProfileLease(_) => 0,
            Deadline::ClientLock(..) => 1,
        }
    }
}

/// Where the first entry of `Deadlines` is.
#[derive(Clone, Copy)]
enum Front {
    Run(usize),
    Others,
}

impl PartialEq for Deadlines {
    /// Equal when the same deadlines are filed at the same instants; stale entries are
    /// bookkeeping.
    fn eq(&self, other: &Self) -> bool {
        self.filed == other.filed
    }
}

impl Eq for Deadlines {}

impl Deadlines {
    /// Files `deadline` at exactly `at`.
    pub fn file(&mut self, deadline: Deadline, at: Timestamp) {
        match self.filed.insert(deadline, at) {
            Some(before) if before == at => {}
            before => {
                self.push((at, deadline));
                match before {
                    Some(before) => self.retire((before, deadline), None),
                    None => {
                        self.bound_stale();
                    }
                }
            }
        }
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
        if let Some(at) = self.filed.remove(&deadline) {
            self.retire((at, deadline), None);
        }
    }

    pub fn first(&self) -> Option<(Timestamp, Deadline)> {
        self.front().map(|(_, entry)| entry)
    }

    /// Files the first deadline again at `later`: the renewal `Engine::advance` makes for
    /// most deadlines it reaches. From the front of a run to its back, in O(1).
    pub fn postpone_first(&mut self, later: Timestamp) {
        let Some((front, (at, deadline))) = self.take_front() else { return };
        debug_assert!(later >= at, "postponing a deadline to an earlier instant");
        self.filed.insert(deadline, later);
        self.push((later, deadline));
        self.retire((at, deadline), Some(front));
    }

    pub fn pop_first(&mut self) -> Option<(Timestamp, Deadline)> {
        let (front, (at, deadline)) = self.take_front()?;
        self.filed.remove(&deadline);
        self.retire((at, deadline), Some(front));
        Some((at, deadline))
    }

    pub fn filed_at(&self, deadline: Deadline) -> Option<Timestamp> {
        self.filed.get(&deadline).copied()
    }

    pub fn len(&self) -> usize {
        self.filed.len()
    }

    /// Files exactly `entries` (one per deadline), laid out in expiry order in the runs: the
    /// order does not depend on the order they come in (a hash map's, say).
    pub fn refill(&mut self, entries: Vec<(Timestamp, Deadline)>) {
        let mut entries = entries;
        entries.sort_unstable();
        self.clear();
        for &(at, deadline) in &entries {
            self.filed.insert(deadline, at);
        }
        for entry in entries {
            self.runs[entry.1.kind()].push_back(entry);
        }
    }

    pub fn clear(&mut self) {
        self.clear_entries();
        self.filed.clear();
    }

    /// Appends to the entry's run when that keeps it in order, else files it in `others`.
    fn push(&mut self, entry: (Timestamp, Deadline)) {
        let run = &mut self.runs[entry.1.kind()];
        if run.back().is_none_or(|&last| last <= entry) {
            run.push_back(entry);
        } else {
            self.others.push(Reverse(entry));
        }
    }

    /// The least of the fronts (each is live, see `retire`).
    fn front(&self) -> Option<(Front, (Timestamp, Deadline))> {
        let mut least = self.others.peek().map(|&Reverse(entry)| (Front::Others, entry));
        for (kind, run) in self.runs.iter().enumerate() {
            if let Some(&entry) = run.front() {
                if least.is_none_or(|(_, first)| entry < first) {
                    least = Some((Front::Run(kind), entry));
                }
            }
        }
        least
    }

    /// Removes the first entry without touching `filed`; says where it was.
    fn take_front(&mut self) -> Option<(Front, (Timestamp, Deadline))> {
        let (front, entry) = self.front()?;
        match front {
            Front::Run(kind) => self.runs[kind].pop_front(),
            Front::Others => self.others.pop().map(|Reverse(entry)| entry),
        };
        Some((front, entry))
    }

    /// Drops stale entries from the front of one run, or of `others`.
    fn tidy_front(&mut self, front: Front) {
        let filed = &self.filed;
        let stale = |&(at, deadline): &(Timestamp, Deadline)| filed.get(&deadline) != Some(&at);
        match front {
            Front::Run(kind) => {
                let run = &mut self.runs[kind];
                while run.front().is_some_and(stale) {
                    run.pop_front();
                }
            }
            Front::Others => {
                while self.others.peek().is_some_and(|Reverse(entry)| stale(entry)) {
                    self.others.pop();
                }
            }
        }
    }

    /// Restores "every front entry is live" after `retired` stopped being live (its deadline
    /// was filed elsewhere or unfiled) and, if given, an entry was taken from `taken_from`.
    /// Every front was live before, so no other front can have gone stale: one look-up per
    /// front that changed, not one per front.
    fn retire(&mut self, retired: (Timestamp, Deadline), taken_from: Option<Front>) {
        if self.bound_stale() {
            return;
        }
        for kind in 0..self.runs.len() {
            if self.runs[kind].front() == Some(&retired) || matches!(taken_from, Some(Front::Run(k)) if k == kind) {
                self.tidy_front(Front::Run(kind));
            }
        }
        if self.others.peek() == Some(&Reverse(retired)) || matches!(taken_from, Some(Front::Others)) {
            self.tidy_front(Front::Others);
        }
    }

    /// Rebuilds the entries from `filed` when stale ones outnumber the live ones; says whether
    /// it did (every entry is then live).
    fn bound_stale(&mut self) -> bool {
        let entries = self.runs.iter().map(VecDeque::len).sum::<usize>() + self.others.len();
        if entries > 2 * self.filed.len() + 64 {
            let live: Vec<(Timestamp, Deadline)> = self.filed.iter().map(|(&deadline, &at)| (at, deadline)).collect();
            self.refill(live);
            return true;
        }
        false
    }

    fn clear_entries(&mut self) {
        self.runs.iter_mut().for_each(VecDeque::clear);
        self.others.clear();
    }
}
