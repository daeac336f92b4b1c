//! Dense storage for the engine's entities: each lives in one slot of a `Vec`, found by id
//! through a map to its compact `u32` handle, and carries a changed flag (a bit) that
//! `take_changed` collects for the writer.
//!
//! Why: a hash map holding whole entities spreads them over a table larger than they are and
//! moves them when it grows; here the table holds only `id -> handle` and the entities sit
//! packed in creation order. A changed flag set on every write replaces the list of written
//! ids that had to be sorted and deduplicated per batch: a flag is set once however often
//! the entity is written, and the flags come out in handle order. While ids were created in
//! ascending order (the usual case: a platform numbers its rows), handle order is id order
//! and nothing is sorted at all.
//!
//! Entities are never removed, so a handle stays valid for the engine's life. Writing goes
//! through `get_mut`, `get_or_insert_with` and `insert` only, and each sets the flag: no rule
//! can change an entity without the writer hearing of it.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::ops::{Index, RangeBounds};

use rustc_hash::FxHashMap;

/// Handles per word of the changed bitmap, and words per bit of its summary.
const WORD_BITS: usize = 64;

#[derive(Clone, Debug)]
pub(crate) struct Slab<K, V> {
    handles: FxHashMap<K, u32>,
    /// Slot `handle` holds the entity and its id.
    entries: Vec<(K, V)>,
    /// One bit per handle: written since the last `take_changed`.
    changed: Vec<u64>,
    /// One bit per word of `changed`: that word is non-zero. `take_changed` visits only
    /// those, so collecting a few flags among millions of entities stays cheap.
    changed_words: Vec<u64>,
    /// Every id was greater than all ids created before it: handle order is id order.
    created_in_id_order: bool,
    /// Handles in id order, kept for slabs that are walked in id order (moderators,
    /// profiles) when creation order is not id order; `None` for the others.
    id_order: Option<BTreeMap<K, u32>>,
    walked_in_id_order: bool,
}

impl<K, V> Slab<K, V> {
    /// A slab whose walks (`values`, `keys`, `range`) go in id order.
    pub fn walked_in_id_order() -> Self {
        Slab { walked_in_id_order: true, ..Slab::unordered() }
    }

    /// A slab whose walks go in no particular (but deterministic) order.
    pub fn unordered() -> Self {
        Slab {
            handles: FxHashMap::default(),
            entries: Vec::new(),
            changed: Vec::new(),
            changed_words: Vec::new(),
            created_in_id_order: true,
            id_order: None,
            walked_in_id_order: false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl<K: Hash + Eq + Ord + Copy, V: PartialEq> PartialEq for Slab<K, V> {
    /// Equal when the same ids hold equal entities, wherever their slots are; the changed
    /// flags are bookkeeping, not state.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.entries.iter().all(|(id, value)| other.get(id) == Some(value))
    }
}

impl<K: Hash + Eq + Ord + Copy, V> Slab<K, V> {
    pub fn get(&self, id: &K) -> Option<&V> {
        let &handle = self.handles.get(id)?;
        Some(&self.entries[handle as usize].1)
    }

    pub fn contains_key(&self, id: &K) -> bool {
        self.handles.contains_key(id)
    }

    /// Entities with their ids: in id order for a slab walked in id order, else in
    /// creation order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let ordered = self.walked_in_id_order && !self.created_in_id_order;
        let by_id = self.id_order.iter().filter(move |_| ordered).flat_map(|order| order.values());
        let by_handle = self.entries.iter().filter(move |_| !ordered);
        by_id.map(|&handle| &self.entries[handle as usize]).chain(by_handle).map(|(id, value)| (id, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(id, _)| id)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, value)| value)
    }

    /// Entities whose ids fall in `range`, in id order (only for slabs walked in id order).
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl Iterator<Item = (&K, &V)> + '_ {
        debug_assert!(self.walked_in_id_order, "a range walk of a slab kept in no order");
        // Created in id order, the slots are sorted by id: the range is a slice of them.
        let slots = if self.created_in_id_order {
            let start = self.entries.partition_point(|(id, _)| match range.start_bound() {
                std::ops::Bound::Included(start) => id < start,
                std::ops::Bound::Excluded(start) => id <= start,
                std::ops::Bound::Unbounded => false,
            });
            let end = self.entries.partition_point(|(id, _)| match range.end_bound() {
                std::ops::Bound::Included(end) => id <= end,
                std::ops::Bound::Excluded(end) => id < end,
                std::ops::Bound::Unbounded => true,
            });
            &self.entries[start..end.max(start)]
        } else {
            &[]
        };
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        let by_id = self
            .id_order
            .iter()
            .filter(|_| !self.created_in_id_order)
            .flat_map(move |order| order.range(bounds))
            .map(|(_, &handle)| &self.entries[handle as usize]);
        slots.iter().chain(by_id).map(|(id, value)| (id, value))
    }

    pub fn get_mut(&mut self, id: &K) -> Option<&mut V> {
        let handle = *self.handles.get(id)?;
        self.mark(handle);
        Some(&mut self.entries[handle as usize].1)
    }

    /// The entity with this id, created by `create` if there is none yet.
    pub fn get_or_insert_with(&mut self, id: K, create: impl FnOnce() -> V) -> &mut V {
        let handle = match self.handles.get(&id) {
            Some(&handle) => handle,
            None => self.create(id, create()),
        };
        self.mark(handle);
        &mut self.entries[handle as usize].1
    }

    /// Stores `value` under `id`, returning the entity it replaces.
    pub fn insert(&mut self, id: K, value: V) -> Option<V> {
        match self.handles.get(&id) {
            Some(&handle) => {
                self.mark(handle);
                Some(std::mem::replace(&mut self.entries[handle as usize].1, value))
            }
            None => {
                let handle = self.create(id, value);
                self.mark(handle);
                None
            }
        }
    }

    /// The ids of the entities written since the last call, in id order, each once.
    pub fn take_changed(&mut self) -> Vec<K> {
        let mut changed = Vec::new();
        for (summary_index, summary) in self.changed_words.iter_mut().enumerate() {
            let mut summary_bits = std::mem::take(summary);
            while summary_bits != 0 {
                let word_index = summary_index * WORD_BITS + summary_bits.trailing_zeros() as usize;
                summary_bits &= summary_bits - 1;
                let mut bits = std::mem::take(&mut self.changed[word_index]);
                while bits != 0 {
                    let handle = word_index * WORD_BITS + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    changed.push(self.entries[handle].0);
                }
            }
        }
        if !self.created_in_id_order {
            changed.sort_unstable();
        }
        changed
    }

    fn mark(&mut self, handle: u32) {
        let handle = handle as usize;
        let word_index = handle / WORD_BITS;
        self.changed[word_index] |= 1 << (handle % WORD_BITS);
        self.changed_words[word_index / WORD_BITS] |= 1 << (word_index % WORD_BITS);
    }

    fn create(&mut self, id: K, value: V) -> u32 {
        let handle = u32::try_from(self.entries.len()).expect("fewer than 2^32 entities of one kind");
        if self.entries.last().is_some_and(|(last, _)| *last > id) && self.created_in_id_order {
            self.created_in_id_order = false;
            if self.walked_in_id_order {
                self.id_order = Some(self.entries.iter().enumerate().map(|(h, (id, _))| (*id, h as u32)).collect());
            }
        }
        if let Some(order) = self.id_order.as_mut() {
            order.insert(id, handle);
        }
        self.handles.insert(id, handle);
        self.entries.push((id, value));
        let words = (self.entries.len()).div_ceil(WORD_BITS);
        if self.changed.len() < words {
            self.changed.push(0);
            if self.changed_words.len() < words.div_ceil(WORD_BITS) {
                self.changed_words.push(0);
            }
        }
        handle
    }
}

impl<K: Hash + Eq + Ord + Copy, V> Index<&K> for Slab<K, V> {
    type Output = V;

    fn index(&self, id: &K) -> &V {
        self.get(id).expect("indexing a slab by a known id")
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn changed_ids_come_out_once_in_id_order_whatever_the_creation_order() {
        for ids in [vec![1u64, 2, 3, 70, 5000], vec![5000, 3, 70, 1, 2]] {
            let mut slab = Slab::walked_in_id_order();
            for &id in &ids {
                slab.insert(id, id * 10);
            }
            assert_eq!(slab.take_changed(), vec![1, 2, 3, 70, 5000]);
            assert_eq!(slab.take_changed(), Vec::<u64>::new(), "flags are cleared once taken");
            *slab.get_mut(&70).expect("created") += 1;
            *slab.get_mut(&2).expect("created") += 1;
            *slab.get_mut(&70).expect("created") += 1;
            assert_eq!(slab.take_changed(), vec![2, 70]);
            assert_eq!(slab.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 70, 5000]);
            assert_eq!(slab.range(3..=70).map(|(&id, &v)| (id, v)).collect::<Vec<_>>(), vec![(3, 30), (70, 702)]);
            assert_eq!(slab.range((std::ops::Bound::Excluded(70), std::ops::Bound::Unbounded)).count(), 1);
        }
    }

    #[test]
    fn slabs_with_the_same_entities_in_other_slots_are_equal() {
        let mut first = Slab::unordered();
        let mut second = Slab::unordered();
        first.insert(1u64, "a");
        first.insert(2, "b");
        second.insert(2, "b");
        second.insert(1, "a");
        assert_eq!(first, second);
        second.insert(1, "c");
        assert_ne!(first, second);
    }
}
