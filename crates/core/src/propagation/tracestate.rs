//! The W3C `tracestate` list (Trace Context Level 2, with the 2026 key grammar): parsing, the
//! members `TraceState` cannot hold, and the header sent on for the same trace.
//!
//! opentelemetry's `TraceState` still validates keys with the older multi-tenant grammar (one
//! `@`, a system id of at most 13 characters), so a valid header can hold members it refuses.
//! Those members travel beside it, in the extracted [`Context`](opentelemetry::Context) (see
//! [`super::remote`]), and are put back when a context of the same trace is injected.

use opentelemetry::trace::TraceState;

use crate::ascii;

/// The W3C limit on list members.
const MAX_MEMBERS: usize = 32;
/// The combined length the specification asks every vendor to propagate at least; a header this
/// side mutates is cut back to it.
const MAX_HEADER_LEN: usize = 512;
/// Members longer than this are the first removed when a mutated header is too long.
const LONG_MEMBER_LEN: usize = 128;

/// A received `tracestate` that `TraceState` could not hold whole.
#[derive(Debug)]
pub(super) struct Received {
    /// Every member kept from the header, in order, and whether `held` has it.
    members: Vec<Member>,
    /// What `TraceState` holds of the header: the span context's trace state at extraction.
    held: TraceState,
    /// The members joined: sent as they are while the trace state is unchanged.
    header: String,
}

#[derive(Debug)]
struct Member {
    key: String,
    value: String,
    held: bool,
}

/// Parses a `tracestate` value into what `TraceState` holds and, when it could not hold every
/// member, the header as received; `None` when the whole header must be discarded.
///
/// A later member whose key repeats an earlier one is discarded (the specification allows
/// keeping duplicates or discarding one); more than 32 members, a key outside the grammar, a
/// value outside it, or a member without `=` discard the header.
pub(super) fn parse(header: &str) -> Option<(TraceState, Option<Received>)> {
    let mut kept: [(&str, &str); MAX_MEMBERS] = [("", ""); MAX_MEMBERS];
    let mut len = 0;
    let mut all_held = true;
    for (index, member) in members(header).enumerate() {
        let (key, value) = member?;
        if index == MAX_MEMBERS || !valid_key(key) || !valid_value(value) {
            return None;
        }
        if kept[..len].iter().any(|(seen, _)| *seen == key) {
            continue;
        }
        all_held &= trace_state_holds(key);
        kept[len] = (key, value);
        len += 1;
    }
    let kept = &kept[..len];
    if all_held {
        // `trace_state_holds` mirrors `TraceState`'s own check; should they ever disagree, every
        // member travels as received instead.
        if let Ok(trace_state) = TraceState::from_key_value(kept.iter().copied()) {
            return Some((trace_state, None));
        }
    }
    let held = TraceState::from_key_value(
        kept.iter()
            .copied()
            .filter(|(key, _)| trace_state_holds(key)),
    )
    .ok();
    let received = Received {
        members: kept
            .iter()
            .map(|&(key, value)| Member {
                key: key.to_owned(),
                value: value.to_owned(),
                held: held.is_some() && trace_state_holds(key),
            })
            .collect(),
        header: join(kept.iter().copied()),
        held: held.unwrap_or_default(),
    };
    Some((received.held.clone(), Some(received)))
}

impl Received {
    /// The `tracestate` to send for `current`, the trace state of a span in the same trace:
    /// the header as received while `current` is what was extracted; otherwise what the
    /// application set or changed first (a mutated member moves left), then the received
    /// members it has neither removed nor replaced, in their order, within the 32-member and
    /// 512-character limits.
    pub(super) fn header_for(&self, current: &TraceState) -> Option<String> {
        if *current == self.held {
            return Some(self.header.clone());
        }
        let mut members: Vec<(&str, &str)> = Vec::with_capacity(self.members.len() + 1);
        members.extend(
            current
                .into_iter()
                .filter(|(key, value)| self.held.get(key) != Some(value)),
        );
        members.extend(
            self.members
                .iter()
                .filter(|member| match current.get(&member.key) {
                    Some(value) => member.held && value == member.value,
                    None => !member.held,
                })
                .map(|member| (member.key.as_str(), member.value.as_str())),
        );
        within_limits(&mut members);
        (!members.is_empty()).then(|| join(members.into_iter()))
    }
}

/// Drops members from the right beyond 32, then, while the header is longer than 512
/// characters, members longer than 128 characters from the right, then any from the right.
fn within_limits(members: &mut Vec<(&str, &str)>) {
    members.truncate(MAX_MEMBERS);
    let member_len = |(key, value): &(&str, &str)| key.len() + 1 + value.len();
    let mut header_len =
        members.iter().map(member_len).sum::<usize>() + members.len().saturating_sub(1);
    while header_len > MAX_HEADER_LEN {
        let index = members
            .iter()
            .rposition(|member| member_len(member) > LONG_MEMBER_LEN)
            .unwrap_or(members.len() - 1);
        header_len -= member_len(&members.remove(index)) + 1;
    }
}

/// `key=value` pairs joined with `,`.
pub(super) fn join<'a>(members: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut header = String::with_capacity(64);
    for (key, value) in members {
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(key);
        header.push('=');
        header.push_str(value);
    }
    header
}

/// Non-empty list members of a `tracestate` value, split at their first `=`; `None` for a member
/// without `=`.
fn members(header: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    ascii::split(header, b',')
        .map(ascii::trim_ows)
        .filter(|member| !member.is_empty())
        .map(|member| ascii::split_once(member, b'='))
}

/// `key = ( lcalpha / DIGIT ) 0*255( keychar )`, with
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
fn valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    key.len() <= 256
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// 1 to 256 printable ASCII characters other than `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// Whether opentelemetry 0.33's `TraceState` accepts `key`, a key of the current grammar: at
/// most one `@`, followed by at most 13 characters, the first of them alphanumeric.
fn trace_state_holds(key: &str) -> bool {
    match key.split_once('@') {
        None => true,
        Some((_, system)) => {
            system.len() <= 13
                && !system.contains('@')
                && system
                    .bytes()
                    .next()
                    .is_none_or(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(trace_state: &TraceState, received: Option<&Received>) -> String {
        match received {
            Some(received) => received.header_for(trace_state).unwrap_or_default(),
            None => trace_state.header(),
        }
    }

    fn round_trip(header: &str) -> Option<String> {
        let (held, received) = parse(header)?;
        Some(header_of(&held, received.as_ref()))
    }

    #[test]
    fn keys_follow_the_current_grammar() {
        for valid in [
            "foo",
            "0foo",
            "a_-*/9",
            "t@v",
            "foo@",
            "foo@@bar",
            "foo@bar@baz",
            "a@1b",
        ] {
            assert!(valid_key(valid), "{valid}");
        }
        assert!(valid_key(&"k".repeat(256)));
        for invalid in ["", "Foo", "_foo", "@foo", "foo bar", "foo.bar", "foo=", "é"] {
            assert!(!valid_key(invalid), "{invalid}");
        }
        assert!(!valid_key(&"k".repeat(257)));
    }

    #[test]
    fn trace_state_holds_what_opentelemetry_accepts() {
        let keys = [
            "foo".to_owned(),
            "foo@".to_owned(),
            "foo@@bar".to_owned(),
            "foo@bar@baz".to_owned(),
            "a@1b".to_owned(),
            "a@-b".to_owned(),
            "k".repeat(256),
            format!("{}@{}", "t".repeat(241), "v".repeat(13)),
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            format!("{}@v", "t".repeat(242)),
            format!("t@{}", "v".repeat(15)),
        ];
        for key in keys {
            assert_eq!(
                trace_state_holds(&key),
                TraceState::from_key_value([(key.as_str(), "1")]).is_ok(),
                "{key}"
            );
        }
    }

    #[test]
    fn values_are_printable_ascii_without_separators() {
        assert!(valid_value(" leading space is part of the value"));
        assert!(valid_value(&"v".repeat(256)));
        for invalid in ["", "a=b", "a,b", "tab\there", "trailing ", "é"] {
            assert!(!valid_value(invalid), "{invalid:?}");
        }
        assert!(!valid_value(&"v".repeat(257)));
    }

    #[test]
    fn a_header_trace_state_holds_needs_nothing_beside_it() {
        let (held, received) = parse("foo=1, bar=2").expect("valid");
        assert_eq!(held.header(), "foo=1,bar=2");
        assert!(received.is_none());
    }

    #[test]
    fn later_duplicates_are_discarded() {
        assert_eq!(round_trip("foo=1,foo=1").as_deref(), Some("foo=1"));
        assert_eq!(round_trip("foo=1,foo=2").as_deref(), Some("foo=1"));
        assert_eq!(
            round_trip("foo=1,bar=2,foo=3").as_deref(),
            Some("foo=1,bar=2")
        );
        assert_eq!(
            round_trip("a@@b=1,a@@b=2,c=3").as_deref(),
            Some("a@@b=1,c=3")
        );
    }

    #[test]
    fn members_trace_state_refuses_are_kept_in_place() {
        for header in [
            "foo@=1,bar=2",
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "x=0,a@@b=1,y=2",
        ] {
            assert_eq!(round_trip(header).as_deref(), Some(header));
        }
        let (held, _) = parse("x=0,a@@b=1,y=2").expect("valid");
        assert_eq!(held.header(), "x=0,y=2");
        assert_eq!(round_trip("@foo=1,bar=2"), None);
    }

    #[test]
    fn application_changes_win_and_move_left() {
        let (held, received) = parse("x=0,a@@b=1,y=2").expect("valid");
        let received = received.expect("a@@b is not held");
        let updated = held.insert("y", "3").expect("valid");
        assert_eq!(
            received.header_for(&updated).as_deref(),
            Some("y=3,x=0,a@@b=1")
        );
        let added = held.insert("new", "1").expect("valid");
        assert_eq!(
            received.header_for(&added).as_deref(),
            Some("new=1,x=0,a@@b=1,y=2")
        );
        let removed = held.delete("x").expect("valid");
        assert_eq!(received.header_for(&removed).as_deref(), Some("a@@b=1,y=2"));
    }

    #[test]
    fn mutated_headers_keep_the_limits() {
        let mut header: Vec<String> = (0..31).map(|i| format!("k{i}=v")).collect();
        header.push("a@@b=1".to_owned());
        let (held, received) = parse(&header.join(",")).expect("32 members");
        let received = received.expect("a@@b is not held");
        let added = held.insert("new", "1").expect("valid");
        let sent = received.header_for(&added).expect("members");
        assert_eq!(sent.split(',').count(), 32);
        assert!(sent.starts_with("new=1,k0=v"));
        assert!(!sent.contains("a@@b"), "the rightmost member goes: {sent}");

        let long = format!("{}@@x={}", "l".repeat(100), "v".repeat(100));
        let short: Vec<String> = (0..20).map(|i| format!("s{i}=vvvvvvvvvvvvvvvv")).collect();
        let (held, received) = parse(&format!("{long},{}", short.join(","))).expect("valid");
        let received = received.expect("the long key is not held");
        let added = held.insert("new", "1").expect("valid");
        let sent = received.header_for(&added).expect("members");
        assert!(sent.len() <= MAX_HEADER_LEN, "{}", sent.len());
        assert!(!sent.contains("@@x"), "the long member goes first: {sent}");
        assert_eq!(sent.split(',').count(), 21);
    }

    #[test]
    fn discarded_headers() {
        let thirty_three = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        for header in [
            "foo",
            "foo=1,bar",
            "FOO=1",
            "foo=",
            "foo=a=b",
            thirty_three.as_str(),
        ] {
            assert_eq!(round_trip(header), None, "{header}");
        }
    }
}
