//! Simultaneous connections (SPEC §6): who wins when more moderators connect within
//! `conflict_window` than there are free profiles, recorded as conflicts that participants
//! acknowledge.
//!
//! Connects are processed one at a time, possibly in another order than they happened. The
//! outcome does not depend on that order: the engine remembers every profile a moderator won
//! while connecting within the window (the first one, and any extra that rule 2 gave it at
//! once). A later-processed moderator who finds no free profile first takes a rival's extra
//! profile (one profile each comes before a second for anyone), and otherwise takes the
//! profile of the weakest rival if it outranks it. After any order of processing, the winners
//! are the best-ranked of the group and the others queue by their connection time.

use crate::conflict::{Conflict, ConnectWin};
use crate::event::{AlertKind, AlertSubject, AssignReason, ReleaseReason};
use crate::ids::{ConflictId, ModeratorId, ProfileId, Timestamp};
use crate::model::ModeratorState;
use crate::{ConflictStrategy, Engine, Event};

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
            let won: Vec<ProfileId> = moderator.assignments.keys().copied().collect();
            for profile_id in won {
                self.recent_connect_wins.push(ConnectWin { moderator_id, connected_at, profile_id });
            }
            return;
        }
        if moderator.state != ModeratorState::Queued || !self.indexes.free_profiles.is_empty() {
            return;
        }
        let rivals: Vec<ConnectWin> = self
            .recent_connect_wins
            .iter()
            .filter(|win| win.moderator_id != moderator_id && win.connected_at.since(connected_at) <= window)
            .filter(|win| connected_at.since(win.connected_at) <= window)
            .cloned()
            .collect();
        if rivals.is_empty() {
            return;
        }
        let mut winners: Vec<ModeratorId> = rivals.iter().map(|win| win.moderator_id).collect();
        winners.sort_unstable();
        winners.dedup();
        let mut participants = winners.clone();
        participants.push(moderator_id);
        participants.sort_unstable();

        // A rival holding two profiles from this window gives one up before anyone queues:
        // the weakest such rival, its most recent win.
        let mut wins_per_rival: std::collections::BTreeMap<ModeratorId, Vec<&ConnectWin>> = Default::default();
        for win in &rivals {
            wins_per_rival.entry(win.moderator_id).or_default().push(win);
        }
        let extra = wins_per_rival
            .values()
            .filter(|wins| wins.len() > 1)
            .max_by_key(|wins| self.conflict_rank(wins[0].moderator_id, wins[0].connected_at))
            .and_then(|wins| wins.iter().max_by_key(|win| win.profile_id).map(|win| (*win).clone()));
        if let Some(extra) = extra {
            self.hand_over_profile(
                extra.profile_id,
                moderator_id,
                ReleaseReason::Conflict,
                AssignReason::Conflict,
                extra.connected_at,
            );
            self.recent_connect_wins.retain(|win| win.profile_id != extra.profile_id);
            self.recent_connect_wins.push(ConnectWin { moderator_id, connected_at, profile_id: extra.profile_id });
            winners.push(moderator_id);
            winners.sort_unstable();
            self.record_conflict(participants, winners, Vec::new());
            return;
        }

        let weakest = rivals
            .iter()
            .max_by_key(|win| self.conflict_rank(win.moderator_id, win.connected_at))
            .cloned()
            .expect("rivals is not empty");
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
