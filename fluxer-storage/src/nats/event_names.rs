//! Event names received from the broker, turned back into the `&'static str` that [`Dispatch::event`]
//! holds.
//!
//! The port keeps event names static because every name is a constant of the code that publishes it
//! (`MESSAGE_CREATE`). A name that crossed the broker is a fresh string, so it is leaked once, the first
//! time it is seen, and looked up afterwards. That leak is bounded by the number of distinct event names
//! in the protocol (a few dozen). A misbehaving publisher on the bus could invent names without end, so
//! the set is also capped: names beyond the cap, and names that cannot be event names, are refused and
//! their events dropped.
//!
//! [`Dispatch::event`]: fluxer_core::ports::Dispatch::event

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Far more than the protocol's event names; only a publisher gone wrong reaches it.
const MAX_NAMES: usize = 1024;
const MAX_NAME_LEN: usize = 64;

fn names() -> &'static Mutex<HashSet<&'static str>> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(Default::default)
}

/// The static copy of `name`, or `None` if it does not look like an event name (upper-case ASCII
/// letters, digits and `_`) or the set is full.
pub(crate) fn intern(name: &str) -> Option<&'static str> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return None;
    }
    let mut names = names().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = names.get(name) {
        return Some(known);
    }
    if names.len() >= MAX_NAMES {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_is_leaked_once() {
        let first = intern("MESSAGE_CREATE").unwrap();
        let second = intern(&String::from("MESSAGE_CREATE")).unwrap();
        assert_eq!(first, "MESSAGE_CREATE");
        assert!(std::ptr::eq(first, second));
    }

    #[test]
    fn refuses_what_cannot_be_an_event_name() {
        assert_eq!(intern(""), None);
        assert_eq!(intern("message_create"), None);
        assert_eq!(intern("A.B"), None);
        assert_eq!(intern(&"A".repeat(MAX_NAME_LEN + 1)), None);
    }
}
