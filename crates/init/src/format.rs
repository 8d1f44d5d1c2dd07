//! The formats of the `fmt` layer's lines, each carrying the current trace and span ids.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The format of the lines the `fmt` layer writes, from
/// [`Builder::log_format`](crate::Builder::log_format) or `TRACEWIRE_LOG_FORMAT`. Every format
/// carries the current span's `trace_id` and `span_id`: appended as `trace_id=… span_id=…` to
/// the text formats, as members of the object in `json`, as pairs in `logfmt`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogFormat {
    /// `full`: `tracing-subscriber`'s default, the span context and fields on one line.
    #[default]
    Full,
    /// `compact`: the span context after the message, fields abbreviated.
    Compact,
    /// `pretty`: several lines per event, for development.
    Pretty,
    /// `json`: one object per line (`tracing-subscriber`'s JSON, with `trace_id` and `span_id`
    /// members at the top level).
    Json,
    /// `logfmt`: `key=value` pairs, values quoted and escaped when they need it.
    Logfmt,
}

/// The values of `TRACEWIRE_LOG_FORMAT`.
pub(crate) const LOG_FORMATS: &[(&str, LogFormat)] = &[
    ("full", LogFormat::Full),
    ("compact", LogFormat::Compact),
    ("pretty", LogFormat::Pretty),
    ("json", LogFormat::Json),
    ("logfmt", LogFormat::Logfmt),
];

pub(crate) type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The `fmt` layer writing `format` lines to `writer`, behind `filter`.
pub(crate) fn fmt_layer<S, W, F>(format: LogFormat, writer: W, filter: F) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    F: tracing_subscriber::layer::Filter<S> + Send + Sync + 'static,
{
    // Without colours: the formats write through a plain buffer, and span fields formatted in
    // colour would be the only coloured part of a line (and break `json`).
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false);
    match format {
        LogFormat::Full => Box::new(
            layer
                .event_format(WithTraceIds::text(Format::default()))
                .with_filter(filter),
        ),
        LogFormat::Compact => Box::new(
            layer
                .event_format(WithTraceIds::text(Format::default().compact()))
                .with_filter(filter),
        ),
        LogFormat::Pretty => Box::new(
            layer
                .pretty()
                .event_format(WithTraceIds {
                    inner: Format::default().pretty(),
                    ids: Ids::Line,
                })
                .with_filter(filter),
        ),
        LogFormat::Json => Box::new(
            layer
                .fmt_fields(JsonFields::new())
                .event_format(WithTraceIds {
                    inner: Format::default().json(),
                    ids: Ids::JsonMembers,
                })
                .with_filter(filter),
        ),
        LogFormat::Logfmt => Box::new(layer.event_format(Logfmt).with_filter(filter)),
    }
}

/// Where [`WithTraceIds`] puts the ids.
#[derive(Clone, Copy)]
enum Ids {
    /// ` trace_id=… span_id=…` at the end of the line.
    Appended,
    /// On a line of their own (the pretty format's events span several lines).
    Line,
    /// `"trace_id":"…","span_id":"…"` as the object's last members.
    JsonMembers,
}

/// The wrapped format's output, with the current span's ids.
struct WithTraceIds<F> {
    inner: F,
    ids: Ids,
}

impl<F> WithTraceIds<F> {
    fn text(inner: F) -> Self {
        Self {
            inner,
            ids: Ids::Appended,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Sized for a typical line: growing from empty reallocated it about six times per event.
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        let Some(ids) = tracewire_core::context::current_ids() else {
            return writeln!(writer, "{line}");
        };
        match (self.ids, line.strip_suffix('}')) {
            (Ids::Appended, _) => writeln!(writer, "{line} {ids}"),
            (Ids::Line, _) => writeln!(writer, "{line}\n    {ids}\n"),
            // The object closes last: the ids become its last two members.
            (Ids::JsonMembers, Some(open)) => writeln!(
                writer,
                r#"{open},"trace_id":"{}","span_id":"{}"}}"#,
                ids.trace_id, ids.span_id
            ),
            (Ids::JsonMembers, None) => writeln!(writer, "{line}"),
        }
    }
}

/// `time=… level=… target=… [span=…] msg=… <fields> [trace_id=… span_id=…]`.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(192);
        line.push_str("time=");
        SystemTime.format_time(&mut Writer::new(&mut line))?;
        push_pair(&mut line, "level", level(*meta.level()));
        push_pair(&mut line, "target", meta.target());
        if let Some(span) = ctx.lookup_current() {
            push_pair(&mut line, "span", span.name());
        }
        event.record(&mut LogfmtFields { line: &mut line });
        if let Some(ids) = tracewire_core::context::current_ids() {
            push_pair(&mut line, "trace_id", &ids.trace_id.to_string());
            push_pair(&mut line, "span_id", &ids.span_id.to_string());
        }
        writeln!(writer, "{line}")
    }
}

fn level(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Appends an event's fields as logfmt pairs; `message` becomes `msg`.
struct LogfmtFields<'a> {
    line: &'a mut String,
}

impl LogfmtFields<'_> {
    fn key(field: &Field) -> &str {
        match field.name() {
            "message" => "msg",
            name => name,
        }
    }
}

impl Visit for LogfmtFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        push_pair(self.line, Self::key(field), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        push_pair(self.line, Self::key(field), &format!("{value:?}"));
    }
}

/// Appends ` key=value`: a key loses the characters logfmt cannot carry in one (`_` instead),
/// a value is quoted when it is empty or holds a space, `=`, `"` or a control character, and
/// escaped inside the quotes like a JSON string.
pub(crate) fn push_pair(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    if key.is_empty() {
        line.push('_');
    }
    line.extend(key.chars().map(|c| if bare_char(c) { c } else { '_' }));
    line.push('=');
    if !value.is_empty() && value.chars().all(bare_char) {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => {
                let _infallible = write!(line, "\\u{:04x}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

/// Whether `c` may appear in an unquoted value.
fn bare_char(c: char) -> bool {
    c > ' ' && c != '=' && c != '"' && !c.is_control()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex, PoisonError};

    use opentelemetry_sdk::trace::SdkTracerProvider;
    use proptest::prelude::*;
    use tracing_subscriber::Registry;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::{LogFormat, push_pair};
    use crate::subscriber::{Parts, layers};

    /// What the `fmt` layer wrote.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut written = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Reads a logfmt line back into pairs: the test's independent view of the format.
    fn parse(line: &str) -> Result<Vec<(String, String)>, String> {
        let mut pairs = Vec::new();
        let mut chars = line.chars().peekable();
        loop {
            while chars.next_if_eq(&' ').is_some() {}
            if chars.peek().is_none() {
                return Ok(pairs);
            }
            let key: String =
                std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ' ')).collect();
            if chars.next() != Some('=') {
                return Err(format!("no `=` after key {key:?}"));
            }
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next().ok_or("unterminated quote")? {
                        '"' => break,
                        '\\' => match chars.next().ok_or("dangling escape")? {
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            't' => value.push('\t'),
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                let code =
                                    u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                                value.push(char::from_u32(code).ok_or("not a char")?);
                            }
                            c => value.push(c),
                        },
                        c => value.push(c),
                    }
                }
            } else {
                value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ' ')));
            }
            pairs.push((key, value));
        }
    }

    #[test]
    fn values_that_need_it_are_quoted_and_escaped() {
        let mut line = String::new();
        push_pair(&mut line, "msg", "say \"hi\"\n\tnow");
        push_pair(&mut line, "empty", "");
        push_pair(&mut line, "path", r"C:\dir");
        push_pair(&mut line, "bell", "\u{7}");
        push_pair(&mut line, "a key", "x=1");
        assert_eq!(
            line,
            r#"msg="say \"hi\"\n\tnow" empty="" path=C:\dir bell="\u0007" a_key="x=1""#
        );
    }

    #[test]
    fn a_logged_event_reads_back_with_its_ids() {
        let provider = SdkTracerProvider::builder().build();
        let written = Written::default();
        let writer = written.clone();
        let layers = layers::<Registry>(
            Parts {
                tracer_provider: Some(&provider),
                logger_provider: None,
                fmt: Some((
                    LogFormat::Logfmt,
                    BoxMakeWriter::new(move || writer.clone()),
                )),
                filter: "info",
                tracewire_span_details: false,
            },
            &mut Vec::new(),
        );
        let ids = tracing::subscriber::with_default(Registry::default().with(layers), || {
            let _span = tracing::info_span!("checkout", order = 7).entered();
            tracing::info!(note = "two words", path = r"C:\x", "said \"hi\"");
            tracewire_core::context::current_ids()
        });
        let ids = ids.expect("the span has ids");
        let text = String::from_utf8(written.0.lock().expect("not poisoned").clone())
            .expect("UTF-8 lines");
        let pairs = parse(text.trim_end()).expect("a logfmt line");
        let keys: Vec<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "time", "level", "target", "span", "msg", "note", "path", "trace_id", "span_id"
            ]
        );
        let values: Vec<&str> = pairs[1..].iter().map(|(_, value)| value.as_str()).collect();
        assert_eq!(
            values,
            [
                "info",
                module_path!(),
                "checkout",
                "said \"hi\"",
                "two words",
                r"C:\x",
                &ids.trace_id.to_string(),
                &ids.span_id.to_string(),
            ]
        );
    }

    proptest! {
        #[test]
        fn any_value_reads_back(
            values in proptest::collection::vec(any::<String>(), 1..5),
            key in "[a-z_.]{1,12}",
        ) {
            let mut line = String::new();
            for value in &values {
                push_pair(&mut line, &key, value);
            }
            let parsed = parse(&line).map_err(TestCaseError::fail)?;
            let expected: Vec<_> = values.iter().map(|v| (key.clone(), v.clone())).collect();
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn any_key_stays_one_token(key in any::<String>(), value in any::<String>()) {
            let mut line = String::new();
            push_pair(&mut line, &key, &value);
            let parsed = parse(&line).map_err(TestCaseError::fail)?;
            prop_assert_eq!(parsed.len(), 1);
            prop_assert_eq!(&parsed[0].1, &value);
            prop_assert_eq!(parsed[0].0.chars().count(), key.chars().count().max(1));
        }
    }
}
