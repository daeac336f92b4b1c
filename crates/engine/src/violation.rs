//! What the invariant checker (`invariants.rs`) reports: one broken rule of SPEC §8.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The number of the invariant in SPEC §8 (0: the engine's own bookkeeping).
    pub invariant: u8,
    pub description: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {}: {}", self.invariant, self.description)
    }
}
