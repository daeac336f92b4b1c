//! The monitoring task (SPEC §7 `ProfileAssignmentMonitoringTask.handle`), in the SPEC's
//! order: expired locks, presence, inactivity, orphan profiles, pending conversations, the
//! queue, balancing, the integrity check, alerts. Also the alerts themselves
//! (`generateAlerts`), each raised once per episode rather than on every run.
//!
//! Every step reads an ordered index from its oldest end and stops at the first entry that
//! is not due, so a run costs in proportion to what it finds, not to the size of the state.

use crate::event::{Alert, AlertKind, AlertSubject};
use crate::ids::{AlertId, ModeratorId};
use crate::view::MonitorReport;
use crate::{Engine, Event, ReleaseReason, RECENT_ALERTS_KEPT};

/// Bound on the orphan profiles listed in one report (all are still handled).
const REPORTED_ORPHANS_MAX: usize = 100;

impl Engine {
    pub(crate) fn run_monitor(&mut self) -> MonitorReport {
        let now = self.now;
        let mut report = MonitorReport {
            expired_leases: std::mem::take(&mut self.expired_leases),
            expired_client_locks: std::mem::take(&mut self.expired_client_locks),
            ..MonitorReport::default()
        };

        while let Some(&(last_seen, moderator_id)) = self.indexes.presence.first() {
            if !last_seen.is_older_than(self.config.presence_timeout, now) {
                break;
            }
            self.disconnect(moderator_id, ReleaseReason::PresenceLost);
            report.disconnected.push(moderator_id);
        }

        while let Some(&(idle_since, moderator_id)) = self.indexes.idle.first() {
            if !idle_since.is_older_than(self.config.inactivity_threshold, now) {
                break;
            }
            self.set_away(moderator_id);
            report.set_away.push(moderator_id);
            if self.indexes.idle.first() == Some(&(idle_since, moderator_id)) {
                // Only a deliberately broken engine leaves it filed; do not spin on it.
                break;
            }
        }

        report.orphan_profiles = self
            .indexes
            .free_profiles
            .iter()
            .take_while(|key| key.waiting.0 > 0)
            .take(REPORTED_ORPHANS_MAX)
            .map(|key| key.profile_id)
            .collect();

        let before = self.assignments_made;
        self.settle();
        self.estimates_stale = true;
        report.moves = self.balance();
        report.assignments = (self.assignments_made - before) as u32;
        report.repairs = self.integrity_sweep();
        report.alerts = self.generate_alerts();
        report
    }

    pub(crate) fn raise_alert(&mut self, kind: AlertKind, subject: AlertSubject) {
        self.next_alert_id += 1;
        let alert = Alert {
            alert_id: AlertId(self.next_alert_id),
            kind,
            severity: kind.severity(),
            subject,
            raised_at: self.now,
        };
        if self.recent_alerts.len() == RECENT_ALERTS_KEPT {
            self.recent_alerts.pop_front();
        }
        self.recent_alerts.push_back(alert.clone());
        self.emit(Event::AlertRaised(alert));
    }

    /// SPEC §7 `generateAlerts`; returns how many were raised.
    fn generate_alerts(&mut self) -> u32 {
        let now = self.now;
        let first_alert = self.next_alert_id;
        let mut overloaded: Vec<ModeratorId> = Vec::new();

        while let Some(&(since, key)) = self.indexes.waiting_unalerted.first() {
            if !since.is_older_than(self.config.response_alert, now) {
                break;
            }
            self.indexes.waiting_unalerted.pop_first();
            let conversation = self.conversation_mut(key);
            conversation.wait_alerted = true;
            let moderator_id = conversation.assigned_to;
            overloaded.extend(moderator_id);
            self.raise_alert(
                AlertKind::ClientWaitingTooLong,
                AlertSubject::Conversation {
                    client_id: key.client_id,
                    profile_id: key.profile_id,
                    moderator_id,
                    waiting_seconds: now.since(since).as_secs(),
                },
            );
        }

        while let Some(&(since, profile_id)) = self.indexes.orphans_unalerted.first() {
            if !since.is_older_than(self.config.orphan_alert_after, now) {
                break;
            }
            let waiting_conversations = self.profiles.get(&profile_id).map_or(0, |p| p.waiting.len() as u32);
            let profile = self.profiles.get_mut(&profile_id).expect("a known profile");
            profile.orphan_alerted = true;
            self.refile_profile(profile_id);
            self.raise_alert(
                AlertKind::OrphanProfile,
                AlertSubject::Profile { profile_id, waiting_conversations, orphan_seconds: now.since(since).as_secs() },
            );
        }

        overloaded.extend(self.overloaded_by_load());
        overloaded.sort_unstable();
        overloaded.dedup();
        let response_alert = self.config.response_alert;
        self.overload_alerted_at.retain(|_, at| !at.is_older_than(response_alert, now));
        for moderator_id in overloaded {
            if self.overload_alerted_at.contains_key(&moderator_id) {
                continue;
            }
            self.overload_alerted_at.insert(moderator_id, now);
            let load = self.moderators.get(&moderator_id).map_or(0, |m| m.load);
            let oldest_waiting_seconds = self.oldest_assigned_wait_seconds(moderator_id);
            let mean_load_milli = self.mean_working_load_milli();
            self.raise_alert(
                AlertKind::ModeratorOverloaded,
                AlertSubject::Moderator { moderator_id, load, mean_load_milli, oldest_waiting_seconds },
            );
        }

        if let Some(since) = self.queue_stalled_since() {
            if !self.queue_stall_alerted && since.is_older_than(self.config.queue_stall_alert, now) {
                self.queue_stall_alerted = true;
                let queue_length = self.queue_length();
                self.raise_alert(
                    AlertKind::QueueStalled,
                    AlertSubject::Queue { queue_length, stalled_seconds: now.since(since).as_secs() },
                );
            }
        }
        (self.next_alert_id - first_alert) as u32
    }

    /// Mean load of working moderators, in thousandths.
    pub(crate) fn mean_working_load_milli(&self) -> u64 {
        let working = self.indexes.working_by_load().len() as u64;
        if working == 0 {
            return 0;
        }
        self.indexes.working_load_total() * 1000 / working
    }

    /// SPEC §7 `identifyOverloadedModerators` by load: above the working mean by at least
    /// `imbalance_threshold`. Reads the load index from the top and stops below the bar.
    fn overloaded_by_load(&self) -> Vec<ModeratorId> {
        let mean_milli = self.mean_working_load_milli();
        let bar_milli = mean_milli + u64::from(self.config.imbalance_threshold) * 1000;
        self.indexes
            .working_by_load()
            .iter()
            .rev()
            .take_while(|&&(load, _)| u64::from(load) * 1000 >= bar_milli && load > 0)
            .map(|&(_, moderator_id)| moderator_id)
            .collect()
    }

    fn oldest_assigned_wait_seconds(&self, moderator_id: ModeratorId) -> u64 {
        let Some(moderator) = self.moderators.get(&moderator_id) else { return 0 };
        moderator
            .assignments
            .iter()
            .flat_map(|(&profile_id, assignment)| {
                assignment.conversations.iter().map(move |&client_id| crate::ConversationKey { client_id, profile_id })
            })
            .filter_map(|key| self.conversations.get(&key)?.waiting_since)
            .min()
            .map_or(0, |since| self.now.since(since).as_secs())
    }
}
