//! [`BoundCache`]: instruments bound to attribute sets, found by a cheap key.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use foldhash::fast::FixedState;

/// How many attribute sets a [`BoundCache`] holds by default: the SDK's default cardinality
/// limit per metric stream, beyond which the SDK folds measurements into an overflow series
/// anyway.
pub const DEFAULT_BOUND_SETS: usize = 2000;

/// Bound instruments per attribute set, keyed by whatever cheap value the adapter derives the
/// attributes from (a status code, a method, an interned route).
///
/// Recording with attributes costs the SDK a hash of every key and value and a map lookup per
/// measurement; a bound instrument (`Histogram::bind`) skips both. An adapter builds its key
/// from cheap parts (`'static` or reference-counted values, or the attribute list itself when it
/// owns one anyway), looks it up here (one fast hash, no lock), binds its instruments on the
/// first miss, and records on the bound handles. When the cache is full, [`BoundCache::with`]
/// hands the key back and the adapter records with attributes as usual, so nothing is lost.
///
/// Bound instruments need the SDK's `experimental_metrics_bound_instruments` feature, which
/// `tracewire-core` enables on the `opentelemetry_sdk` it shares with the application. A meter
/// provider that is not the OpenTelemetry SDK must implement `bind` itself.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
/// use tracewire_core::metrics::BoundCache;
///
/// let exporter = InMemoryMetricExporter::default();
/// let provider = SdkMeterProvider::builder()
///     .with_reader(PeriodicReader::builder(exporter).build())
///     .build();
/// let histogram = provider.meter("example").f64_histogram("op.duration").build();
/// let cache = BoundCache::new(100);
/// for status in [200_u16, 404, 200] {
///     let recorded = cache.with(
///         status,
///         |status| histogram.bind(&[KeyValue::new("status", i64::from(*status))]),
///         |bound| bound.record(0.25),
///     );
///     assert!(recorded.is_ok());
/// }
/// assert_eq!(cache.len(), 2);
/// ```
pub struct BoundCache<K, V> {
    // Read on every request without a lock (no reader count bouncing between cores); replaced
    // whole on the rare insert.
    sets: ArcSwap<HashMap<K, V, FixedState>>,
    insert: Mutex<()>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundCache<K, V> {
    /// A cache of at most `capacity` attribute sets.
    pub fn new(capacity: usize) -> Self {
        Self {
            sets: ArcSwap::from_pointee(HashMap::with_hasher(FixedState::default())),
            insert: Mutex::new(()),
            capacity,
        }
    }

    /// Runs `record` on the instruments bound for `key`, binding them with `bind` on first use;
    /// `Err(key)` when `key` is new and the cache is full (record with attributes instead).
    pub fn with<R>(
        &self,
        key: K,
        bind: impl FnOnce(&K) -> V,
        record: impl FnOnce(&V) -> R,
    ) -> Result<R, K> {
        if let Some(bound) = self.sets.load().get(&key) {
            return Ok(record(bound));
        }
        let Ok(_inserting) = self.insert.lock() else {
            return Err(key);
        };
        let sets = self.sets.load_full();
        if let Some(bound) = sets.get(&key) {
            return Ok(record(bound));
        }
        if sets.len() >= self.capacity {
            return Err(key);
        }
        let bound = bind(&key);
        let result = record(&bound);
        let mut grown = HashMap::clone(&sets);
        grown.insert(key, bound);
        self.sets.store(Arc::new(grown));
        Ok(result)
    }

    /// The number of attribute sets bound so far.
    pub fn len(&self) -> usize {
        self.sets.load().len()
    }

    /// Whether nothing has been bound yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for BoundCache<K, V> {
    fn default() -> Self {
        Self::new(DEFAULT_BOUND_SETS)
    }
}

/// A `'static` string as part of a [`BoundCache`] key, compared and hashed by address and
/// length instead of by content: a literal or an interned string is one copy, so its address
/// identifies it without reading its bytes on every lookup.
///
/// Two copies of the same text at different addresses are two keys; both bind the same
/// attribute set, which the SDK resolves to one series, so the cost is one more cache entry,
/// never a wrong measurement. Use it only for strings whose copies are few (literals, interned
/// values, type names), never for text built per request.
///
/// ```
/// use tracewire_core::metrics::ByAddress;
///
/// static GET: &str = "GET";
/// assert_eq!(ByAddress(GET), ByAddress(GET));
/// let copy: &'static str = String::from("GET").leak();
/// assert_ne!(ByAddress(GET), ByAddress(copy));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ByAddress(pub &'static str);

impl ByAddress {
    /// The key of a name passed as `Cow<'static, str>` (interned or literal when borrowed);
    /// `None` for an owned one, whose address changes with every copy.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use tracewire_core::metrics::ByAddress;
    ///
    /// assert!(ByAddress::of(&Cow::Borrowed("GET")).is_some());
    /// assert!(ByAddress::of(&Cow::Owned("GET".to_owned())).is_none());
    /// ```
    // A `&str` would lose what this reads: whether the value is `'static`.
    #[allow(clippy::ptr_arg)]
    pub fn of(name: &Cow<'static, str>) -> Option<Self> {
        match name {
            Cow::Borrowed(name) => Some(Self(name)),
            Cow::Owned(_) => None,
        }
    }
}

impl PartialEq for ByAddress {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for ByAddress {}

impl Hash for ByAddress {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.as_ptr().addr());
        state.write_usize(self.0.len());
    }
}

impl<K, V> fmt::Debug for BoundCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_once_per_key_and_refuses_new_keys_when_full() {
        let cache: BoundCache<u16, u32> = BoundCache::new(2);
        let mut binds = 0;
        let mut bind = |key: &u16| {
            binds += 1;
            u32::from(*key) * 10
        };
        assert_eq!(cache.with(200, &mut bind, |bound| *bound), Ok(2000));
        assert_eq!(cache.with(200, &mut bind, |bound| *bound), Ok(2000));
        assert_eq!(cache.with(404, &mut bind, |bound| *bound), Ok(4040));
        // Full: a new key is handed back (the caller records with attributes), known ones work.
        assert_eq!(cache.with(500, &mut bind, |bound| *bound), Err(500));
        assert_eq!(cache.with(404, &mut bind, |bound| *bound), Ok(4040));
        assert_eq!((cache.len(), binds), (2, 2));
    }
}
