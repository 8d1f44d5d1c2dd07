//! Record headers through librdkafka's C header API (`rd_kafka_header_*`), for what rdkafka's
//! safe API cannot do: read a header whose key is not UTF-8 (rdkafka 0.39's
//! `Headers::try_get` unwraps the key's UTF-8 check and panics), read keys without that check,
//! add headers without a panic on a refusal, and remove headers in place instead of
//! rebuilding the list.
//!
//! The workspace's only `unsafe` code outside tests; everything else reaches librdkafka
//! through this module's safe functions. librdkafka hands keys out as C strings and removes by
//! C string comparison, so a stored key that holds a NUL byte is seen up to that byte.
//!
//! Every unsafe block relies on the invariant stated in `list_of`: a header handle's address
//! is its librdkafka list.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_char, c_void};
use std::marker::PhantomData;
use std::ptr;

use rdkafka::message::{BorrowedHeaders, OwnedHeaders};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka_sys::{RDKafkaHeaders, RDKafkaRespErr};

/// One header as librdkafka hands it out: the key's bytes (up to its first NUL byte) and the
/// value, `None` when null.
pub(crate) type RawHeader<'a> = (&'a [u8], Option<&'a [u8]>);

/// Read access to a header list for as long as its handle is borrowed.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    list: *const RDKafkaHeaders,
    _handle: PhantomData<&'a BorrowedHeaders>,
}

impl<'a> View<'a> {
    pub(crate) fn new(headers: &'a BorrowedHeaders) -> Self {
        Self {
            list: list_of(headers),
            _handle: PhantomData,
        }
    }

    /// How many headers the list holds.
    pub(crate) fn count(self) -> usize {
        // SAFETY: `list` is alive and unchanged for 'a (`list_of`); `rd_kafka_header_cnt` only
        // reads it.
        unsafe { rdkafka_sys::rd_kafka_header_cnt(self.list) }
    }

    /// The header at `index`; `None` past the end.
    pub(crate) fn get(self, index: usize) -> Option<RawHeader<'a>> {
        let mut name: *const c_char = ptr::null();
        let mut value: *const c_void = ptr::null();
        let mut size = 0;
        // SAFETY: `list` is alive and unchanged for 'a (`list_of`), the out-pointers point to
        // locals, and `rd_kafka_header_get_all` checks `index` against the list's length.
        let found = unsafe {
            rdkafka_sys::rd_kafka_header_get_all(self.list, index, &mut name, &mut value, &mut size)
        };
        if found != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            return None;
        }
        // SAFETY: on success librdkafka points `name` at the header's NUL-terminated key,
        // which lives as long as the list, unchanged while the handle is borrowed for 'a.
        let key = unsafe { CStr::from_ptr(name) }.to_bytes();
        // SAFETY: as for the key; `value` and `size` are the header's value, `size` bytes.
        Some((key, unsafe { value_slice(value, size) }))
    }
}

/// Removes every header named `key` (compared as C strings), keeping the others in order.
pub(crate) fn remove(headers: &mut OwnedHeaders, key: &CStr) -> Result<(), RDKafkaErrorCode> {
    // SAFETY: the list is alive and `&mut` makes this the only access to it (`list_of`); `key`
    // is NUL-terminated.
    let result = unsafe { rdkafka_sys::rd_kafka_header_remove(writable(headers), key.as_ptr()) };
    match result {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR | RDKafkaRespErr::RD_KAFKA_RESP_ERR__NOENT => {
            Ok(())
        }
        error => Err(error.into()),
    }
}

/// Appends a header with `key` and `value` (null when `None`), both copied by librdkafka.
pub(crate) fn add(
    headers: &mut OwnedHeaders,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), RDKafkaErrorCode> {
    let (value, value_size) = match value {
        Some(value) => (readable(value).cast(), size_of_slice(value)),
        None => (ptr::null(), 0),
    };
    // SAFETY: the list is alive and `&mut` makes this the only access to it (`list_of`); `key`
    // and `value` point to that many readable bytes (or `value` is null with size 0), which
    // librdkafka copies before returning.
    let result = unsafe {
        rdkafka_sys::rd_kafka_header_add(
            writable(headers),
            readable(key).cast(),
            size_of_slice(key),
            value,
            value_size,
        )
    };
    match result {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
        error => Err(error.into()),
    }
}

/// `key` NUL-terminated for librdkafka, in `buffer` when it fits; `None` when `key` holds a
/// NUL byte itself (a C string cannot express it).
pub(crate) fn c_key<'b>(key: &str, buffer: &'b mut [u8; KEY_BUFFER]) -> Option<Cow<'b, CStr>> {
    match buffer.get_mut(..=key.len()) {
        Some(slot) => {
            let (text, nul) = slot.split_at_mut(key.len());
            text.copy_from_slice(key.as_bytes());
            nul.fill(0);
            CStr::from_bytes_with_nul(slot).ok().map(Cow::Borrowed)
        }
        None => CString::new(key).ok().map(Cow::Owned),
    }
}

/// Bytes of the stack buffer for a key sent to librdkafka (propagation keys are far shorter).
pub(crate) const KEY_BUFFER: usize = 64;

/// The librdkafka list behind a handle.
fn list_of(headers: &BorrowedHeaders) -> *const RDKafkaHeaders {
    // SAFETY (the invariant every unsafe block here relies on): rdkafka's `BorrowedHeaders` is
    // a zero-sized handle whose address *is* the `rd_kafka_headers_t *`: rdkafka builds it by
    // casting that pointer (`BorrowedMessage::headers`, `OwnedHeaders::as_borrowed`) and casts
    // it back (`self as *const BorrowedHeaders as *const RDKafkaHeaders`) for every C call.
    // The list's memory belongs to librdkafka and only C touches it (no Rust reference covers
    // its bytes), so a handle borrowed for 'a keeps the list alive and unchanged for 'a, and
    // `&mut OwnedHeaders` is the only access to an owned list. Checked by
    // `tests::the_handle_address_is_the_native_list`.
    ptr::from_ref(headers).cast()
}

fn writable(headers: &mut OwnedHeaders) -> *mut RDKafkaHeaders {
    list_of(headers.as_borrowed()).cast_mut()
}

/// A pointer to `bytes` that C may read `bytes.len()` bytes from: an empty slice's own pointer
/// may dangle, so it is replaced by a static one.
fn readable(bytes: &[u8]) -> *const u8 {
    if bytes.is_empty() {
        c"".as_ptr().cast()
    } else {
        bytes.as_ptr()
    }
}

/// A slice's length as the `ssize_t` librdkafka takes.
fn size_of_slice(bytes: &[u8]) -> isize {
    // A slice never exceeds `isize::MAX` bytes, so this never wraps to -1 ("use strlen").
    bytes.len() as isize
}

/// # Safety
///
/// `value` is null, or points to `size` bytes that stay readable and unchanged for 'a.
unsafe fn value_slice<'a>(value: *const c_void, size: usize) -> Option<&'a [u8]> {
    // SAFETY: guaranteed by the caller for a non-null `value`.
    (!value.is_null()).then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) })
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, Headers};

    use super::*;

    #[test]
    fn the_handle_address_is_the_native_list() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "a",
                value: Some("1"),
            })
            .insert(Header {
                key: "b",
                value: None::<&str>,
            });
        let view = View::new(headers.as_borrowed());
        assert_eq!(view.count(), headers.count());
        assert_eq!(view.get(0), Some((&b"a"[..], Some(&b"1"[..]))));
        assert_eq!(view.get(1), Some((&b"b"[..], None)));
        assert_eq!(view.get(2), None);
        let copy = headers.as_borrowed().detach();
        assert_eq!(View::new(copy.as_borrowed()).count(), 2);
    }

    #[test]
    fn keys_with_any_bytes_are_added_read_and_removed() {
        let mut headers = OwnedHeaders::new();
        for (key, value) in [
            (&b"\xff\xfe"[..], Some(&b"binary key"[..])),
            (b"", Some(b"")),
            (b"k", None),
            (b"k", Some(b"\x00\xff")),
            (b"nul\x00inside", Some(b"v")),
        ] {
            assert_eq!(add(&mut headers, key, value), Ok(()));
        }
        let view = View::new(headers.as_borrowed());
        assert_eq!(view.count(), 5);
        assert_eq!(
            view.get(0),
            Some((&b"\xff\xfe"[..], Some(&b"binary key"[..])))
        );
        assert_eq!(view.get(1), Some((&b""[..], Some(&b""[..]))));
        // Read by index, a key ends at its first NUL byte.
        assert_eq!(view.get(3), Some((&b"k"[..], Some(&b"\x00\xff"[..]))));
        assert_eq!(view.get(4), Some((&b"nul"[..], Some(&b"v"[..]))));

        assert_eq!(remove(&mut headers, c"k"), Ok(()));
        assert_eq!(remove(&mut headers, c"absent"), Ok(()));
        let view = View::new(headers.as_borrowed());
        let keys: Vec<_> = (0..view.count())
            .filter_map(|index| view.get(index))
            .map(|(key, _)| key)
            .collect();
        assert_eq!(keys, [&b"\xff\xfe"[..], b"", b"nul"]);
    }

    #[test]
    fn keys_are_terminated_in_the_buffer_or_allocated() {
        let mut buffer = [0xff; KEY_BUFFER];
        assert_eq!(
            c_key("traceparent", &mut buffer).as_deref(),
            Some(c"traceparent")
        );
        let long = "k".repeat(KEY_BUFFER);
        let allocated = c_key(&long, &mut buffer);
        assert!(matches!(allocated, Some(Cow::Owned(_))));
        assert_eq!(allocated.map(|key| key.to_bytes().len()), Some(KEY_BUFFER));
        assert_eq!(c_key("a\0b", &mut buffer), None);
        assert_eq!(c_key(&format!("{long}\0"), &mut buffer), None);
    }
}
