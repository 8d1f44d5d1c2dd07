//! Interning of the low-cardinality strings a request repeats (route templates, span names), so
//! that the hot path can hand the OpenTelemetry API a `&'static str` instead of allocating a copy
//! per request.
//!
//! Interned strings live for the rest of the process. The set is bounded ([`MAX_STRINGS`]
//! strings of at most [`MAX_LEN`] bytes, [`MAX_BYTES`] in all); once full, [`intern`] returns
//! `None` and callers fall back to an owned copy, so a flood of distinct values costs memory
//! only up to the bound. Only intern values the application defines (templates registered in
//! code), never values a client chooses freely.
//!
//! ```
//! use tracewire_core::intern::intern;
//!
//! let a = intern("/users/{id}").unwrap();
//! let b = intern(&String::from("/users/{id}")).unwrap();
//! assert!(std::ptr::eq(a, b)); // one copy, shared
//! ```

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use foldhash::fast::FixedState;

/// At most this many strings are interned.
pub const MAX_STRINGS: usize = 4096;
/// Longer strings are never interned.
pub const MAX_LEN: usize = 256;
/// At most this many bytes are interned in all.
pub const MAX_BYTES: usize = 256 * 1024;

struct Interned {
    // Read on every request by every thread, without a lock or a shared counter; replaced whole
    // on the rare insert (a route seen for the first time).
    strings: ArcSwap<HashSet<&'static str, FixedState>>,
    insert: Mutex<usize>,
}

fn interned() -> &'static Interned {
    static INTERNED: OnceLock<Interned> = OnceLock::new();
    INTERNED.get_or_init(|| Interned {
        strings: ArcSwap::from_pointee(HashSet::with_hasher(FixedState::default())),
        insert: Mutex::new(0),
    })
}

/// How many strings each thread remembers in front of the shared set.
const RECENT: usize = 64;

thread_local! {
    // Strings this thread found recently, by hash: a hit skips the shared set's atomic load, its
    // second hash and its probe (a request names the same route or method as the last ones).
    static RECENTLY_FOUND: [Cell<Option<&'static str>>; RECENT] =
        const { [const { Cell::new(None) }; RECENT] };
}

/// The process-wide copy of `value`, made on first use; `None` when `value` is longer than
/// [`MAX_LEN`] or the set is full.
pub fn intern(value: &str) -> Option<&'static str> {
    if value.len() > MAX_LEN {
        return None;
    }
    let slot = FixedState::default().hash_one(value) as usize % RECENT;
    RECENTLY_FOUND.with(|recent| {
        let slot = &recent[slot];
        match slot.get() {
            Some(found) if found == value => Some(found),
            _ => {
                let found = intern_shared(value)?;
                slot.set(Some(found));
                Some(found)
            }
        }
    })
}

/// [`intern`] in the shared set.
fn intern_shared(value: &str) -> Option<&'static str> {
    let interned = interned();
    if let Some(found) = interned.strings.load().get(value) {
        return Some(found);
    }
    let mut bytes = interned.insert.lock().ok()?;
    let strings = interned.strings.load_full();
    if let Some(found) = strings.get(value) {
        return Some(found);
    }
    if strings.len() >= MAX_STRINGS || *bytes + value.len() > MAX_BYTES {
        return None;
    }
    let leaked: &'static str = String::from(value).leak();
    *bytes += leaked.len();
    let mut grown = HashSet::clone(&strings);
    grown.insert(leaked);
    interned.strings.store(Arc::new(grown));
    Some(leaked)
}

/// The concatenation of `parts`, interned: for names composed per request (`"GET
/// /users/{id}"`) that would otherwise be formatted into a new `String` each time. The parts are
/// joined on the stack; `None` when the result is longer than [`MAX_LEN`] or cannot be interned.
///
/// ```
/// use tracewire_core::intern::intern_concat;
///
/// assert_eq!(intern_concat(&["GET", " ", "/users/{id}"]), Some("GET /users/{id}"));
/// ```
pub fn intern_concat(parts: &[&str]) -> Option<&'static str> {
    let mut buffer = StackString::default();
    for part in parts {
        buffer.push(part)?;
    }
    intern(buffer.as_str())
}

/// `value` as the `Cow<'static, str>` names are passed as: interned, or `value` itself (copied
/// only if borrowed) when it cannot be interned.
///
/// ```
/// use std::borrow::Cow;
/// use tracewire_core::intern::intern_or_own;
///
/// assert!(matches!(intern_or_own("/users/{id}"), Cow::Borrowed("/users/{id}")));
/// let long = "x".repeat(1000);
/// assert!(matches!(intern_or_own(long.as_str()), Cow::Owned(_)));
/// ```
pub fn intern_or_own<'a>(value: impl Into<Cow<'a, str>>) -> Cow<'static, str> {
    let value = value.into();
    intern(&value).map_or_else(|| Cow::Owned(value.into_owned()), Cow::Borrowed)
}

/// The concatenation of `parts` as a `Cow<'static, str>`: interned, or joined into an owned
/// `String` when it cannot be.
///
/// ```
/// use tracewire_core::intern::intern_concat_or_own;
///
/// assert_eq!(intern_concat_or_own(&["pkg.Svc", "/", "Do"]), "pkg.Svc/Do");
/// ```
pub fn intern_concat_or_own(parts: &[&str]) -> Cow<'static, str> {
    intern_concat(parts).map_or_else(|| Cow::Owned(parts.concat()), Cow::Borrowed)
}

/// A fixed-capacity UTF-8 buffer: pushing fails instead of growing.
struct StackString {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Default for StackString {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_LEN],
            len: 0,
        }
    }
}

impl StackString {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended, so the prefix is valid UTF-8.
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl StackString {
    fn push(&mut self, s: &str) -> Option<()> {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_refuses_long_strings() {
        let first = intern("GET /interned/{id}").unwrap();
        assert!(std::ptr::eq(first, intern("GET /interned/{id}").unwrap()));
        assert_eq!(intern(&"x".repeat(MAX_LEN + 1)), None);
        let long = "y".repeat(MAX_LEN);
        assert_eq!(intern_concat(&[&long, "y"]), None);
        let joined = intern_concat(&["POST", " ", "/interned/{id}"]).unwrap();
        assert!(std::ptr::eq(joined, intern("POST /interned/{id}").unwrap()));
    }

    #[test]
    fn colliding_recent_strings_and_other_threads_get_the_same_copies() {
        // More strings than a thread remembers, so slots are overwritten, twice over.
        let names: Vec<String> = (0..RECENT * 3).map(|i| format!("/recent/{i}")).collect();
        let first: Vec<&'static str> = names.iter().map(|name| intern(name).unwrap()).collect();
        for _ in 0..2 {
            for (name, copy) in names.iter().zip(&first) {
                let again = intern(name).unwrap();
                assert_eq!(again, name);
                assert!(std::ptr::eq(again, *copy), "{name}");
            }
        }
        let from_another_thread = std::thread::spawn(|| intern("/recent/7").unwrap())
            .join()
            .unwrap();
        assert!(std::ptr::eq(from_another_thread, first[7]));
    }
}
