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

use opentelemetry::Context;
use opentelemetry::propagation::Extractor;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracewire_core::propagation::{PairExtractor, PairInjector, Propagator};

/// Injects `cx` into `headers` with `propagator`, replacing the propagator's fields.
///
/// Linear in the number of headers: when none of the existing headers is a propagation field
/// the injected ones are appended in place; otherwise the headers are rebuilt once, without the
/// stale fields, followed by the injected ones. Returns `None` only when there were no headers
/// and nothing was injected (for example an invalid context with a trace-context propagator).
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
    let mut injector = PairInjector::new();
    propagator.inject_context(cx, &mut injector);
    // Injected keys first: they match a stale header before the field list is walked.
    let is_replaced = |key: &str| {
        injector.iter().any(|(injected, _)| injected == key) || is_field(propagator, key)
    };
    let headers = match headers {
        None if injector.is_empty() => return None,
        None => OwnedHeaders::new_with_capacity(injector.len()),
        Some(old) => {
            let first_stale = header_keys(&old).position(&is_replaced);
            match first_stale {
                None => old,
                // Headers before the first stale one are known to be kept: copy them unchecked.
                Some(first_stale) => entries(&old)
                    .enumerate()
                    .filter(|(index, header)| *index < first_stale || !is_replaced(header.key))
                    .fold(
                        OwnedHeaders::new_with_capacity(old.count() + injector.len()),
                        |headers, (_, header)| headers.insert(header),
                    ),
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
    match InlinePairs::read(headers) {
        Some(pairs) => propagator.extract(&pairs),
        None => propagator.extract(&extractor(headers)),
    }
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

/// The non-null headers of a message read in one pass into an array on the stack: a message
/// rarely carries more than [`InlinePairs::CAPACITY`] headers, and extraction then allocates
/// nothing. Reads like [`PairExtractor`] (last UTF-8 value wins, keys in carrier order); values
/// are checked for UTF-8 only when a lookup reaches them.
struct InlinePairs<'a> {
    pairs: [(&'a str, &'a [u8]); InlinePairs::CAPACITY],
    len: usize,
}

impl<'a> InlinePairs<'a> {
    const CAPACITY: usize = 16;

    /// `None` when the headers do not fit.
    fn read<H: Headers + ?Sized>(headers: &'a H) -> Option<Self> {
        let mut inline = Self {
            pairs: [("", &[]); Self::CAPACITY],
            len: 0,
        };
        for pair in entries(headers).filter_map(|header| Some((header.key, header.value?))) {
            *inline.pairs.get_mut(inline.len)? = pair;
            inline.len += 1;
        }
        Some(inline)
    }

    /// The pairs whose value is UTF-8, in carrier order.
    fn utf8(&self) -> impl DoubleEndedIterator<Item = (&'a str, &'a str)> {
        self.pairs[..self.len]
            .iter()
            .filter_map(|(key, value)| Some((*key, std::str::from_utf8(value).ok()?)))
    }
}

impl Extractor for InlinePairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let (_, value) = self.utf8().rev().find(|(k, _)| *k == key)?;
        Some(value)
    }

    fn keys(&self) -> Vec<&str> {
        self.utf8().map(|(key, _)| key).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .utf8()
            .filter(|(k, _)| *k == key)
            .map(|(_, value)| value)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Every header in order; `Headers::iter` needs a sized carrier.
fn entries<H: Headers + ?Sized>(headers: &H) -> impl Iterator<Item = Header<'_, &[u8]>> {
    (0..headers.count()).map_while(|index| headers.try_get(index))
}

fn header_keys<H: Headers + ?Sized>(headers: &H) -> impl Iterator<Item = &str> {
    entries(headers).map(|header| header.key)
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

    proptest! {
        /// The stack extractor reads exactly like the `PairExtractor` it replaces, and gives
        /// way to it when the headers do not fit.
        #[test]
        fn inline_pairs_read_like_the_pair_extractor(
            list in proptest::collection::vec(
                (
                    prop_oneof![Just("traceparent".to_owned()), "[ab]{1}"],
                    proptest::option::of(prop_oneof![
                        Just(b"\xff".to_vec()),
                        "[xyz]{0,3}".prop_map(String::into_bytes),
                    ]),
                ),
                0..24,
            )
        ) {
            let headers = build(&list);
            let pairs = extractor(&headers);
            let non_null = list.iter().filter(|(_, value)| value.is_some()).count();
            match InlinePairs::read(&headers) {
                None => prop_assert!(non_null > InlinePairs::CAPACITY),
                Some(inline) => {
                    prop_assert_eq!(inline.keys(), pairs.keys());
                    for key in ["traceparent", "a", "b", "c"] {
                        prop_assert_eq!(inline.get(key), pairs.get(key));
                        prop_assert_eq!(inline.get_all(key), pairs.get_all(key));
                    }
                }
            }
        }
    }
}
