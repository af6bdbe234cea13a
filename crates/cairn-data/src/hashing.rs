//! Hash maps for the scan's hot loops: xxh3 for text keys, identity for keys that are hashes already.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// A map keyed by text (or anything hashable), hashed with xxh3.
pub type FastMap<K, V> = HashMap<K, V, Xxh3DefaultBuilder>;
/// A set of text (or anything hashable), hashed with xxh3.
pub type FastSet<K> = HashSet<K, Xxh3DefaultBuilder>;
/// A map keyed by a 64-bit hash: the key is its own hash.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;
/// A set of 64-bit hashes.
pub type IdSet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// Passes a `u64` key through unchanged (keys must be well-mixed hashes already).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys come here; fold anything else in so the hasher stays correct.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
