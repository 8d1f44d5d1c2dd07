//! `server.address`/`server.port`, `url.scheme` and `client.address` from request headers.
//!
//! Everything here borrows from its input and never allocates or panics; a value that does not
//! parse counts as absent, so the next source in the order of precedence is tried.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::header::{FORWARDED, HOST};
use http::uri::{Authority, Uri};
use http::{HeaderMap, HeaderName};

use crate::ascii;

// `HeaderName`s, not `&str`s: a lookup by `&str` validates and lowercases the name every time.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A host and an optional port, as parsed from a `Host`-like value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostPort<'a> {
    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub host: &'a str,
    /// The port, when the value had one.
    pub port: Option<u16>,
}

impl<'a> HostPort<'a> {
    /// Parses `host[:port]` as found in `Host`, `:authority`, `X-Forwarded-Host` and
    /// `Forwarded: host=`; an IPv6 address must be bracketed (`[::1]:8080`).
    ///
    /// Returns `None` for anything else, including userinfo, paths and non-ASCII hosts.
    ///
    /// ```
    /// use tracewire_core::semconv::http::HostPort;
    /// let hp = HostPort::parse("[::1]:8080").unwrap();
    /// assert_eq!((hp.host, hp.port), ("::1", Some(8080)));
    /// assert_eq!(HostPort::parse("example.com").unwrap().port, None);
    /// assert_eq!(HostPort::parse("example.com:http"), None);
    /// ```
    pub fn parse(value: &'a str) -> Option<Self> {
        // Byte searches: this runs on every request, and the generic `char` pattern search
        // costs more than the whole parse of a typical `Host`.
        let value = value.trim_ascii();
        if let Some(bracketed) = value.strip_prefix('[') {
            let (host, rest) = ascii::split_once(bracketed, b']')?;
            host.parse::<Ipv6Addr>().ok()?;
            let port = match rest {
                "" => None,
                _ => parse_optional_port(rest.strip_prefix(':')?)?,
            };
            return Some(Self { host, port });
        }
        let (host, port) = match ascii::split_once(value, b':') {
            Some((host, port)) => (host, parse_optional_port(port)?),
            None => (value, None),
        };
        is_reg_name(host).then_some(Self { host, port })
    }
}

/// A port after `:`: empty means no port (RFC 3986 allows `host:`); otherwise 1-5 digits.
fn parse_optional_port(text: &str) -> Option<Option<u16>> {
    if text.is_empty() {
        return Some(None);
    }
    parse_port(text).map(Some)
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// RFC 3986 `reg-name` (also covers IPv4 literals), non-empty.
fn is_reg_name(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| REG_NAME[usize::from(b)])
}

/// The bytes a `reg-name` may hold: unreserved, `%` and sub-delims.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

/// `server.address` / `server.port` on the server side (semconv §1.7), from the first of:
/// `Forwarded: host=` (first occurrence), `X-Forwarded-Host` (first value), the request URI
/// authority (`:authority` in HTTP/2 and HTTP/3), `Host`.
///
/// Proxy headers are client-controlled: only call this with them present when the proxies in
/// front of the service are trusted, and keep `server.*` off metrics by default.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tracewire_core::semconv::http::server_address_from_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("host", HeaderValue::from_static("internal:8080"));
/// headers.insert("forwarded", HeaderValue::from_static("for=1.2.3.4;host=\"example.com:443\""));
/// let hp = server_address_from_headers(&headers, None).unwrap();
/// assert_eq!((hp.host, hp.port), ("example.com", Some(443)));
/// ```
pub fn server_address_from_headers<'a>(
    headers: &'a HeaderMap,
    authority: Option<&'a Authority>,
) -> Option<HostPort<'a>> {
    forwarded_param(headers, "host")
        .and_then(HostPort::parse)
        .or_else(|| first_list_value(headers, X_FORWARDED_HOST).and_then(HostPort::parse))
        .or_else(|| {
            authority.and_then(|authority| HostPort::parse(strip_userinfo(authority.as_str())))
        })
        .or_else(|| {
            let host = headers.get(HOST)?.to_str().ok()?;
            HostPort::parse(host)
        })
}

fn strip_userinfo(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// `server.address` / `server.port` on the client side, from the request URI. The port is always
/// set when it is known, using the scheme's default (80 for `http`/`ws`, 443 for `https`/`wss`).
///
/// ```
/// use tracewire_core::semconv::http::client_server_address;
/// let uri: http::Uri = "https://[2001:db8::1]/a".parse().unwrap();
/// let hp = client_server_address(&uri).unwrap();
/// assert_eq!((hp.host, hp.port), ("2001:db8::1", Some(443)));
/// ```
pub fn client_server_address(uri: &Uri) -> Option<HostPort<'_>> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri.port_u16().or_else(|| match uri.scheme_str()? {
        s if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("ws") => Some(80),
        s if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss") => Some(443),
        _ => None,
    });
    Some(HostPort { host, port })
}

/// The client's original `url.scheme` from `Forwarded: proto=` or `X-Forwarded-Proto` (first
/// value). `http` and `https` are returned lowercase whatever their case; other valid schemes as
/// sent. Only meaningful behind trusted proxies.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tracewire_core::semconv::http::url_scheme_from_headers;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
/// assert_eq!(url_scheme_from_headers(&headers), Some("https"));
/// ```
pub fn url_scheme_from_headers(headers: &HeaderMap) -> Option<&str> {
    forwarded_param(headers, "proto")
        .and_then(parse_scheme)
        .or_else(|| first_list_value(headers, X_FORWARDED_PROTO).and_then(parse_scheme))
}

fn parse_scheme(value: &str) -> Option<&str> {
    let value = value.trim();
    let mut bytes = value.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !valid {
        None
    } else if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        Some(value)
    }
}

/// The original client's `client.address` from `Forwarded: for=` (first occurrence) or
/// `X-Forwarded-For` (first entry), without port or brackets.
///
/// Only IP literals are accepted: `unknown`, obfuscated identifiers (`_hidden`) and anything else
/// give `None`, so a spoofed header cannot inject arbitrary text. Only call this when the user
/// trusts the proxies in front of the service; otherwise use the socket peer.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tracewire_core::semconv::http::client_address_from_headers;
/// let mut headers = HeaderMap::new();
/// headers.insert("forwarded", HeaderValue::from_static("for=\"[2001:db8::17]:4711\", for=10.0.0.1"));
/// assert_eq!(client_address_from_headers(&headers), Some("2001:db8::17"));
/// ```
pub fn client_address_from_headers(headers: &HeaderMap) -> Option<&str> {
    forwarded_param(headers, "for")
        .and_then(parse_node)
        .or_else(|| first_list_value(headers, X_FORWARDED_FOR).and_then(parse_node))
}

/// An RFC 7239 node (`ip`, `ip:port`, `[ipv6]`, `[ipv6]:port`) or a bare IPv6 address as some
/// proxies write in `X-Forwarded-For`; returns the address.
fn parse_node(value: &str) -> Option<&str> {
    let value = value.trim();
    if let Some(bracketed) = value.strip_prefix('[') {
        let (address, rest) = bracketed.split_once(']')?;
        address.parse::<Ipv6Addr>().ok()?;
        return (rest.is_empty() || rest.strip_prefix(':').is_some_and(is_node_port))
            .then_some(address);
    }
    if value.parse::<IpAddr>().is_ok() {
        return Some(value);
    }
    let (address, port) = value.split_once(':')?;
    (address.parse::<Ipv4Addr>().is_ok() && is_node_port(port)).then_some(address)
}

/// RFC 7239 `node-port`: a port number or an obfuscated `_`-prefixed identifier.
fn is_node_port(port: &str) -> bool {
    parse_port(port).is_some()
        || port.strip_prefix('_').is_some_and(|obf| {
            !obf.is_empty()
                && obf
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

/// The first value of a comma-separated list header (first header line, first entry).
fn first_list_value(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    let line = headers.get(name)?.to_str().ok()?;
    let first = line.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// The value of the first `name=` parameter across all `Forwarded` header lines, in order.
fn forwarded_param<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(FORWARDED)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(ForwardedPairs::new)
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value)
}

/// The `name=value` pairs of a `Forwarded` header line (RFC 7239), across all its elements.
///
/// Quoted values are unquoted; a quoted value with escapes yields `None` because the unescaped
/// text cannot be borrowed and no valid host, scheme or node contains a backslash. An unterminated
/// quote ends the iteration.
pub(crate) struct ForwardedPairs<'a> {
    rest: &'a str,
}

impl<'a> ForwardedPairs<'a> {
    pub(crate) fn new(line: &'a str) -> Self {
        Self { rest: line }
    }
}

impl<'a> Iterator for ForwardedPairs<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest.trim_start_matches([' ', '\t', ',', ';']);
            if rest.is_empty() {
                self.rest = rest;
                return None;
            }
            let name_end = rest.find(['=', ';', ',']).unwrap_or(rest.len());
            let (name, after_name) = rest.split_at(name_end);
            let Some(after_eq) = after_name.strip_prefix('=') else {
                // A parameter without a value: skip it.
                self.rest = after_name;
                continue;
            };
            let name = name.trim();
            let after_eq = after_eq.trim_start_matches([' ', '\t']);
            if let Some(quoted) = after_eq.strip_prefix('"') {
                let Some((end, escaped)) = closing_quote(quoted) else {
                    self.rest = "";
                    return None;
                };
                let (value, after) = quoted.split_at(end);
                self.rest = after.get(1..).unwrap_or("");
                return Some((name, (!escaped).then_some(value)));
            }
            let value_end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
            let (value, after) = after_eq.split_at(value_end);
            self.rest = after;
            return Some((name, Some(value.trim())));
        }
    }
}

/// The byte offset of the closing `"` of a quoted string (after the opening quote), and whether
/// the string contained a backslash escape.
fn closing_quote(quoted: &str) -> Option<(usize, bool)> {
    let bytes = quoted.as_bytes();
    let mut escaped = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => return Some((i, escaped)),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn hp(host: &str, port: Option<u16>) -> Option<HostPort<'_>> {
        Some(HostPort { host, port })
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(HostPort::parse("example.com"), hp("example.com", None));
        assert_eq!(
            HostPort::parse(" example.com:8080 "),
            hp("example.com", Some(8080))
        );
        assert_eq!(HostPort::parse("example.com:"), hp("example.com", None));
        assert_eq!(HostPort::parse("10.1.2.3:0"), hp("10.1.2.3", Some(0)));
        assert_eq!(HostPort::parse("[::1]"), hp("::1", None));
        assert_eq!(HostPort::parse("[::1]:8080"), hp("::1", Some(8080)));
        assert_eq!(
            HostPort::parse("[2001:db8::1]:443"),
            hp("2001:db8::1", Some(443))
        );
        assert_eq!(HostPort::parse("[::1]:"), hp("::1", None));
        for bad in [
            "",
            ":80",
            "example.com:65536",
            "example.com:+80",
            "example.com:8o",
            "a:1:2",
            "::1",
            "[::1",
            "[::1]x",
            "[::1]:x",
            "[zz::1]:80",
            "[]:80",
            "user@host",
            "host/path",
            "ex ample.com",
            "h\u{e9}st",
            "example.com:123456",
        ] {
            assert_eq!(HostPort::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn forwarded_pairs() {
        let pairs: Vec<_> = ForwardedPairs::new(
            "for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\";host=\"a,b;c\"",
        )
        .collect();
        assert_eq!(
            pairs,
            [
                ("for", Some("192.0.2.60")),
                ("proto", Some("http")),
                ("by", Some("203.0.113.43")),
                ("For", Some("[2001:db8:cafe::17]:4711")),
                ("host", Some("a,b;c")),
            ]
        );
        let escaped: Vec<_> = ForwardedPairs::new(r#"host="a\"b";proto=https"#).collect();
        assert_eq!(escaped, [("host", None), ("proto", Some("https"))]);
        let unterminated: Vec<_> = ForwardedPairs::new("proto=http;host=\"abc").collect();
        assert_eq!(unterminated, [("proto", Some("http"))]);
        let valueless: Vec<_> = ForwardedPairs::new("secret;;, ,host=x").collect();
        assert_eq!(valueless, [("host", Some("x"))]);
    }

    #[test]
    fn server_address_precedence() {
        let authority: Authority = "user:pw@authority.example:8443".parse().unwrap();
        let all = headers(&[
            ("forwarded", "for=1.2.3.4;host=fwd.example:1111"),
            ("x-forwarded-host", "xfh.example:2222, other"),
            ("host", "host.example:3333"),
        ]);
        assert_eq!(
            server_address_from_headers(&all, Some(&authority)),
            hp("fwd.example", Some(1111))
        );
        let no_forwarded = headers(&[
            ("x-forwarded-host", "xfh.example:2222, other"),
            ("host", "host.example:3333"),
        ]);
        assert_eq!(
            server_address_from_headers(&no_forwarded, Some(&authority)),
            hp("xfh.example", Some(2222))
        );
        let host_only = headers(&[("host", "host.example:3333")]);
        assert_eq!(
            server_address_from_headers(&host_only, Some(&authority)),
            hp("authority.example", Some(8443))
        );
        assert_eq!(
            server_address_from_headers(&host_only, None),
            hp("host.example", Some(3333))
        );
        assert_eq!(server_address_from_headers(&HeaderMap::new(), None), None);
    }

    #[test]
    fn forwarded_quirks() {
        let quoted_ipv6 = headers(&[("forwarded", "host=\"[::1]:8080\"")]);
        assert_eq!(
            server_address_from_headers(&quoted_ipv6, None),
            hp("::1", Some(8080))
        );
        // The first element without `host` does not stop the search; the first `host` wins.
        let later = headers(&[
            ("forwarded", "for=1.1.1.1"),
            (
                "forwarded",
                "for=2.2.2.2;HOST=second.example, host=third.example",
            ),
        ]);
        assert_eq!(
            server_address_from_headers(&later, None),
            hp("second.example", None)
        );
        // An invalid value falls through to the next source.
        let bad = headers(&[("forwarded", "host=\"bad host\""), ("host", "good.example")]);
        assert_eq!(
            server_address_from_headers(&bad, None),
            hp("good.example", None)
        );
        let escaped = headers(&[("forwarded", r#"host="a\"b""#), ("host", "good.example")]);
        assert_eq!(
            server_address_from_headers(&escaped, None),
            hp("good.example", None)
        );
        let ipv6_host = headers(&[("host", "[fe80::1]:80")]);
        assert_eq!(
            server_address_from_headers(&ipv6_host, None),
            hp("fe80::1", Some(80))
        );
    }

    #[test]
    fn client_side_address_uses_default_ports() {
        let cases = [
            ("http://example.com/x", "example.com", Some(80)),
            ("https://example.com", "example.com", Some(443)),
            ("HTTPS://example.com", "example.com", Some(443)),
            ("wss://example.com", "example.com", Some(443)),
            ("http://example.com:8080/", "example.com", Some(8080)),
            ("http://[::1]:9/", "::1", Some(9)),
            ("ftp://example.com/", "example.com", None),
        ];
        for (uri, host, port) in cases {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(client_server_address(&uri), hp(host, port), "{uri}");
        }
        let relative: Uri = "/path".parse().unwrap();
        assert_eq!(client_server_address(&relative), None);
    }

    #[test]
    fn scheme_from_headers() {
        let forwarded = headers(&[("forwarded", "proto=HTTP"), ("x-forwarded-proto", "https")]);
        assert_eq!(url_scheme_from_headers(&forwarded), Some("http"));
        let xfp = headers(&[("x-forwarded-proto", " https , http")]);
        assert_eq!(url_scheme_from_headers(&xfp), Some("https"));
        let other = headers(&[("x-forwarded-proto", "wss")]);
        assert_eq!(url_scheme_from_headers(&other), Some("wss"));
        let bad = headers(&[("x-forwarded-proto", "1http")]);
        assert_eq!(url_scheme_from_headers(&bad), None);
        assert_eq!(url_scheme_from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn client_address() {
        type Headers = &'static [(&'static str, &'static str)];
        let cases: [(Headers, Option<&str>); 12] = [
            (
                &[("forwarded", "for=192.0.2.43, for=198.51.100.17")],
                Some("192.0.2.43"),
            ),
            (
                &[("forwarded", "For=\"[2001:db8:cafe::17]:4711\"")],
                Some("2001:db8:cafe::17"),
            ),
            (
                &[("forwarded", "for=\"192.0.2.43:47011\"")],
                Some("192.0.2.43"),
            ),
            (&[("forwarded", "for=\"[::1]:_abc\"")], Some("::1")),
            (
                &[("forwarded", "for=unknown"), ("x-forwarded-for", "1.1.1.1")],
                Some("1.1.1.1"),
            ),
            (&[("forwarded", "for=_hidden")], None),
            (&[("forwarded", "by=1.2.3.4")], None),
            (
                &[("x-forwarded-for", "203.0.113.195, 70.41.3.18")],
                Some("203.0.113.195"),
            ),
            (
                &[("x-forwarded-for", "2001:db8:85a3::8a2e:370:7334")],
                Some("2001:db8:85a3::8a2e:370:7334"),
            ),
            (
                &[("x-forwarded-for", "203.0.113.195:41237")],
                Some("203.0.113.195"),
            ),
            (&[("x-forwarded-for", "evil.example")], None),
            (&[("x-forwarded-for", ", 1.1.1.1")], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                client_address_from_headers(&headers(pairs)),
                expected,
                "{pairs:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn host_port_never_panics_and_has_no_port_separator(s in ".*") {
            if let Some(parsed) = HostPort::parse(&s) {
                prop_assert!(!parsed.host.is_empty());
                prop_assert!(s.contains(parsed.host));
                if parsed.host.contains(':') {
                    prop_assert!(parsed.host.parse::<Ipv6Addr>().is_ok());
                }
                prop_assert!(!parsed.host.contains(['[', ']', '/', '@', ' ']));
            }
        }

        #[test]
        fn host_port_roundtrips(host in "[a-z0-9.-]{1,20}", port in proptest::option::of(any::<u16>())) {
            let text = match port {
                Some(port) => format!("{host}:{port}"),
                None => host.clone(),
            };
            prop_assert_eq!(HostPort::parse(&text), Some(HostPort { host: &host, port }));
        }

        #[test]
        fn ipv6_roundtrips(addr in any::<Ipv6Addr>(), port in any::<u16>()) {
            let text = format!("[{addr}]:{port}");
            let parsed = HostPort::parse(&text).unwrap();
            prop_assert_eq!(parsed.host.parse::<Ipv6Addr>().unwrap(), addr);
            prop_assert_eq!(parsed.port, Some(port));
        }

        #[test]
        fn forwarded_pairs_never_panic(s in ".*") {
            for (name, value) in ForwardedPairs::new(&s) {
                prop_assert!(!name.contains(['=', ';', ',']));
                if let Some(value) = value {
                    prop_assert!(s.contains(value));
                }
            }
        }

        #[test]
        fn forwarded_quoted_values_survive_separators(host in "[a-z.,;= ]{0,20}", n in 0usize..3) {
            let mut line = "for=1.2.3.4, ".repeat(n);
            line.push_str(&format!("proto=https;host=\"{host}\""));
            let found = ForwardedPairs::new(&line).find(|(k, _)| *k == "host").and_then(|(_, v)| v);
            prop_assert_eq!(found, Some(host.as_str()));
        }

        #[test]
        fn node_parsing_never_panics(s in ".*") {
            if let Some(address) = parse_node(&s) {
                prop_assert!(address.parse::<IpAddr>().is_ok());
            }
        }

        #[test]
        fn node_parsing_recovers_ips(ip in any::<IpAddr>(), port in any::<u16>()) {
            let text = match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            };
            let parsed = parse_node(&text).unwrap().parse::<IpAddr>().unwrap();
            prop_assert_eq!(parsed, ip);
        }

        #[test]
        fn scheme_parsing_never_panics(s in ".*") {
            if let Some(scheme) = parse_scheme(&s) {
                prop_assert!(scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
            }
        }
    }
}
