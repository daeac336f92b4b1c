//! Simultaneous connections (SPEC §6): who wins when more moderators connect within
//! `conflict_window` than there are free profiles, recorded as conflicts that participants
//! acknowledge.
//!
//! Connects are processed one at a time, possibly in another order than they happened. The
//! outcome does not depend on that order: the engine remembers who won a profile by
//! connecting within the window, and a later-processed moderator who outranks the weakest of
//! those winners takes that winner's profile. After any order of processing, the winners are
//! the best-ranked of the group and the others queue by their connection time.

use crate::event::{AlertKind, AlertSubject, AssignReason, ReleaseReason};
use crate::ids::{ConflictId, ModeratorId, ProfileId, Timestamp};
use crate::model::ModeratorState;
use crate::view::ConflictView;
use crate::{ConflictStrategy, Engine, Event};

/// A moderator that won a profile by connecting, remembered for one conflict window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConnectWin {
    pub moderator_id: ModeratorId,
    pub connected_at: Timestamp,
    pub profile_id: ProfileId,
}

/// An `assignment_conflicts` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub conflict_id: ConflictId,
    pub participants: Vec<ModeratorId>,
    pub strategy: ConflictStrategy,
    pub winners: Vec<ModeratorId>,
    pub queued: Vec<ModeratorId>,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<ModeratorId>,
}

impl Conflict {
    pub fn view(&self) -> ConflictView {
        ConflictView {
            conflict_id: self.conflict_id,
            participants: self.participants.clone(),
            strategy: self.strategy.as_str(),
            winners: self.winners.clone(),
            queued: self.queued.clone(),
            created_at: self.created_at,
            resolved_at: self.resolved_at,
            resolved_by: self.resolved_by,
        }
    }
}

impl Engine {
    /// Rank under the configured strategy: smaller is first.
    fn conflict_rank(&self, moderator_id: ModeratorId, connected_at: Timestamp) -> (Timestamp, ModeratorId) {
        match self.config.conflict_strategy {
            ConflictStrategy::Timestamp => (connected_at, moderator_id),
            ConflictStrategy::Id => (Timestamp(0), moderator_id),
        }
    }

    /// Called right after a connect was processed and free profiles were given out.
    pub(crate) fn judge_collision(&mut self, moderator_id: ModeratorId, connected_at: Timestamp) {
        let window = self.config.conflict_window;
        let horizon = self.now.minus(window + window);
        let still_holding = |engine: &Engine, win: &ConnectWin| {
            engine.profiles.get(&win.profile_id).and_then(|profile| profile.holder()) == Some(win.moderator_id)
        };
        let wins = std::mem::take(&mut self.recent_connect_wins);
        self.recent_connect_wins =
            wins.into_iter().filter(|win| win.connected_at >= horizon && still_holding(self, win)).collect();

        let Some(moderator) = self.moderators.get(&moderator_id) else { return };
        if moderator.state == ModeratorState::Working {
            if let Some(&profile_id) = moderator.assignments.keys().next() {
                self.recent_connect_wins.push(ConnectWin { moderator_id, connected_at, profile_id });
            }
            return;
        }
        if moderator.state != ModeratorState::Queued || !self.free_profiles.is_empty() {
            return;
        }
        let rivals: Vec<ConnectWin> = self
            .recent_connect_wins
            .iter()
            .filter(|win| win.moderator_id != moderator_id && win.connected_at.since(connected_at) <= window)
            .filter(|win| connected_at.since(win.connected_at) <= window)
            .cloned()
            .collect();
        let Some(weakest) = rivals.iter().max_by_key(|win| self.conflict_rank(win.moderator_id, win.connected_at))
        else {
            return;
        };
        let weakest = weakest.clone();
        let mut winners: Vec<ModeratorId> = rivals.iter().map(|win| win.moderator_id).collect();
        let mut participants = winners.clone();
        participants.push(moderator_id);
        let queued = if self.conflict_rank(moderator_id, connected_at)
            < self.conflict_rank(weakest.moderator_id, weakest.connected_at)
        {
            self.hand_over_profile(
                weakest.profile_id,
                moderator_id,
                ReleaseReason::Conflict,
                AssignReason::Conflict,
                weakest.connected_at,
            );
            self.recent_connect_wins.retain(|win| win.moderator_id != weakest.moderator_id);
            self.recent_connect_wins.push(ConnectWin { moderator_id, connected_at, profile_id: weakest.profile_id });
            winners.retain(|&id| id != weakest.moderator_id);
            winners.push(moderator_id);
            vec![weakest.moderator_id]
        } else {
            vec![moderator_id]
        };
        winners.sort_unstable();
        participants.sort_unstable();
        self.record_conflict(participants, winners, queued);
    }

    fn record_conflict(&mut self, participants: Vec<ModeratorId>, winners: Vec<ModeratorId>, queued: Vec<ModeratorId>) {
        self.next_conflict_id += 1;
        let conflict_id = ConflictId(self.next_conflict_id);
        let conflict = Conflict {
            conflict_id,
            participants: participants.clone(),
            strategy: self.config.conflict_strategy,
            winners: winners.clone(),
            queued: queued.clone(),
            created_at: self.now,
            resolved_at: None,
            resolved_by: None,
        };
        self.conflicts.insert(conflict_id, conflict);
        for &recipient_id in &participants {
            self.emit(Event::ConflictResolved {
                recipient_id,
                conflict_id,
                participants: participants.clone(),
                strategy: self.config.conflict_strategy.as_str(),
                winners: winners.clone(),
                queued: queued.clone(),
            });
        }
        self.raise_alert(AlertKind::Conflict, AlertSubject::Conflict { conflict_id, participants });
    }
}
