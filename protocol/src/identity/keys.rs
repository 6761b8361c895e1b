//! Decoded public keys, kept so that a key is decompressed once, not at every message.
//!
//! A node meets the same few hundred keys (checkers, workers, creators) in every message
//! it decodes and every signature it checks, and decompressing a curve point costs a
//! square root, about as much as a third of a signature check. Only keys that decode to a
//! non-weak point are kept; the oldest leaves first when the cache is full, so a flood
//! of new keys costs what it cost without the cache and changes no verdict.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, OnceLock, PoisonError},
};

use ed25519_dalek::VerifyingKey;

/// Keys kept at most (about 200 bytes each).
const CAPACITY: usize = 4096;

#[derive(Default)]
struct Cache {
    keys: HashMap<[u8; 32], VerifyingKey>,
    order: VecDeque<[u8; 32]>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// Why 32 bytes are not a usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// Not a curve point.
    Invalid,
    /// A point of small order.
    Weak,
}

/// The key `bytes` encode, if it is a valid, non-weak point.
pub(crate) fn decode(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    if let Some(key) = cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .keys
        .get(bytes)
    {
        return Ok(*key);
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::Invalid)?;
    if key.is_weak() {
        return Err(KeyError::Weak);
    }
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if cache.keys.insert(*bytes, key).is_none() {
        cache.order.push_back(*bytes);
        while cache.order.len() > CAPACITY {
            if let Some(old) = cache.order.pop_front() {
                cache.keys.remove(&old);
            }
        }
    }
    Ok(key)
}
