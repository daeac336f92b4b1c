//! The map for moderators and profiles: looked up by id on every command, walked in id order
//! only by views, audits and restore. A hash map serves the lookups (at a million profiles, a
//! cache miss or two instead of a B-tree's descent through a node per level) and the sorted set
//! of ids serves the walks. Entities are never removed, so the id set changes only when one is
//! created.
//!
//! Writing goes through `get_mut` and `insert` only (via `Tracked`), so the two never disagree.

use std::collections::BTreeSet;
use std::hash::Hash;
use std::ops::{Index, RangeBounds};

use rustc_hash::FxHashMap;

#[derive(Clone, Debug)]
pub(crate) struct KeyedMap<K, V> {
    map: FxHashMap<K, V>,
    ids: BTreeSet<K>,
}

impl<K, V> Default for KeyedMap<K, V> {
    fn default() -> Self {
        KeyedMap { map: FxHashMap::default(), ids: BTreeSet::new() }
    }
}

impl<K: Hash + Eq, V: PartialEq> PartialEq for KeyedMap<K, V> {
    /// The id set follows from the map.
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K: Ord + Hash + Copy, V> KeyedMap<K, V> {
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Ids in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.ids.iter()
    }

    /// Entities in id order.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.ids.iter().map(|id| &self.map[id])
    }

    /// Entities whose ids fall in `range`, in id order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.ids.range(range).map(|id| (id, &self.map[id]))
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.ids.insert(key);
        self.map.insert(key, value)
    }
}

impl<K: Hash + Eq, V> Index<&K> for KeyedMap<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        &self.map[key]
    }
}
