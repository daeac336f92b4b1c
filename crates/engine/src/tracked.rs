//! Maps that remember which keys were written, so that the writer can persist exactly the
//! records a batch changed (`Engine::take_changes`): the message ids and the conflicts,
//! which are written once or rarely. The entities, written on every command, are in
//! `slab.rs`, whose changed flags need no sorting.
//!
//! Reading goes through `Deref` to the inner map; the only ways to write are the methods
//! below, and each records its key. No rule can change an entity without it being noted:
//! completeness is structural, not a discipline. A key written but then found absent (a
//! `get_mut` on a missing key) is harmless: the writer finds nothing to store.
//!
//! Keys are `Clone`, not `Copy`: a message id may be a string (shared, so a clone is a
//! reference count), while the integer ids clone as the copies they are.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::ops::Deref;

use rustc_hash::FxHashMap;

#[derive(Clone, Debug)]
pub(crate) struct Tracked<M, K> {
    map: M,
    written: Vec<K>,
}

impl<M: Default, K> Default for Tracked<M, K> {
    fn default() -> Self {
        Tracked { map: M::default(), written: Vec::new() }
    }
}

impl<M: PartialEq, K> PartialEq for Tracked<M, K> {
    /// Two engines are equal when their records are; what was written since the last
    /// `take_changes` is bookkeeping, not state.
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<M, K> Deref for Tracked<M, K> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.map
    }
}

impl<M, K: Ord + Clone> Tracked<M, K> {
    /// Notes a write. A rule usually writes the same entity several times in a row (change a
    /// field, then refile it): only the first of such a run is recorded, which keeps the list
    /// `take_written` sorts short.
    fn note(&mut self, key: K) {
        if self.written.last() != Some(&key) {
            self.written.push(key);
        }
    }

    /// The keys written since the last call, sorted and without repeats.
    pub fn take_written(&mut self) -> Vec<K> {
        let mut written = std::mem::take(&mut self.written);
        written.sort_unstable();
        written.dedup();
        written
    }
}

impl<K: Ord + Clone, V> Tracked<BTreeMap<K, V>, K> {
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.note(key.clone());
        self.map.get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.note(key.clone());
        self.map.insert(key, value)
    }
}

impl<K: Ord + Hash + Clone, V> Tracked<FxHashMap<K, V>, K> {
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.note(key.clone());
        self.map.insert(key, value)
    }
}
