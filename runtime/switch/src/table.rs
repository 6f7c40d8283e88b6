//! Table contents and lookup.
//!
//! Tables whose keys are all exact, or exact and one lpm, are hashed: one
//! hash map per prefix length, probed longest first. Other tables (ternary,
//! range, optional keys) are scanned in priority order. Priorities follow
//! P4Runtime: the larger number wins; among equal priorities the entry
//! added first wins.

use crate::bits::mask;
use crate::meter::Meter;
use crate::program::{ActionCall, KeyInfo, MatchKind};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// How one key field of an entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMatch {
    Exact(u128),
    Lpm {
        value: u128,
        prefix_len: u32,
    },
    Ternary {
        value: u128,
        mask: u128,
    },
    Range {
        low: u128,
        high: u128,
    },
    /// An optional key: `None` matches anything.
    Optional(Option<u128>),
}

/// A small multiplicative hasher for keys made of 128-bit words.
#[derive(Default, Clone, Copy)]
pub(crate) struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type WordMap = HashMap<Box<[u128]>, u32, BuildHasherDefault<WordHasher>>;

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub keys: Vec<KeyMatch>,
    pub call: ActionCall,
    pub priority: u32,
    /// Per key field: the value and mask compared, and the range for range keys.
    value: Vec<u128>,
    masks: Vec<u128>,
    ranges: Vec<Option<(u128, u128)>>,
    seq: u64,
    pub packets: u64,
    pub bytes: u64,
    pub meter: Meter,
}

/// An open-addressing map from packed keys to entry handles: linear
/// probing in a power-of-two array kept at most half full, deletion by
/// shifting the entries after the removed one back (no tombstones), so
/// that a lookup is a multiply, a shift and, mostly, one compare.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedMap {
    /// `(key, handle)`; [`PackedMap::EMPTY`] as the handle marks a free slot.
    slots: Vec<(u128, u32)>,
    len: usize,
    /// `64 - log2(slots.len())`: the hash's top bits pick the slot.
    shift: u32,
}

impl PackedMap {
    const EMPTY: u32 = u32::MAX;

    /// The slot a key starts its probe at (Fibonacci hashing of the key
    /// folded to 64 bits).
    #[inline(always)]
    fn home(&self, key: u128) -> usize {
        let x = (key as u64) ^ ((key >> 64) as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    pub(crate) fn get(&self, key: u128) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let m = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let (k, h) = self.slots[i & m];
            if h == Self::EMPTY {
                return None;
            }
            if k == key {
                return Some(h);
            }
            i += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the handle of `key`.
    pub(crate) fn insert(&mut self, key: u128, handle: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let m = self.slots.len() - 1;
        let mut i = self.home(key) & m;
        loop {
            let slot = &mut self.slots[i];
            if slot.1 == Self::EMPTY {
                *slot = (key, handle);
                self.len += 1;
                return;
            }
            if slot.0 == key {
                slot.1 = handle;
                return;
            }
            i = (i + 1) & m;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, vec![(0, Self::EMPTY); cap]);
        self.shift = 64 - cap.trailing_zeros();
        self.len = 0;
        for (k, h) in old {
            if h != Self::EMPTY {
                self.insert(k, h);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: u128) {
        if self.len == 0 {
            return;
        }
        let m = self.slots.len() - 1;
        let mut i = self.home(key) & m;
        loop {
            let (k, h) = self.slots[i];
            if h == Self::EMPTY {
                return;
            }
            if k == key {
                break;
            }
            i = (i + 1) & m;
        }
        // Shift back the entries of the run after `i` that may not stay
        // past the hole: those whose home is not cyclically in (i, j].
        let mut j = i;
        loop {
            j = (j + 1) & m;
            let (k, h) = self.slots[j];
            if h == Self::EMPTY {
                break;
            }
            let home = self.home(k) & m;
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = (0, Self::EMPTY);
        self.len -= 1;
    }
}

#[derive(Debug, Clone)]
struct Group {
    prefix: u32,
    masks: Vec<u128>,
    /// The masks packed, for tables whose keys fit in 128 bits.
    packed_mask: u128,
    /// Entries by their values, for keys over 128 bits in all.
    map: WordMap,
    /// Entries by their packed values, for keys of 128 bits or fewer.
    packed: PackedMap,
}

/// Key values side by side, the first key in the most significant bits.
#[inline]
fn pack(values: &[u128], widths: &[u32]) -> u128 {
    values
        .iter()
        .zip(widths)
        .fold(0u128, |acc, (v, w)| acc.checked_shl(*w).unwrap_or(0) | v)
}

/// An entry's key as a hashed table's index holds it: packed (with the
/// packed masks of its group), or as words.
enum IndexKey {
    Packed(u128, u128),
    Words(Box<[u128]>),
}

#[derive(Debug, Clone)]
enum Index {
    Hashed(Vec<Group>),
    /// Handles, best first.
    Scan(Vec<u32>),
}

#[derive(Debug, Clone)]
pub(crate) struct TableState {
    pub slots: Vec<Option<Stored>>,
    free: Vec<u32>,
    index: Index,
    pub default: ActionCall,
    pub len: u32,
    seq: u64,
    /// Key widths, when they add up to 128 bits or fewer and the table is
    /// hashed: keys are then looked up as one packed number.
    packed_widths: Option<Vec<u32>>,
    /// Key widths, when they add up to 128 bits or fewer, the table is
    /// scanned and has no range key: every entry is then also kept as its
    /// packed value and mask, in [`TableState::scan`].
    scan_widths: Option<Vec<u32>>,
    /// `packed_widths` or `scan_widths` is set (see
    /// [`TableState::is_packed`]).
    packed: bool,
    /// `(value, mask, handle)` of every entry, packed as
    /// [`TableState::lookup_packed`] takes keys, best first (the order of
    /// [`Index::Scan`]); empty unless `scan_widths` is set.
    scan: Vec<(u128, u128, u32)>,
}

impl TableState {
    pub(crate) fn new(keys: &[KeyInfo], default: ActionCall) -> TableState {
        let hashed = keys
            .iter()
            .all(|k| matches!(k.kind, MatchKind::Exact | MatchKind::Lpm));
        let packed_widths: Option<Vec<u32>> = (hashed
            && keys.iter().map(|k| k.width).sum::<u32>() <= 128)
            .then(|| keys.iter().map(|k| k.width).collect());
        let scan_widths: Option<Vec<u32>> = (!hashed
            && keys.iter().all(|k| k.kind != MatchKind::Range)
            && keys.iter().map(|k| k.width).sum::<u32>() <= 128)
            .then(|| keys.iter().map(|k| k.width).collect());
        TableState {
            slots: vec![],
            free: vec![],
            index: if hashed {
                Index::Hashed(vec![])
            } else {
                Index::Scan(vec![])
            },
            default,
            len: 0,
            seq: 0,
            packed: packed_widths.is_some() || scan_widths.is_some(),
            packed_widths,
            scan_widths,
            scan: vec![],
        }
    }

    /// Lays out [`TableState::scan`] again from the scan order.
    fn repack_scan(&mut self) {
        let (Some(w), Index::Scan(order)) = (&self.scan_widths, &self.index) else {
            return;
        };
        self.scan.clear();
        for &h in order {
            if let Some(s) = &self.slots[h as usize] {
                self.scan.push((pack(&s.value, w), pack(&s.masks, w), h));
            }
        }
    }

    /// Checks `keys` against the table's key fields and returns the stored
    /// form's value, masks, ranges and prefix length.
    #[allow(clippy::type_complexity)]
    pub(crate) fn normalise(
        info: &[KeyInfo],
        keys: &[KeyMatch],
    ) -> Result<(Vec<u128>, Vec<u128>, Vec<Option<(u128, u128)>>, u32), String> {
        if keys.len() != info.len() {
            return Err(format!(
                "{} key fields given, the table has {}",
                keys.len(),
                info.len()
            ));
        }
        let n = keys.len();
        let (mut value, mut masks, mut ranges, mut prefix) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            0,
        );
        for (k, m) in info.iter().zip(keys) {
            let full = mask(k.width);
            let fits = |v: u128, what: &str| {
                if v & !full != 0 {
                    Err(format!(
                        "key `{}`: {what} {v:#x} does not fit in {} bits",
                        k.name, k.width
                    ))
                } else {
                    Ok(v)
                }
            };
            let (v, mk, r) = match (k.kind, m) {
                (MatchKind::Exact, KeyMatch::Exact(v)) => (fits(*v, "value")?, full, None),
                (MatchKind::Lpm, KeyMatch::Lpm { value, prefix_len }) => {
                    if *prefix_len > k.width {
                        return Err(format!("key `{}`: prefix length {prefix_len} is longer than the field ({} bits)", k.name, k.width));
                    }
                    prefix += prefix_len;
                    let pm = if *prefix_len == 0 {
                        0
                    } else {
                        full & !mask(k.width - prefix_len)
                    };
                    (fits(*value, "value")? & pm, pm, None)
                }
                (MatchKind::Lpm, KeyMatch::Exact(v)) => {
                    prefix += k.width;
                    (fits(*v, "value")?, full, None)
                }
                (MatchKind::Ternary, KeyMatch::Ternary { value, mask }) => {
                    let mk = fits(*mask, "mask")?;
                    (fits(*value, "value")? & mk, mk, None)
                }
                (MatchKind::Ternary | MatchKind::Optional, KeyMatch::Exact(v)) => {
                    (fits(*v, "value")?, full, None)
                }
                (MatchKind::Optional, KeyMatch::Optional(Some(v))) => {
                    (fits(*v, "value")?, full, None)
                }
                (MatchKind::Optional, KeyMatch::Optional(None)) => (0, 0, None),
                (MatchKind::Optional, KeyMatch::Ternary { value, mask })
                    if *mask == 0 || *mask == full =>
                {
                    (fits(*value, "value")? & mask, *mask, None)
                }
                (MatchKind::Range, KeyMatch::Range { low, high }) => {
                    fits(*low, "low bound")?;
                    fits(*high, "high bound")?;
                    if low > high {
                        return Err(format!("key `{}`: empty range {low:#x}..{high:#x}", k.name));
                    }
                    (0, 0, Some((*low, *high)))
                }
                (MatchKind::Range, KeyMatch::Exact(v)) => (0, 0, Some((fits(*v, "value")?, *v))),
                (kind, m) => {
                    return Err(format!(
                        "key `{}` is {kind:?} but the entry gives {m:?}",
                        k.name
                    ))
                }
            };
            value.push(v);
            masks.push(mk);
            ranges.push(r);
        }
        Ok((value, masks, ranges, prefix))
    }

    /// The handle of an entry with the same match (and, for scanned
    /// tables, the same priority).
    pub(crate) fn find(
        &self,
        info: &[KeyInfo],
        keys: &[KeyMatch],
        priority: u32,
    ) -> Result<Option<u32>, String> {
        let (value, masks, ranges, _) = Self::normalise(info, keys)?;
        Ok(self.find_normalised(&value, &masks, &ranges, priority))
    }

    /// [`TableState::find`] for keys [`TableState::normalise`] has checked.
    fn find_normalised(
        &self,
        value: &[u128],
        masks: &[u128],
        ranges: &[Option<(u128, u128)>],
        priority: u32,
    ) -> Option<u32> {
        match &self.index {
            Index::Hashed(groups) => {
                groups
                    .iter()
                    .find(|g| g.masks == masks)
                    .and_then(|g| match &self.packed_widths {
                        Some(w) => g.packed.get(pack(value, w)),
                        None => g.map.get(value).copied(),
                    })
            }
            Index::Scan(order) => order.iter().copied().find(|h| {
                self.slots[*h as usize].as_ref().is_some_and(|s| {
                    s.value == value
                        && s.masks == masks
                        && s.ranges == ranges
                        && s.priority == priority
                })
            }),
        }
    }

    /// Adds an entry whose keys and action were checked by the caller.
    pub(crate) fn insert(
        &mut self,
        info: &[KeyInfo],
        keys: Vec<KeyMatch>,
        call: ActionCall,
        priority: u32,
    ) -> Result<u32, InsertError> {
        let (value, masks, ranges, prefix) =
            Self::normalise(info, &keys).map_err(InsertError::Bad)?;
        if let Some(h) = self.find_normalised(&value, &masks, &ranges, priority) {
            return Err(InsertError::Duplicate(h));
        }
        // What the index needs of the key, taken before the stored entry
        // owns it.
        let (group_masks, index_key) = match &self.index {
            Index::Hashed(groups) => (
                (!groups.iter().any(|g| g.masks == masks)).then(|| masks.clone()),
                match &self.packed_widths {
                    Some(w) => IndexKey::Packed(pack(&value, w), pack(&masks, w)),
                    None => IndexKey::Words(value.clone().into_boxed_slice()),
                },
            ),
            Index::Scan(_) => (None, IndexKey::Packed(0, 0)),
        };
        self.seq += 1;
        let stored = Stored {
            keys,
            call,
            priority,
            value,
            masks,
            ranges,
            seq: self.seq,
            packets: 0,
            bytes: 0,
            meter: Meter::default(),
        };
        let handle = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize] = Some(stored);
                h
            }
            None => {
                self.slots.push(Some(stored));
                self.slots.len() as u32 - 1
            }
        };
        match &mut self.index {
            Index::Hashed(groups) => {
                let packed_mask = match index_key {
                    IndexKey::Packed(_, m) => m,
                    IndexKey::Words(_) => 0,
                };
                if let Some(masks) = group_masks {
                    groups.push(Group {
                        prefix,
                        packed_mask,
                        masks,
                        map: WordMap::default(),
                        packed: PackedMap::default(),
                    });
                    groups.sort_by_key(|g| std::cmp::Reverse(g.prefix));
                }
                let masks = &self.slots[handle as usize]
                    .as_ref()
                    .map_or(&[][..], |s| s.masks.as_slice());
                let gi = groups.iter().position(|g| g.masks == *masks).unwrap_or(0);
                match index_key {
                    IndexKey::Packed(key, _) => groups[gi].packed.insert(key, handle),
                    IndexKey::Words(key) => {
                        groups[gi].map.insert(key, handle);
                    }
                }
            }
            Index::Scan(order) => {
                order.push(handle);
                let slots = &self.slots;
                let rank = |h: &u32| {
                    slots[*h as usize]
                        .as_ref()
                        .map_or((0, 0), |s| (s.priority, s.seq))
                };
                order.sort_by(|a, b| {
                    let (pa, sa) = rank(a);
                    let (pb, sb) = rank(b);
                    pb.cmp(&pa).then(sa.cmp(&sb))
                });
            }
        }
        self.repack_scan();
        self.len += 1;
        Ok(handle)
    }

    pub(crate) fn remove(&mut self, handle: u32) -> Option<Stored> {
        let stored = self.slots.get_mut(handle as usize)?.take()?;
        match &mut self.index {
            Index::Hashed(groups) => {
                if let Some(gi) = groups.iter().position(|g| g.masks == stored.masks) {
                    let g = &mut groups[gi];
                    match &self.packed_widths {
                        Some(w) => {
                            g.packed.remove(pack(&stored.value, w));
                        }
                        None => {
                            g.map.remove(stored.value.as_slice());
                        }
                    }
                    if g.map.is_empty() && g.packed.is_empty() {
                        groups.remove(gi);
                    }
                }
            }
            Index::Scan(order) => order.retain(|h| *h != handle),
        }
        self.repack_scan();
        self.free.push(handle);
        self.len -= 1;
        Some(stored)
    }

    pub(crate) fn get_mut(&mut self, handle: u32) -> Option<&mut Stored> {
        self.slots.get_mut(handle as usize).and_then(Option::as_mut)
    }

    pub(crate) fn get(&self, handle: u32) -> Option<&Stored> {
        self.slots.get(handle as usize).and_then(Option::as_ref)
    }

    /// Whether lookups may take the key fields packed into one number, the
    /// first key in the most significant bits (see
    /// [`TableState::lookup_packed`]).
    #[inline]
    pub(crate) fn is_packed(&self) -> bool {
        self.packed
    }

    /// The entry matching a key packed as [`TableState::is_packed`] says:
    /// the same entry [`TableState::lookup`] finds for the key fields.
    #[inline]
    pub(crate) fn lookup_packed(&self, key: u128) -> Option<u32> {
        match &self.index {
            Index::Hashed(groups) => groups
                .iter()
                .find_map(|g| g.packed.get(key & g.packed_mask)),
            Index::Scan(_) => self
                .scan
                .iter()
                .find(|(v, m, _)| key & m == *v)
                .map(|e| e.2),
        }
    }

    /// The entry matching `key` (one value per key field), if any.
    /// `scratch` is working space, kept by the caller to avoid allocation.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u128], scratch: &mut Vec<u128>) -> Option<u32> {
        match &self.index {
            Index::Hashed(groups) => {
                if let Some(w) = &self.packed_widths {
                    let k = pack(key, w);
                    return groups.iter().find_map(|g| g.packed.get(k & g.packed_mask));
                }
                for g in groups {
                    scratch.clear();
                    scratch.extend(key.iter().zip(&g.masks).map(|(k, m)| k & m));
                    if let Some(h) = g.map.get(scratch.as_slice()) {
                        return Some(*h);
                    }
                }
                None
            }
            Index::Scan(order) => order.iter().copied().find(|h| {
                let Some(s) = &self.slots[*h as usize] else {
                    return false;
                };
                key.iter().enumerate().all(|(i, k)| match s.ranges[i] {
                    Some((lo, hi)) => lo <= *k && *k <= hi,
                    None => k & s.masks[i] == s.value[i],
                })
            }),
        }
    }
}

#[derive(Debug)]
pub(crate) enum InsertError {
    Bad(String),
    Duplicate(u32),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Expr;

    fn key(kind: MatchKind, width: u32) -> KeyInfo {
        KeyInfo {
            name: format!("k{width}"),
            kind,
            field: None,
            src: Expr::Const(0),
            width,
            key_mask: mask(width),
        }
    }

    fn call(a: u32) -> ActionCall {
        ActionCall {
            action: a,
            data: vec![],
        }
    }

    /// The action of the entry `key` hits; for packed tables, the packed
    /// lookup (the key packed as the pipeline packs it while evaluating
    /// the key fields) must find the same entry.
    fn hit(t: &TableState, key: &[u128]) -> Option<u32> {
        let h = t.lookup(key, &mut vec![]);
        if let Some(w) = t.packed_widths.as_ref().or(t.scan_widths.as_ref()) {
            let k = key
                .iter()
                .zip(w)
                .fold(0u128, |acc, (v, w)| acc.wrapping_shl(*w) | v);
            assert_eq!(t.lookup_packed(k), h, "packed lookup of {key:x?}");
        }
        h.map(|h| t.get(h).map_or(u32::MAX, |s| s.call.action))
    }

    /// The open-addressing map holds what a standard map holds, through
    /// inserts, overwrites and removals that shift runs back (keys that
    /// share low bits, as prefixes do, and keys over 64 bits).
    #[test]
    fn packed_map_agrees_with_a_standard_map() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut ours = PackedMap::default();
        let mut std_map = HashMap::new();
        for round in 0..20_000u32 {
            let r = next();
            let key = match r % 3 {
                0 => u128::from(r >> 56) << 8,
                1 => u128::from(r % 300),
                _ => (u128::from(r % 7) << 100) | u128::from(r % 5),
            };
            if next() % 3 == 0 {
                ours.remove(key);
                std_map.remove(&key);
            } else {
                ours.insert(key, round);
                std_map.insert(key, round);
            }
            if round % 97 == 0 {
                for k in 0..320u128 {
                    assert_eq!(ours.get(k), std_map.get(&k).copied(), "key {k}");
                }
            }
            assert_eq!(ours.get(key), std_map.get(&key).copied());
            assert_eq!(ours.is_empty(), std_map.is_empty());
        }
        for (k, h) in &std_map {
            assert_eq!(ours.get(*k), Some(*h));
        }
    }

    #[test]
    fn packed_keys_of_128_bits_with_and_without_empty_keys() {
        for widths in [vec![128], vec![0, 128], vec![128, 0], vec![64, 0, 64]] {
            let info: Vec<KeyInfo> = widths.iter().map(|w| key(MatchKind::Exact, *w)).collect();
            let mut t = TableState::new(&info, call(0));
            assert!(t.is_packed(), "{widths:?}");
            let value = |x: u128| -> Vec<u128> {
                widths
                    .iter()
                    .map(|w| if *w == 128 { x } else { x & mask(*w) })
                    .collect()
            };
            let big = u128::MAX - 5;
            t.insert(
                &info,
                value(big).into_iter().map(KeyMatch::Exact).collect(),
                call(7),
                0,
            )
            .expect("insert");
            assert_eq!(hit(&t, &value(big)), Some(7), "{widths:?}");
            assert_eq!(hit(&t, &value(big - 1)), None, "{widths:?}");
        }
    }

    #[test]
    fn exact_matches_only_the_same_value() {
        let info = [key(MatchKind::Exact, 16), key(MatchKind::Exact, 8)];
        let mut t = TableState::new(&info, call(0));
        t.insert(
            &info,
            vec![KeyMatch::Exact(80), KeyMatch::Exact(6)],
            call(1),
            0,
        )
        .expect("insert");
        assert_eq!(hit(&t, &[80, 6]), Some(1));
        assert_eq!(hit(&t, &[80, 17]), None);
        assert!(matches!(
            t.insert(
                &info,
                vec![KeyMatch::Exact(80), KeyMatch::Exact(6)],
                call(2),
                0
            ),
            Err(InsertError::Duplicate(_))
        ));
        assert!(matches!(
            t.insert(
                &info,
                vec![KeyMatch::Exact(1 << 16), KeyMatch::Exact(6)],
                call(2),
                0
            ),
            Err(InsertError::Bad(_))
        ));
    }

    #[test]
    fn keys_over_128_bits_in_all_are_hashed_unpacked() {
        let info = [key(MatchKind::Exact, 100), key(MatchKind::Lpm, 64)];
        let mut t = TableState::new(&info, call(0));
        assert!(t.packed_widths.is_none());
        let big = 1u128 << 99;
        t.insert(
            &info,
            vec![
                KeyMatch::Exact(big),
                KeyMatch::Lpm {
                    value: 0xff00 << 48,
                    prefix_len: 8,
                },
            ],
            call(1),
            0,
        )
        .expect("insert");
        let h = t
            .insert(
                &info,
                vec![KeyMatch::Exact(big), KeyMatch::Exact(0xff01 << 48)],
                call(2),
                0,
            )
            .expect("insert");
        assert_eq!(hit(&t, &[big, 0xff01 << 48]), Some(2));
        assert_eq!(hit(&t, &[big, 0xff02 << 48]), Some(1));
        assert_eq!(hit(&t, &[big + 1, 0xff02 << 48]), None);
        t.remove(h);
        assert_eq!(hit(&t, &[big, 0xff01 << 48]), Some(1));
    }

    #[test]
    fn lpm_prefers_the_longest_prefix_whatever_the_insertion_order() {
        let info = [key(MatchKind::Lpm, 32)];
        let mut t = TableState::new(&info, call(0));
        t.insert(
            &info,
            vec![KeyMatch::Lpm {
                value: 0,
                prefix_len: 0,
            }],
            call(1),
            0,
        )
        .expect("insert");
        t.insert(
            &info,
            vec![KeyMatch::Lpm {
                value: 0x0a00_0000,
                prefix_len: 8,
            }],
            call(2),
            0,
        )
        .expect("insert");
        let h24 = t
            .insert(
                &info,
                vec![KeyMatch::Lpm {
                    value: 0x0a01_0200,
                    prefix_len: 24,
                }],
                call(3),
                0,
            )
            .expect("insert");
        assert_eq!(hit(&t, &[0x0a01_0203]), Some(3));
        assert_eq!(hit(&t, &[0x0a02_0203]), Some(2));
        assert_eq!(hit(&t, &[0x0b00_0001]), Some(1));
        t.remove(h24);
        assert_eq!(hit(&t, &[0x0a01_0203]), Some(2));
    }

    #[test]
    fn ternary_picks_the_highest_priority_then_the_oldest() {
        let info = [key(MatchKind::Ternary, 8)];
        let mut t = TableState::new(&info, call(0));
        t.insert(
            &info,
            vec![KeyMatch::Ternary {
                value: 0x10,
                mask: 0xf0,
            }],
            call(1),
            10,
        )
        .expect("insert");
        t.insert(
            &info,
            vec![KeyMatch::Ternary {
                value: 0x12,
                mask: 0xff,
            }],
            call(2),
            20,
        )
        .expect("insert");
        t.insert(
            &info,
            vec![KeyMatch::Ternary {
                value: 0x00,
                mask: 0x00,
            }],
            call(3),
            10,
        )
        .expect("insert");
        assert_eq!(hit(&t, &[0x12]), Some(2));
        assert_eq!(hit(&t, &[0x13]), Some(1));
        assert_eq!(hit(&t, &[0x23]), Some(3));
    }

    #[test]
    fn range_and_optional() {
        let info = [key(MatchKind::Range, 16), key(MatchKind::Optional, 8)];
        let mut t = TableState::new(&info, call(0));
        t.insert(
            &info,
            vec![
                KeyMatch::Range {
                    low: 1000,
                    high: 2000,
                },
                KeyMatch::Optional(Some(6)),
            ],
            call(1),
            1,
        )
        .expect("insert");
        t.insert(
            &info,
            vec![
                KeyMatch::Range {
                    low: 0,
                    high: 0xffff,
                },
                KeyMatch::Optional(None),
            ],
            call(2),
            0,
        )
        .expect("insert");
        assert_eq!(hit(&t, &[1000, 6]), Some(1));
        assert_eq!(hit(&t, &[2000, 6]), Some(1));
        assert_eq!(hit(&t, &[2001, 6]), Some(2));
        assert_eq!(hit(&t, &[1500, 17]), Some(2));
        assert!(matches!(
            t.insert(
                &info,
                vec![
                    KeyMatch::Range { low: 5, high: 4 },
                    KeyMatch::Optional(None)
                ],
                call(1),
                0
            ),
            Err(InsertError::Bad(_))
        ));
    }
}
