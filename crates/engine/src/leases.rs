//! Profile leases (SPEC §3): renewal by the holder's activity and the announcement of every
//! change (`ProfileLockStatusChanged`). Granting, moving and ending a lease are part of
//! assigning, handing over and releasing a profile (`assignments.rs`); their expiry is a
//! deadline that `Engine::advance` reaches.

use crate::ids::{ProfileId, Timestamp};
use crate::index::Deadline;
use crate::{Engine, Event};

impl Engine {
    /// Pushes a lease's expiry to at least `until` (pinned leases do not expire). Returns
    /// whether the change was announced.
    pub(crate) fn renew_lease(&mut self, profile_id: ProfileId, until: Timestamp) -> bool {
        let profile = self.profiles.get_mut(&profile_id).expect("renewing the lease of a known profile");
        let lease = profile.lease.as_mut().expect("only a held profile's lease is renewed");
        // A pinned lease has no expiry to push.
        let Some(expires_at) = lease.expires_at else { return false };
        if until <= expires_at {
            return false;
        }
        lease.expires_at = Some(until);
        self.deadlines.renewed(Deadline::ProfileLease(profile_id), until);
        // Renewal by activity is announced when the expiry moves by a tenth of the lease's
        // length, not on every keystroke: consoles show an expiry at most that early.
        let step = crate::ids::millis(self.config.profile_lock_ttl / 10).max(1);
        let announce = expires_at.0 / step != until.0 / step;
        if announce {
            self.announce_lease(profile_id);
        }
        announce
    }

    pub(crate) fn announce_lease(&mut self, profile_id: ProfileId) {
        let now = self.now;
        let profile = self.profiles.get(&profile_id).expect("announcing the lease of a known profile");
        let event = match &profile.lease {
            Some(lease) => Event::ProfileLockStatusChanged {
                profile_id,
                locked: true,
                lock_type: Some(lease.lock_type),
                moderator_id: Some(lease.moderator_id),
                duration_seconds: lease.expires_at.map(|at| at.since(now).as_secs()),
                expires_at: lease.expires_at,
            },
            None => Event::ProfileLockStatusChanged {
                profile_id,
                locked: false,
                lock_type: None,
                moderator_id: None,
                duration_seconds: None,
                expires_at: None,
            },
        };
        self.emit(event);
    }
}
