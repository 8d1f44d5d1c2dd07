//! Known URL path templates, matched against request paths to give `url.template`.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use opentelemetry::StringValue;

/// A list of known path templates such as `/users/{id}` or `/files/{*path}`.
///
/// When a request carries no [`UrlTemplate`](crate::UrlTemplate) extension, its URL path is
/// matched against this list, and the first template that matches becomes `url.template` and the
/// span name target. A template is a path of `/`-separated segments, each of which is:
///
/// - a literal, compared byte for byte with the (percent-encoded) path segment;
/// - `{name}`: any one non-empty segment;
/// - `{*name}`, last only: one or more remaining segments.
///
/// Matching walks the path in place: it never allocates, and a miss costs a few segment
/// comparisons per template. List the more specific templates first (`/users/me` before
/// `/users/{id}`).
///
/// ```
/// use tracewire_reqwest::PathTemplates;
///
/// let templates = PathTemplates::new(["/users/me", "/users/{id}", "/files/{*path}"])?;
/// assert_eq!(templates.find("/users/me"), Some("/users/me"));
/// assert_eq!(templates.find("/users/42"), Some("/users/{id}"));
/// assert_eq!(templates.find("/files/a/b.txt"), Some("/files/{*path}"));
/// assert_eq!(templates.find("/users/42/posts"), None);
/// # Ok::<(), tracewire_reqwest::InvalidTemplate>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PathTemplates {
    templates: Vec<Template>,
}

#[derive(Clone, Debug)]
struct Template {
    text: StringValue,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Param,
    CatchAll,
}

/// A template [`PathTemplates::new`] refused, and why.
///
/// ```
/// use tracewire_reqwest::PathTemplates;
/// let error = PathTemplates::new(["users/{id}"]).unwrap_err();
/// assert_eq!(error.template(), "users/{id}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTemplate {
    template: String,
    reason: &'static str,
}

impl InvalidTemplate {
    /// The refused template.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Why it was refused.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for InvalidTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid path template {:?}: {}",
            self.template, self.reason
        )
    }
}

impl Error for InvalidTemplate {}

impl PathTemplates {
    /// Parses the templates, in matching order.
    ///
    /// # Errors
    ///
    /// A template that does not start with `/`, has an empty or partial parameter
    /// (`/{}`, `/file-{id}`), an unbalanced brace, or a `{*name}` that is not last.
    pub fn new<I, S>(templates: I) -> Result<Self, InvalidTemplate>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let templates = templates
            .into_iter()
            .map(|template| Template::parse(template.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { templates })
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// The first template matching `path` (a URL path, with its leading `/`).
    pub fn find(&self, path: &str) -> Option<&str> {
        self.find_value(path).map(StringValue::as_str)
    }

    /// The matching template as an attribute value (cloning it is a reference-count bump).
    pub(crate) fn find_value(&self, path: &str) -> Option<&StringValue> {
        let rest = path.strip_prefix('/')?;
        self.templates
            .iter()
            .find(|template| template.matches(rest))
            .map(|template| &template.text)
    }
}

impl Template {
    fn parse(template: &str) -> Result<Self, InvalidTemplate> {
        let invalid = |reason| InvalidTemplate {
            template: template.to_owned(),
            reason,
        };
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| invalid("a template starts with '/'"))?;
        let mut segments = Vec::new();
        for part in rest.split('/') {
            if segments.last() == Some(&Segment::CatchAll) {
                return Err(invalid("'{*name}' must be the last segment"));
            }
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.contains(['{', '}']) => return Err(invalid("nested braces")),
                Some(name) => match name.strip_prefix('*') {
                    Some("") => return Err(invalid("empty parameter name")),
                    Some(_) => Segment::CatchAll,
                    None if name.is_empty() => return Err(invalid("empty parameter name")),
                    None => Segment::Param,
                },
                None if part.contains(['{', '}']) => {
                    return Err(invalid("a parameter must be a whole segment"));
                }
                None => Segment::Literal(part.into()),
            };
            segments.push(segment);
        }
        Ok(Self {
            text: StringValue::from(Arc::<str>::from(template)),
            segments,
        })
    }

    /// Matches a path without its leading `/`.
    fn matches(&self, rest: &str) -> bool {
        let mut parts = rest.split('/');
        for segment in &self.segments {
            let Some(part) = parts.next() else {
                return false;
            };
            let matched = match segment {
                Segment::Literal(literal) => **literal == *part,
                Segment::Param => !part.is_empty(),
                Segment::CatchAll => return !part.is_empty(),
            };
            if !matched {
                return false;
            }
        }
        parts.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn templates(list: &[&str]) -> PathTemplates {
        PathTemplates::new(list).unwrap()
    }

    #[test]
    fn literals_params_and_catch_all() {
        let t = templates(&[
            "/",
            "/users/me",
            "/users/{id}",
            "/users/{id}/",
            "/a/{*rest}",
        ]);
        assert_eq!(t.find("/"), Some("/"));
        assert_eq!(t.find("/users/me"), Some("/users/me"));
        assert_eq!(t.find("/users/7"), Some("/users/{id}"));
        assert_eq!(t.find("/users/7/"), Some("/users/{id}/"));
        assert_eq!(t.find("/a/b"), Some("/a/{*rest}"));
        assert_eq!(t.find("/a/b/c/"), Some("/a/{*rest}"));
        for miss in [
            "", "users/7", "/users", "/users/", "/users//", "/a", "/a/", "/x", "//",
        ] {
            assert_eq!(t.find(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn first_match_wins() {
        let t = templates(&["/users/{id}", "/users/me"]);
        assert_eq!(t.find("/users/me"), Some("/users/{id}"));
    }

    #[test]
    fn invalid_templates_are_refused() {
        for bad in [
            "",
            "users",
            "/{}",
            "/{*}",
            "/a/{b",
            "/a/b}",
            "/file-{id}",
            "/{a}{b}",
            "/{{a}}",
            "/{*rest}/more",
        ] {
            assert!(PathTemplates::new([bad]).is_err(), "{bad:?}");
        }
        let error = PathTemplates::new(["/ok", "/{*a}/b"]).unwrap_err();
        assert_eq!(error.template(), "/{*a}/b");
        assert!(error.to_string().contains("last segment"));
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9._~-]{0,6}",
            "[a-z]{1,4}".prop_map(|name| format!("{{{name}}}")),
        ]
    }

    proptest! {
        #[test]
        fn a_template_matches_every_path_it_describes(
            segments in proptest::collection::vec(segment(), 1..6),
            values in proptest::collection::vec("[A-Za-z0-9%._-]{1,8}", 6),
        ) {
            let template = format!("/{}", segments.join("/"));
            let path = format!("/{}", segments
                .iter()
                .zip(&values)
                .map(|(segment, value)| if segment.starts_with('{') { value.as_str() } else { segment.as_str() })
                .collect::<Vec<_>>()
                .join("/"));
            let t = PathTemplates::new([&template]).unwrap();
            prop_assert_eq!(t.find(&path), Some(template.as_str()));
            let longer = format!("{path}/extra");
            prop_assert_eq!(t.find(&longer), None);
        }

        #[test]
        fn arbitrary_input_never_panics(template in "\\PC{0,24}", path in "\\PC{0,24}") {
            if let Ok(t) = PathTemplates::new([&template]) {
                let _ = t.find(&path);
                let _ = t.find(&template);
            }
        }
    }
}
