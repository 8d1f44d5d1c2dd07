//! Kafka record headers as a propagation carrier.
//!
//! - [`inject`] writes a context into [`OwnedHeaders`], **replacing** every header the
//!   propagator owns (its [`fields`](Propagator::for_each_field), e.g. `traceparent`,
//!   `tracestate`, `baggage`) and keeping all other headers in order. A message consumed and
//!   produced again therefore carries the new context once, never a stale copy next to it.
//! - [`extract`] reads a context from the headers of a consumed message ([`BorrowedHeaders`])
//!   or from [`OwnedHeaders`]. A repeated key resolves to its **last** value (the most recent
//!   writer wins); null values and values that are not UTF-8 are skipped, so they never hide an
//!   earlier valid value. Headers whose key is not UTF-8 are skipped too (Kafka does not check
//!   keys, and rdkafka's own `Headers` accessors panic on them). Nothing panics on bad input: a
//!   message without a valid context yields an empty context.
//!
//! Both talk to librdkafka's header API directly (reading keys as bytes, removing headers in
//! place), which is why they take a [`NativeHeaders`]: rdkafka's two header types, nothing else.
//! librdkafka hands keys out as C strings, so a key with a NUL byte in it is read, looked up and
//! removed as the bytes before the NUL, as rdkafka's own accessors read it.

use std::borrow::Cow;
use std::cell::Cell;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use rdkafka::message::{BorrowedHeaders, Headers, OwnedHeaders};
use tracewire_core::propagation::{PairExtractor, Propagator};

use crate::native::{self, KEY_BUFFER, View};

/// The header types [`inject`]'s output and [`extract`]'s input can be: rdkafka's
/// [`BorrowedHeaders`] (a consumed message's) and [`OwnedHeaders`], whose librdkafka header
/// list the carrier reads directly. Sealed: not implementable outside this crate.
///
/// ```
/// use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders};
/// use tracewire_kafka::headers::NativeHeaders;
///
/// fn carries_context<H: NativeHeaders>(_: &H) {}
/// carries_context(&OwnedHeaders::new());
/// carries_context(OwnedHeaders::new().as_borrowed());
/// fn consumed(message: &BorrowedMessage<'_>) {
///     if let Some(headers) = message.headers() {
///         carries_context(headers);
///     }
/// }
/// ```
pub trait NativeHeaders: Headers + sealed::Sealed {}

impl NativeHeaders for BorrowedHeaders {}

impl NativeHeaders for OwnedHeaders {}

mod sealed {
    use rdkafka::message::{BorrowedHeaders, OwnedHeaders};

    /// Hands out the handle of the librdkafka list behind the headers.
    pub trait Sealed {
        fn handle(&self) -> &BorrowedHeaders;
    }

    impl Sealed for BorrowedHeaders {
        fn handle(&self) -> &BorrowedHeaders {
            self
        }
    }

    impl Sealed for OwnedHeaders {
        fn handle(&self) -> &BorrowedHeaders {
            self.as_borrowed()
        }
    }
}

/// Injects `cx` into `headers` with `propagator`, replacing the propagator's fields.
///
/// The headers are changed in place: librdkafka removes every header named like one of the
/// propagator's fields or one of the injected keys (keeping the others in order), then the
/// injected headers are appended. Every key is read once first, and a name no key has the
/// length of is not looked for; each removal is linear in the number of headers. Returns
/// `None` only when there were no headers and nothing was injected (for example an invalid
/// context with a trace-context propagator). Should librdkafka refuse a change (its API
/// reserves an error for read-only lists; the lists rdkafka creates are writable), injection
/// stops there and the headers are returned with the changes made until then.
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
/// // Started here: sampled, and random (the SDK's trace ids are).
/// assert_eq!(
///     headers.get(1).value,
///     Some(&b"00-00000000000000000000000000000001-0000000000000002-03"[..])
/// );
/// ```
pub fn inject(
    propagator: &Propagator,
    cx: &Context,
    headers: Option<OwnedHeaders>,
) -> Option<OwnedHeaders> {
    let mut injector = Injected::default();
    propagator.inject_context(cx, &mut injector);
    let mut headers = match headers {
        None if injector.is_empty() => return None,
        None => OwnedHeaders::new_with_capacity(injector.len()),
        Some(headers) => headers,
    };
    // A refused change leaves the rest undone: `Err` carries nothing more to act on.
    let _ = replace(&mut headers, propagator, &injector);
    Some(headers)
}

/// Removes the propagator's fields and the injected keys from `headers`, then appends the
/// injected pairs; stops at the first change librdkafka refuses.
fn replace(
    headers: &mut OwnedHeaders,
    propagator: &Propagator,
    injected: &Injected,
) -> Result<(), rdkafka::types::RDKafkaErrorCode> {
    // A removal compares every key in C; reading the keys once skips the names none can match.
    let view = View::new(headers.as_borrowed());
    let present = (0..view.count())
        .filter_map(|index| view.get(index))
        .fold(0, |lengths, (key, _)| lengths | length_bit(key));
    let mut removed = Ok(());
    propagator.for_each_field(|field| {
        if removed.is_ok() && present & length_bit(field.as_bytes()) != 0 {
            removed = remove(headers, field);
        }
    });
    removed?;
    for (key, _) in injected
        .iter()
        .filter(|(key, _)| present & length_bit(key.as_bytes()) != 0 && !is_field(propagator, key))
    {
        remove(headers, key)?;
    }
    injected
        .iter()
        .try_for_each(|(key, value)| native::add(headers, key.as_bytes(), Some(value.as_bytes())))
}

/// Removes every header named `key`; a key librdkafka cannot spell (it holds a NUL byte) names
/// no header to remove.
fn remove(headers: &mut OwnedHeaders, key: &str) -> Result<(), rdkafka::types::RDKafkaErrorCode> {
    let mut buffer = [0; KEY_BUFFER];
    native::c_key(key, &mut buffer).map_or(Ok(()), |key| native::remove(headers, &key))
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
pub fn extract<H: NativeHeaders + ?Sized>(propagator: &Propagator, headers: Option<&H>) -> Context {
    let Some(headers) = headers else {
        return Context::new();
    };
    propagator.extract(&Carrier::new(headers.handle()))
}

/// The headers as a [`PairExtractor`]: headers whose key is not UTF-8 and null values dropped,
/// non-UTF-8 values skipped, the last value of a repeated key wins.
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
pub fn extractor<H: NativeHeaders + ?Sized>(headers: &H) -> PairExtractor<'_> {
    Carrier::new(headers.handle())
        .entries()
        .filter_map(|(key, value)| Some((key, value?)))
        .collect()
}

/// The headers read through librdkafka as an [`Extractor`] that reads like [`PairExtractor`]
/// without collecting anything. A lookup reads from the last header (propagation fields are
/// usually appended last) and stops at the first match with a UTF-8 value; keys are compared as
/// bytes, so only a matching header's value is checked for UTF-8. A lookup that finds nothing
/// has read every key, and remembers their lengths: a later lookup of a key whose length no
/// header has (trace context's `tracestate` then `baggage`) is answered without reading.
struct Carrier<'a> {
    view: View<'a>,
    /// The [`length_bit`]s of every key, once a lookup has read them all.
    lengths: Cell<Option<u64>>,
}

impl<'a> Carrier<'a> {
    fn new(headers: &'a BorrowedHeaders) -> Self {
        Self {
            view: View::new(headers),
            lengths: Cell::new(None),
        }
    }

    /// The headers whose key is UTF-8, in carrier order.
    fn entries(&self) -> impl DoubleEndedIterator<Item = (&'a str, Option<&'a [u8]>)> {
        let view = self.view;
        (0..view.count()).filter_map(move |index| {
            let (key, value) = view.get(index)?;
            Some((std::str::from_utf8(key).ok()?, value))
        })
    }

    /// The headers whose key and value are UTF-8, in carrier order.
    fn text(&self) -> impl DoubleEndedIterator<Item = (&'a str, &'a str)> {
        self.entries()
            .filter_map(|(key, value)| Some((key, std::str::from_utf8(value?).ok()?)))
    }
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let key = key.as_bytes();
        if self
            .lengths
            .get()
            .is_some_and(|lengths| lengths & length_bit(key) == 0)
        {
            return None;
        }
        let mut lengths = 0;
        for index in (0..self.view.count()).rev() {
            let (candidate, value) = self.view.get(index)?;
            if candidate == key
                && let Some(Ok(value)) = value.map(std::str::from_utf8)
            {
                return Some(value);
            }
            lengths |= length_bit(candidate);
        }
        self.lengths.set(Some(lengths));
        None
    }

    fn keys(&self) -> Vec<&str> {
        self.text().map(|(key, _)| key).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .text()
            .filter(|(candidate, _)| *candidate == key)
            .map(|(_, value)| value)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Bit `n` is set when a key is `n` bytes long (bit 63: 63 or more), so that most keys are told
/// apart by their length alone.
fn length_bit(key: &[u8]) -> u64 {
    1 << key.len().min(63)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A header as bytes: key, value (`None` when null).
    type Pair = (Vec<u8>, Option<Vec<u8>>);

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Headers with any key bytes, which rdkafka's `OwnedHeaders::insert` (a `&str` key) cannot
    /// write.
    fn build(list: &[Pair]) -> OwnedHeaders {
        list.iter()
            .fold(OwnedHeaders::new(), |mut headers, (key, value)| {
                native::add(&mut headers, key, value.as_deref()).expect("a writable list");
                headers
            })
    }

    fn read(headers: &OwnedHeaders) -> Vec<Pair> {
        let view = View::new(headers.as_borrowed());
        (0..view.count())
            .filter_map(|index| view.get(index))
            .map(|(key, value)| (key.to_vec(), value.map(<[u8]>::to_vec)))
            .collect()
    }

    /// Lists with repeated propagation keys, keys of any bytes (UTF-8 or not, NUL included,
    /// also after a field's name), and values that are null, UTF-8 or binary.
    fn list() -> impl Strategy<Value = Vec<Pair>> {
        let key = prop_oneof![
            Just(b"traceparent".to_vec()),
            Just(b"tracestate".to_vec()),
            Just(b"baggage".to_vec()),
            "[ab]".prop_map(String::into_bytes),
            // As long as a field's name, so that lengths alone do not tell them apart.
            "[a-z]{7}|[a-z]{10,11}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..4),
            proptest::collection::vec(any::<u8>(), 0..3).prop_map(|tail| [
                &b"traceparent\0"[..],
                &tail
            ]
            .concat()),
        ];
        let value = proptest::option::of(prop_oneof![
            Just(TRACEPARENT.as_bytes().to_vec()),
            Just(b"\xff".to_vec()),
            "[xyz]{0,3}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..6),
        ]);
        proptest::collection::vec((key, value), 0..24)
    }

    /// A key as librdkafka hands it out: up to its first NUL byte.
    fn c_view(key: &[u8]) -> &[u8] {
        key.split(|byte| *byte == 0).next().unwrap_or_default()
    }

    /// The reference: the headers whose key (as librdkafka hands it out) and value are UTF-8,
    /// in order.
    fn text_pairs(list: &[Pair]) -> Vec<(&str, &str)> {
        list.iter()
            .filter_map(|(key, value)| {
                let value = std::str::from_utf8(value.as_deref()?).ok()?;
                Some((std::str::from_utf8(c_view(key)).ok()?, value))
            })
            .collect()
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
        /// The native carrier reads like the reference: the last UTF-8 value of a UTF-8 key
        /// wins, null and binary values never hide an earlier one, binary keys are skipped.
        #[test]
        fn the_carrier_reads_like_the_reference(list in list()) {
            let headers = build(&list);
            let carrier = Carrier::new(headers.as_borrowed());
            let pairs = text_pairs(&list);
            let lookups = ["traceparent", "tracestate", "baggage", "a", "b", "c", ""]
                .into_iter()
                .chain(list.iter().filter_map(|(key, _)| std::str::from_utf8(c_view(key)).ok()));
            for key in lookups {
                let values: Vec<&str> = pairs
                    .iter()
                    .filter(|(candidate, _)| *candidate == key)
                    .map(|(_, value)| *value)
                    .collect();
                prop_assert_eq!(carrier.get(key), values.last().copied());
                prop_assert_eq!(carrier.get_all(key), (!values.is_empty()).then_some(values));
            }
            let keys: Vec<&str> = pairs.iter().map(|(key, _)| *key).collect();
            prop_assert_eq!(carrier.keys(), keys);
            let collected = extractor(&headers);
            prop_assert_eq!(collected.keys(), carrier.keys());
        }

        /// Injection keeps every other header, binary ones included, in order, and appends the
        /// context once.
        #[test]
        fn inject_keeps_the_other_headers_in_order(list in list()) {
            let propagator = Propagator::new(
                opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                    Box::new(tracewire_core::propagation::TraceContextPropagator::new()),
                    Box::new(tracewire_core::propagation::BaggagePropagator::new()),
                ]),
            );
            let cx = extract(&propagator, Some(&build(&[(
                b"traceparent".to_vec(),
                Some(TRACEPARENT.as_bytes().to_vec()),
            )])));
            let headers = inject(&propagator, &cx, Some(build(&list))).expect("headers");
            let fields: [&[u8]; 3] = [b"traceparent", b"tracestate", b"baggage"];
            let mut expected: Vec<Pair> = list
                .iter()
                .filter(|(key, _)| !fields.contains(&c_view(key)))
                .map(|(key, value)| (c_view(key).to_vec(), value.clone()))
                .collect();
            expected.push((b"traceparent".to_vec(), Some(TRACEPARENT.as_bytes().to_vec())));
            prop_assert_eq!(read(&headers), expected);
        }
    }

    #[test]
    fn a_key_with_a_nul_byte_is_its_bytes_before_the_nul() {
        let headers = build(&[
            (
                b"traceparent".to_vec(),
                Some(TRACEPARENT.as_bytes().to_vec()),
            ),
            (b"traceparent\0x".to_vec(), Some(b"00-bad".to_vec())),
            (b"k\0".to_vec(), Some(b"v".to_vec())),
        ]);
        let carrier = Carrier::new(headers.as_borrowed());
        assert_eq!(carrier.keys(), ["traceparent", "traceparent", "k"]);
        assert_eq!(carrier.get("traceparent"), Some("00-bad"));
        assert_eq!(carrier.get("k"), Some("v"));
        assert_eq!(carrier.get("k\0"), None);
        let injected = inject(
            &Propagator::new(tracewire_core::propagation::TraceContextPropagator::new()),
            &Context::new(),
            Some(headers),
        )
        .expect("headers");
        assert_eq!(read(&injected), [(b"k".to_vec(), Some(b"v".to_vec()))]);
    }
}
