//! Read-only answers for the API's GET routes and the engine's replies.

use crate::ids::{ClientId, ConversationKey, ModeratorId, ProfileId};
use crate::model::ModeratorState;
use crate::view::{
    BlockedClient, ClientLockView, LoadReport, LockStatus, ModeratorLoad, ModeratorStatus, ProfileLeaseView, QueuePlace,
};
use crate::Engine;

impl Engine {
    /// API.md's moderator status; an unknown moderator reads as offline with nothing.
    pub fn status(&self, moderator_id: ModeratorId) -> ModeratorStatus {
        let moderator = self.moderators.get(&moderator_id);
        ModeratorStatus {
            moderator_id,
            state: moderator.map_or(ModeratorState::Offline, |m| m.state),
            profiles: moderator.map(|m| m.assignments.keys().copied().collect()).unwrap_or_default(),
            load: moderator.map_or(0, |m| m.load),
            queue: moderator.and_then(|m| m.queue.as_ref()).map(|entry| QueuePlace {
                position: entry.position,
                estimated_wait_seconds: entry.estimated_wait_seconds,
            }),
        }
    }

    pub fn lease_view(&self, profile_id: ProfileId) -> Option<ProfileLeaseView> {
        let lease = self.profiles.get(&profile_id)?.lease.as_ref()?;
        Some(ProfileLeaseView {
            profile_id,
            moderator_id: lease.moderator_id,
            lock_type: lease.lock_type,
            locked_at: lease.locked_at,
            expires_at: lease.expires_at,
            token: lease.token,
        })
    }

    pub fn client_lock_views(&self, client_id: ClientId) -> Vec<ClientLockView> {
        let Some(set) = self.clients.get(&client_id).and_then(|client| client.lock.as_ref()) else {
            return Vec::new();
        };
        set.locks
            .iter()
            .map(|(&profile_id, lock)| ClientLockView {
                client_id,
                profile_id,
                moderator_id: set.moderator_id,
                lock_reason: lock.reason,
                locked_at: lock.locked_at,
                expires_at: lock.expires_at,
                token: lock.token,
            })
            .collect()
    }

    /// API.md `GET /moderateur/locks/status`.
    pub fn lock_status(&self, moderator_id: ModeratorId) -> LockStatus {
        let Some(moderator) = self.moderators.get(&moderator_id) else {
            return LockStatus { profile_locks: Vec::new(), client_locks: Vec::new(), blocked_clients: Vec::new() };
        };
        let profile_locks =
            moderator.assignments.keys().filter_map(|&profile_id| self.lease_view(profile_id)).collect();
        let client_locks = self
            .clients_locked_by(moderator_id)
            .into_iter()
            .flat_map(|client_id| self.client_lock_views(client_id))
            .collect();
        let mut blocked_clients = Vec::new();
        for &profile_id in moderator.assignments.keys() {
            let Some(profile) = self.profiles.get(&profile_id) else { continue };
            for &(_, client_id) in &profile.waiting {
                let Some(set) = self.clients.get(&client_id).and_then(|client| client.lock.as_ref()) else { continue };
                if set.moderator_id != moderator_id {
                    blocked_clients.push(BlockedClient {
                        client_id,
                        profile_id,
                        holder_id: set.moderator_id,
                        expires_at: set.latest_expiry(),
                    });
                }
            }
        }
        LockStatus { profile_locks, client_locks, blocked_clients }
    }

    /// The waiting conversations of a profile, oldest first.
    pub fn waiting_conversations(&self, profile_id: ProfileId) -> Vec<ConversationKey> {
        self.profiles
            .get(&profile_id)
            .map(|profile| {
                profile.waiting.iter().map(|&(_, client_id)| ConversationKey { client_id, profile_id }).collect()
            })
            .unwrap_or_default()
    }

    /// SPEC §7 `generateLoadReport`.
    pub fn load_report(&self) -> LoadReport {
        let seconds = |millis: Option<u64>| millis.map(|m| m as f64 / 1000.0);
        let moderators: Vec<ModeratorLoad> = self
            .moderators
            .values()
            .map(|m| ModeratorLoad {
                moderator_id: m.id,
                state: m.state,
                profiles: m.assignments.keys().copied().collect(),
                load: m.load,
                replies: m.response_times.replies,
                median_response_seconds: seconds(m.response_times.percentile_millis(50)),
                p95_response_seconds: seconds(m.response_times.percentile_millis(95)),
            })
            .collect();
        let working = self.indexes.working_by_load().len() as u32;
        LoadReport {
            total_load: self.indexes.working_load_total(),
            working,
            queued: self.queue_length(),
            mean_load: self.mean_working_load_milli() as f64 / 1000.0,
            free_profiles: self.free_profile_count(),
            orphan_profiles: self.indexes.free_profiles.iter().take_while(|key| key.waiting.0 > 0).count() as u32,
            waiting_conversations: self.profiles.values().map(|p| p.waiting.len() as u64).sum(),
            moderators,
        }
    }
}
