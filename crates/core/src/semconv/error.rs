//! `error.type`: the low-cardinality class of a failure.
//!
//! Rules (semconv `error.type`, stable): set it only when the operation failed, to a predictable,
//! low-cardinality value; use the domain code when there is one (`"500"`, `"DEADLINE_EXCEEDED"`,
//! a SQLSTATE) and otherwise the fully-qualified type name of the error; fall back to [`OTHER`].
//!
//! Rust cannot recover the concrete type of an error behind `&dyn Error` at run time (the
//! `source()` chain only yields trait objects), so tracewire does not walk the chain. Instead:
//! - adapters that know their error type use [`error_type_of`] (a `'static` full path such as
//!   `std::io::error::Error`) or a documented low-cardinality name of their own, e.g. a variant
//!   name of the library's error enum, preferring the inner error when the wrapper says nothing;
//! - when nothing better is known they record [`OTHER`].

pub use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE, EXCEPTION_TYPE,
};

/// The fallback `error.type` (and the generic "unknown value" marker of every domain).
pub const OTHER: &str = "_OTHER";

/// The fully-qualified type name of `E`, for `error.type` and `exception.type`.
///
/// The value is `'static`, so recording it does not allocate. The exact text comes from
/// [`std::any::type_name`], which is stable within one compiler version.
///
/// ```
/// use tracewire_core::semconv::error::error_type_of;
/// assert_eq!(error_type_of::<std::fmt::Error>(), "core::fmt::Error");
/// ```
pub fn error_type_of<E: ?Sized>() -> &'static str {
    std::any::type_name::<E>()
}

/// [`error_type_of`] for a value whose type is inferred, e.g. the error of a `Result`.
///
/// ```
/// use tracewire_core::semconv::error::error_type_of_val;
/// let err = "x".parse::<u8>().unwrap_err();
/// assert_eq!(error_type_of_val(&err), "core::num::error::ParseIntError");
/// ```
pub fn error_type_of_val<E: ?Sized>(error: &E) -> &'static str {
    std::any::type_name_of_val(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct MyError;

    #[test]
    fn type_names_are_fully_qualified() {
        assert!(error_type_of::<MyError>().ends_with("semconv::error::tests::MyError"));
        assert_eq!(error_type_of_val(&MyError), error_type_of::<MyError>());
        assert_eq!(ERROR_TYPE, "error.type");
        assert_eq!(OTHER, "_OTHER");
    }
}
