//! Kafka record headers as a propagation carrier.
//!
//! - [`inject`] writes a context into [`OwnedHeaders`], **replacing** every header the
//!   propagator owns (its [`fields`](Propagator::for_each_field), e.g. `traceparent`,
//!   `tracestate`, `baggage`) and keeping all other headers in order. A message consumed and produced again
//!   therefore carries the new context once, never a stale copy next to it.
//! - [`extract`] reads a context from any [`Headers`] (borrowed from a consumed message or
//!   owned). A repeated key resolves to its **last** value (the most recent writer wins); null
//!   values and values that are not UTF-8 are skipped, so they never hide an earlier valid value.
//!   Nothing panics on bad input: a message without a valid context yields an empty context.

use std::borrow::Cow;
use std::cell::Cell;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracewire_core::propagation::{PairExtractor, Propagator};

/// Injects `cx` into `headers` with `propagator`, replacing the propagator's fields.
///
/// Linear in the number of headers, each read once (twice past the first 16 from the end):
/// when none of the existing headers is a propagation field the injected ones are appended in
/// place; otherwise the headers are rebuilt once, without the stale fields, followed by the
/// injected ones. Returns `None` only when there were no headers and nothing was injected (for
/// example an invalid context with a trace-context propagator).
///
/// ```
/// use opentelemetry::Context;
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
/// use rdkafka::message::{Header, Headers, OwnedHeaders};
/// use tracewire_core::propagation::{Propagator, TraceContextPropagator};
///
/// let propagator = Propagator::new(TraceContextPropagator::new());
/// let cx = Context::new().with_remote_span_context(SpanContext::new(
///     TraceId::from(1_u128),
///     SpanId::from(2_u64),
///     TraceFlags::SAMPLED,
///     false,
///     TraceState::NONE,
/// ));
/// let stale = OwnedHeaders::new()
///     .insert(Header { key: "traceparent", value: Some("stale") })
///     .insert(Header { key: "app", value: Some("kept") });
/// let headers = tracewire_kafka::headers::inject(&propagator, &cx, Some(stale)).unwrap();
/// let keys: Vec<_> = headers.iter().map(|h| h.key).collect();
/// assert_eq!(keys, ["app", "traceparent"]);
/// assert_eq!(
///     headers.get(1).value,
///     Some(&b"00-00000000000000000000000000000001-0000000000000002-01"[..])
/// );
/// ```
pub fn inject(
    propagator: &Propagator,
    cx: &Context,
    headers: Option<OwnedHeaders>,
) -> Option<OwnedHeaders> {
    let mut injector = Injected::default();
    propagator.inject_context(cx, &mut injector);
    let headers = match headers {
        None if injector.is_empty() => return None,
        None => OwnedHeaders::new_with_capacity(injector.len()),
        Some(old) => {
            let replaced = Replaced::new(propagator, &injector);
            let cached = CachedHeaders::new(&old);
            // From the last header: a previous hop appended its fields, so they are found first.
            let has_stale = (0..cached.count)
                .rev()
                .filter_map(|index| cached.header(index))
                .any(|(key, _)| replaced.contains(key));
            if has_stale {
                (0..cached.count)
                    .filter_map(|index| cached.header(index))
                    .filter(|(key, _)| !replaced.contains(key))
                    .fold(
                        OwnedHeaders::new_with_capacity(cached.count + injector.len()),
                        |headers, (key, value)| headers.insert(Header { key, value }),
                    )
            } else {
                old
            }
        }
    };
    Some(injector.iter().fold(headers, |headers, (key, value)| {
        headers.insert(Header {
            key,
            value: Some(value),
        })
    }))
}

/// The pairs a propagator injects, collected before the headers are written. Like
/// [`PairInjector`](tracewire_core::propagation::PairInjector) (a key set again replaces its
/// value), but the keys of well-known propagation headers are not copied and the first pairs are
/// kept inline: collecting what W3C, B3 or Jaeger trace context writes allocates nothing beyond
/// the values the propagator formats.
#[derive(Default)]
struct Injected {
    inline: [(Cow<'static, str>, String); INLINE_PAIRS],
    inline_len: usize,
    spilled: Vec<(Cow<'static, str>, String)>,
}

/// Pairs kept inline: W3C trace context and baggage write three headers.
const INLINE_PAIRS: usize = 3;

/// Header names propagators write, kept as static strings.
const WELL_KNOWN: [&str; 10] = [
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
];

impl Injected {
    fn pairs(&self) -> impl Iterator<Item = &(Cow<'static, str>, String)> {
        self.inline[..self.inline_len].iter().chain(&self.spilled)
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs()
            .map(|(key, value)| (key.as_ref(), value.as_str()))
    }

    fn len(&self) -> usize {
        self.inline_len + self.spilled.len()
    }

    fn is_empty(&self) -> bool {
        self.inline_len == 0
    }
}

impl Injector for Injected {
    fn set(&mut self, key: &str, value: String) {
        let existing = self.inline[..self.inline_len]
            .iter_mut()
            .chain(&mut self.spilled)
            .find(|(existing, _)| existing == key);
        if let Some((_, existing)) = existing {
            *existing = value;
            return;
        }
        let key = WELL_KNOWN
            .into_iter()
            .find(|known| *known == key)
            .map_or_else(|| Cow::Owned(key.to_owned()), Cow::Borrowed);
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = (key, value);
                self.inline_len += 1;
            }
            None => self.spilled.push((key, value)),
        }
    }
}

/// The header keys an injection replaces: the injected ones and the propagator's fields.
struct Replaced<'a> {
    propagator: &'a Propagator,
    injected: &'a Injected,
    /// Bit `n` is set when some replaced key is `n` bytes long (bit 63: 63 or more), so that
    /// most other keys are told apart by their length alone.
    lengths: u64,
}

impl<'a> Replaced<'a> {
    fn new(propagator: &'a Propagator, injected: &'a Injected) -> Self {
        let mut lengths = injected
            .iter()
            .fold(0, |lengths, (key, _)| lengths | length_bit(key));
        propagator.for_each_field(|field| lengths |= length_bit(field));
        Self {
            propagator,
            injected,
            lengths,
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.lengths & length_bit(key) != 0
            // Injected keys first: they match a stale header before the field list is walked.
            && (self.injected.iter().any(|(injected, _)| injected == key)
                || is_field(self.propagator, key))
    }
}

#[inline]
fn length_bit(key: &str) -> u64 {
    1 << key.len().min(63)
}

/// Whether `propagator` writes `key`, without collecting its fields.
fn is_field(propagator: &Propagator, key: &str) -> bool {
    let mut found = false;
    propagator.for_each_field(|field| found |= field == key);
    found
}

/// Extracts the context carried by `headers` with `propagator`; an empty context when there
/// are no headers or no valid context in them.
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
/// use rdkafka::message::{Header, OwnedHeaders};
/// use tracewire_core::propagation::{Propagator, TraceContextPropagator};
///
/// let propagator = Propagator::new(TraceContextPropagator::new());
/// let headers = OwnedHeaders::new()
///     .insert(Header { key: "traceparent", value: Some("garbage") })
///     .insert(Header { key: "traceparent", value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") })
///     .insert(Header { key: "traceparent", value: None::<&[u8]> })
///     .insert(Header { key: "traceparent", value: Some(&b"\xff"[..]) });
/// let cx = tracewire_kafka::headers::extract(&propagator, Some(&headers));
/// assert_eq!(
///     cx.span().span_context().span_id().to_string(),
///     "00f067aa0ba902b7"
/// );
/// ```
pub fn extract<H: Headers + ?Sized>(propagator: &Propagator, headers: Option<&H>) -> Context {
    let Some(headers) = headers else {
        return Context::new();
    };
    propagator.extract(&CachedHeaders::new(headers))
}

/// The headers as a [`PairExtractor`]: null values dropped, non-UTF-8 values skipped, the last
/// value of a repeated key wins.
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// use rdkafka::message::{Header, OwnedHeaders};
///
/// let headers = OwnedHeaders::new()
///     .insert(Header { key: "k", value: Some("first") })
///     .insert(Header { key: "k", value: Some("last") })
///     .insert(Header { key: "k", value: None::<&str> });
/// assert_eq!(tracewire_kafka::headers::extractor(&headers).get("k"), Some("last"));
/// ```
pub fn extractor<H: Headers + ?Sized>(headers: &H) -> PairExtractor<'_> {
    entries(headers)
        .filter_map(|header| Some((header.key, header.value?)))
        .collect()
}

/// One header as a key and a value that may be null.
type Entry<'a> = (&'a str, Option<&'a [u8]>);

/// Headers read on demand from the last one backwards, each at most once while it fits in a
/// cache on the stack: reading a header from librdkafka (and checking its key is UTF-8) is the
/// main cost of a lookup, and propagation fields are usually the last headers.
///
/// As an [`Extractor`] it reads like [`PairExtractor`]: null values and values that are not
/// UTF-8 are skipped, the last value of a repeated key wins. A lookup stops at the first match
/// from the end, so finding fields appended by the last writer reads only those; a missing key
/// reads every header once. Values are checked for UTF-8 only when their key matches.
struct CachedHeaders<'a, H: ?Sized> {
    headers: &'a H,
    count: usize,
    /// How many headers, counted from the last one, `cache` holds.
    cached: Cell<usize>,
    /// `cache[n]` is the header at `count - 1 - n`.
    cache: [Cell<Entry<'a>>; CACHED_HEADERS],
    /// The [`length_bit`]s of the cached keys: once every header is cached, a key of another
    /// length is known to be absent without a scan.
    lengths: Cell<u64>,
}

/// Headers a message rarely exceeds; further ones are read again on each lookup that reaches them.
const CACHED_HEADERS: usize = 16;

impl<'a, H: Headers + ?Sized> CachedHeaders<'a, H> {
    fn new(headers: &'a H) -> Self {
        Self {
            headers,
            count: headers.count(),
            cached: Cell::new(0),
            cache: [const { Cell::new(("", None)) }; CACHED_HEADERS],
            lengths: Cell::new(0),
        }
    }

    /// The header at `index`; `None` past the end.
    #[inline]
    fn header(&self, index: usize) -> Option<Entry<'a>> {
        let from_end = self.count.checked_sub(index + 1)?;
        let cached = self.cached.get();
        if from_end < cached {
            return self.cache.get(from_end).map(Cell::get);
        }
        let header = self.headers.try_get(index)?;
        let entry = (header.key, header.value);
        if from_end == cached
            && let Some(slot) = self.cache.get(from_end)
        {
            slot.set(entry);
            self.cached.set(cached + 1);
            self.lengths.set(self.lengths.get() | length_bit(entry.0));
        }
        Some(entry)
    }

    /// The headers whose value is UTF-8, in carrier order.
    fn utf8(&self) -> impl DoubleEndedIterator<Item = (&'a str, &'a str)> {
        (0..self.count).filter_map(|index| {
            let (key, value) = self.header(index)?;
            Some((key, std::str::from_utf8(value?).ok()?))
        })
    }
}

impl<'a, H: Headers + ?Sized> Extractor for CachedHeaders<'a, H> {
    fn get(&self, key: &str) -> Option<&str> {
        let cached = self.cached.get();
        if cached == self.count && self.lengths.get() & length_bit(key) == 0 {
            return None;
        }
        let value_of = |(candidate, value): Entry<'a>| {
            if candidate != key {
                return None;
            }
            std::str::from_utf8(value?).ok()
        };
        // From the last header: the cached ones, then the others, read (and cached while there
        // is room) as the search reaches them.
        self.cache[..cached]
            .iter()
            .find_map(|slot| value_of(slot.get()))
            .or_else(|| {
                (0..self.count - cached)
                    .rev()
                    .find_map(|index| value_of(self.header(index)?))
            })
    }

    fn keys(&self) -> Vec<&str> {
        self.utf8().map(|(key, _)| key).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .utf8()
            .filter(|(candidate, _)| *candidate == key)
            .map(|(_, value)| value)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Every header in order; `Headers::iter` needs a sized carrier.
fn entries<H: Headers + ?Sized>(headers: &H) -> impl Iterator<Item = Header<'_, &[u8]>> {
    (0..headers.count()).map_while(|index| headers.try_get(index))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn build(list: &[(String, Option<Vec<u8>>)]) -> OwnedHeaders {
        list.iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: value.as_deref(),
                })
            })
    }

    #[test]
    fn injected_pairs_replace_repeated_keys_and_spill_past_the_inline_ones() {
        let mut injected = Injected::default();
        for (key, value) in [
            ("traceparent", "1"),
            ("uberctx-a", "2"),
            ("b3", "3"),
            ("traceparent", "4"),
            ("uberctx-b", "5"),
            ("uberctx-b", "6"),
        ] {
            injected.set(key, value.to_owned());
        }
        let pairs: Vec<_> = injected.iter().collect();
        assert_eq!(
            pairs,
            [
                ("traceparent", "4"),
                ("uberctx-a", "2"),
                ("b3", "3"),
                ("uberctx-b", "6")
            ]
        );
        assert_eq!(injected.len(), 4);
        assert!(matches!(injected.inline[0].0, Cow::Borrowed(_)));
        assert!(matches!(injected.inline[1].0, Cow::Owned(_)));
    }

    proptest! {
        /// The cached extractor reads exactly like a `PairExtractor`, whatever the order of the
        /// lookups and whether or not the headers fit in its cache.
        #[test]
        fn cached_headers_read_like_the_pair_extractor(
            list in proptest::collection::vec(
                (
                    prop_oneof![Just("traceparent".to_owned()), "[ab]{1}"],
                    proptest::option::of(prop_oneof![
                        Just(b"\xff".to_vec()),
                        "[xyz]{0,3}".prop_map(String::into_bytes),
                    ]),
                ),
                0..40,
            ),
            lookups in proptest::collection::vec(
                prop_oneof![Just("traceparent"), Just("a"), Just("b"), Just("c")],
                0..6,
            ),
        ) {
            let headers = build(&list);
            let pairs = extractor(&headers);
            let cached = CachedHeaders::new(&headers);
            for key in lookups {
                prop_assert_eq!(cached.get(key), pairs.get(key));
            }
            prop_assert_eq!(cached.keys(), pairs.keys());
            for key in ["traceparent", "a", "b", "c"] {
                prop_assert_eq!(cached.get(key), pairs.get(key));
                prop_assert_eq!(cached.get_all(key), pairs.get_all(key));
            }
        }
    }
}
