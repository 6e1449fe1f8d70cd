//! A response together with its JSON text, for values the service writes out anyway.

use std::ops::Deref;

use serde::Serialize;

/// A value and its JSON text, written once: `json` is what `serde_json::to_string(&value)` gives.
///
/// The service returns this where it serializes the value itself anyway (a new message, whose
/// text is also the body of its `MESSAGE_CREATE` event). An HTTP host answers with [`Encoded::json`]
/// and does not serialize the value a second time; Rust callers read the value through `Deref` or
/// take it with [`Encoded::into_value`].
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded<T> {
    value: T,
    json: String,
}

impl<T: Serialize> Encoded<T> {
    /// Serializes `value`, starting from a buffer of `capacity` bytes (a good guess spares the
    /// buffer's regrowth, which costs more than the writing for a value of a kilobyte).
    pub fn with_capacity(value: T, capacity: usize) -> serde_json::Result<Self> {
        let mut buf = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut buf, &value)?;
        // serde_json writes UTF-8 only: this never fails.
        let json = String::from_utf8(buf).map_err(serde::ser::Error::custom)?;
        Ok(Encoded { value, json })
    }
}

impl<T> Encoded<T> {
    /// The value's JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The value, without its text.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The JSON text, without the value (for a body that takes ownership).
    pub fn into_json(self) -> String {
        self.json
    }
}

impl<T> Deref for Encoded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Serializes as the value (the same text as [`Encoded::json`]).
impl<T: Serialize> Serialize for Encoded<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Debug, Clone, PartialEq)]
    struct Sample {
        id: u64,
        content: String,
        tags: Vec<&'static str>,
    }

    #[test]
    fn the_text_is_the_values_serialization_whatever_the_starting_capacity() {
        let sample = Sample {
            id: 7,
            content: "quote \" and ünïcode ✓".repeat(40),
            tags: vec!["a", "b"],
        };
        let expected = serde_json::to_string(&sample).unwrap();
        for capacity in [0, 16, expected.len(), 4096] {
            let encoded = Encoded::with_capacity(sample.clone(), capacity).unwrap();
            assert_eq!(encoded.json(), expected);
            assert_eq!(serde_json::to_string(&encoded).unwrap(), expected);
            assert_eq!(encoded.id, 7);
            assert_eq!(encoded.into_value(), sample);
        }
    }
}
