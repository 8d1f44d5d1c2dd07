//! W3C Trace Context Level 2 cases for one hop through a service: what arrives on the incoming
//! request, and what the service must send on its outgoing call inside it.
//!
//! Every adapter runs the same table end to end (incoming request, server span, client call,
//! outgoing headers), so a carrier that loses a flag or a `tracestate` member fails in its own
//! crate's tests. The service is expected to sample like the SDK default
//! (`parentbased_always_on`).

use opentelemetry_sdk::trace::Sampler;

use crate::TelemetryCapture;

/// A capture sampling like the SDK default (`parentbased_always_on`), which [`hop_cases`]
/// expect of the service.
pub fn service_capture() -> TelemetryCapture {
    TelemetryCapture::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
}

/// The trace id of every incoming `traceparent` in [`hop_cases`].
pub const INCOMING_TRACE_ID: &str = "12345678901234567890123456789012";

/// One incoming request and what the service must send on for it.
#[derive(Clone, Debug)]
pub struct HopCase {
    /// What the case shows, for failure messages.
    pub name: String,
    /// The incoming `traceparent`; `None` for a trace the service starts itself.
    pub traceparent: Option<String>,
    /// The incoming `tracestate` header lines, in order.
    pub tracestate: Vec<String>,
    /// The trace flags the outgoing `traceparent` must carry.
    pub sent_flags: &'static str,
    /// The outgoing `tracestate`; `None` when none may be sent.
    pub sent_tracestate: Option<String>,
}

impl HopCase {
    /// The incoming `tracestate` lines as one header, for carriers that keep only one value per
    /// key (the specification treats several lines as one list).
    pub fn tracestate_joined(&self) -> Option<String> {
        (!self.tracestate.is_empty()).then(|| self.tracestate.join(","))
    }

    /// The incoming headers: `traceparent` (when the case has one) and each `tracestate` line.
    pub fn incoming_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = self
            .traceparent
            .iter()
            .map(|value| ("traceparent", value.clone()))
            .collect();
        headers.extend(
            self.tracestate
                .iter()
                .map(|line| ("tracestate", line.clone())),
        );
        headers
    }

    /// Asserts what the service sent on: one `traceparent` in the incoming trace (a new trace
    /// when the case has none), from a span of its own, with the expected flags, and exactly the
    /// expected `tracestate` (every line sent, joined).
    ///
    /// # Panics
    ///
    /// When the outgoing headers differ from the expectation.
    pub fn assert_sent(&self, traceparent: &[String], tracestate: &[String]) {
        let name = &self.name;
        let [sent] = traceparent else {
            panic!("{name}: one traceparent must be sent, got {traceparent:?}");
        };
        let fields: Vec<&str> = sent.split('-').collect();
        let [version, trace_id, span_id, flags] = fields[..] else {
            panic!("{name}: malformed traceparent sent: {sent}");
        };
        assert_eq!(version, "00", "{name}: {sent}");
        assert_eq!(flags, self.sent_flags, "{name}: flags of {sent}");
        match &self.traceparent {
            Some(incoming) => {
                assert_eq!(trace_id, INCOMING_TRACE_ID, "{name}: trace id of {sent}");
                assert!(
                    !incoming.contains(span_id),
                    "{name}: {sent} must come from the service's own span, not {incoming}"
                );
            }
            None => assert_ne!(trace_id, INCOMING_TRACE_ID, "{name}: {sent}"),
        }
        let joined = (!tracestate.is_empty()).then(|| tracestate.join(","));
        assert_eq!(joined, self.sent_tracestate, "{name}: tracestate sent");
    }
}

fn traceparent(flags: &str) -> String {
    format!("00-{INCOMING_TRACE_ID}-1234567890123456-{flags}")
}

fn case(
    name: impl Into<String>,
    flags: &'static str,
    tracestate: &[&str],
    sent_tracestate: Option<&str>,
) -> HopCase {
    HopCase {
        name: name.into(),
        traceparent: Some(traceparent(flags)),
        tracestate: tracestate.iter().map(|line| (*line).to_owned()).collect(),
        sent_flags: flags,
        sent_tracestate: sent_tracestate.map(str::to_owned),
    }
}

/// The Level 2 cases: the random flag kept for the trace (sampled or not) and set on a trace
/// started here; duplicated `tracestate` keys (one kept); keys with `@` of the current grammar
/// and long keys inherited whole; keys outside it discarding the header.
pub fn hop_cases() -> Vec<HopCase> {
    let long_key = "k".repeat(256);
    let too_long_key = "k".repeat(257);
    let mut cases = vec![
        HopCase {
            name: "a trace started by the service is random".to_owned(),
            traceparent: None,
            tracestate: Vec::new(),
            sent_flags: "03",
            sent_tracestate: None,
        },
        case("random, not sampled", "02", &[], None),
        case("random and sampled", "03", &[], None),
        case("sampled, not random", "01", &[], None),
        case("neither", "00", &[], None),
        case(
            "duplicate, same value",
            "01",
            &["foo=1,foo=1"],
            Some("foo=1"),
        ),
        case(
            "duplicate, other value",
            "01",
            &["foo=1,foo=2"],
            Some("foo=1"),
        ),
        case(
            "duplicate over two lines",
            "01",
            &["foo=1", "foo=1"],
            Some("foo=1"),
        ),
        case(
            "duplicate over two lines, other value",
            "01",
            &["foo=1", "foo=2"],
            Some("foo=1"),
        ),
        case("key starting with @", "01", &["@foo=1,bar=2"], None),
        case(
            "257-character key",
            "01",
            &["foo=1", &format!("{too_long_key}=1")],
            None,
        ),
        case(
            "256-character key on a second line",
            "01",
            &["foo=1", &format!("{long_key}=1")],
            Some(&format!("foo=1,{long_key}=1")),
        ),
    ];
    for line in ["foo@=1,bar=2", "foo@@bar=1,bar=2", "foo@bar@baz=1,bar=2"] {
        cases.push(case(
            format!("key grammar: {line}"),
            "01",
            &[line],
            Some(line),
        ));
    }
    for key in [
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        format!("{}@v", "t".repeat(242)),
        format!("t@{}", "v".repeat(15)),
    ] {
        let member = format!("{key}=1");
        cases.push(case(
            format!("long key {}…", &key[..8]),
            "03",
            &["foo=1", &member],
            Some(&format!("foo=1,{member}")),
        ));
    }
    cases
}
