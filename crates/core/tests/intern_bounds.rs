//! The interner's bounds, in a process of their own: filling it is global and permanent.

use tracewire_core::intern::{MAX_BYTES, MAX_LEN, MAX_STRINGS, intern, intern_concat};

#[test]
fn a_full_interner_refuses_new_strings_and_keeps_serving_the_old_ones() {
    let first = intern("/users/{id}").expect("room for the first string");
    let mut interned = 1;
    let mut bytes = first.len();
    for i in 0.. {
        let value = format!("/generated/{i}");
        match intern(&value) {
            Some(copy) => {
                assert_eq!(copy, value);
                interned += 1;
                bytes += value.len();
            }
            None => break,
        }
    }
    assert!(
        interned == MAX_STRINGS || bytes + 32 > MAX_BYTES,
        "{interned} strings, {bytes} bytes"
    );
    assert_eq!(intern("/never/seen/before"), None);
    assert_eq!(intern_concat(&["GET", " ", "/never/seen"]), None);
    // What was interned before stays available, as the same copy.
    assert!(std::ptr::eq(intern("/users/{id}").expect("kept"), first));
    assert!(intern(&"x".repeat(MAX_LEN + 1)).is_none());
}
