//! `SpanStart::started_at`: a span backdated to when its operation began.

use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::SpanKind;
use tracewire_core::instrument::{Instrumentation, SpanStart};
use tracewire_testing::TelemetryCapture;

#[test]
fn backdated_spans_start_at_the_given_instant_in_both_worlds() {
    let capture = TelemetryCapture::new();
    let instrumentation = Instrumentation::builder("backdated")
        .tracer_provider(capture.tracer_provider())
        .schema_url("https://opentelemetry.io/schemas/1.44.0")
        .build();
    let before = SystemTime::now();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    tracing::dispatcher::with_default(&capture.tracing_dispatch(), || {
        let span =
            instrumentation.start(SpanStart::new(SpanKind::Client, "poll").started_at(started));
        assert!(span.elapsed() >= Duration::from_millis(20));
        span.end();
    });
    let spans = capture.spans();
    let poll = spans.single("poll");
    poll.assert_kind(SpanKind::Client);
    // Instant and SystemTime are different clocks: allow them a little drift.
    let drift = Duration::from_millis(5);
    assert!(poll.data().start_time + drift >= before);
    assert!(poll.data().start_time <= before + drift);
    assert!(poll.duration() >= Duration::from_millis(20));
    assert_eq!(
        poll.data().instrumentation_scope.schema_url(),
        Some("https://opentelemetry.io/schemas/1.44.0")
    );
}
