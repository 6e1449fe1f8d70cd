//! Form posts of the admin panel: `application/x-www-form-urlencoded`, at most [`MAX_FORM_BYTES`],
//! UTF-8, each field named once and at most [`MAX_FIELD_CHARS`] long. Anything else is refused with
//! a page saying why, before a handler runs, so nothing changes.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::admin::error_page;

/// The largest form body accepted (the longest field is an instance text).
pub(super) const MAX_FORM_BYTES: usize = 64 * 1024;
/// The longest value of one field, in characters.
pub(super) const MAX_FIELD_CHARS: usize = 20_000;
/// The most fields one form may carry.
const MAX_FIELDS: usize = 32;

/// A posted form's fields.
#[derive(Debug, Default)]
pub(super) struct FormBody(HashMap<String, String>);

impl FormBody {
    /// The field's value, trimmed; empty when absent.
    pub(super) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    /// Parses a body: `Err` says what is wrong with it.
    pub(super) fn parse(bytes: &[u8]) -> Result<FormBody, &'static str> {
        let text = std::str::from_utf8(bytes).map_err(|_| "The form is not valid UTF-8.")?;
        let mut fields = HashMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode(key)?, decode(value)?);
            if value.chars().count() > MAX_FIELD_CHARS {
                return Err("A form field is too long.");
            }
            if fields.len() >= MAX_FIELDS {
                return Err("The form has too many fields.");
            }
            if fields.insert(key, value).is_some() {
                return Err("A form field was sent twice.");
            }
        }
        Ok(FormBody(fields))
    }
}

/// `+` is a space and `%XX` a byte; a `%` without two hex digits is malformed.
fn decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("A form field is malformed.")?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "A form field is not valid UTF-8.")
}

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This page accepts forms only (application/x-www-form-urlencoded). Nothing was changed.",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                error_page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The form is too large. Nothing was changed.",
                )
            })?;
        FormBody::parse(&bytes).map_err(|why| {
            error_page(
                StatusCode::BAD_REQUEST,
                &format!("{why} Nothing was changed."),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_and_bad_forms_are_refused() {
        let f = FormBody::parse(b"reason=spam+and%20abuse&csrf=ab").unwrap();
        assert_eq!(f.get("reason"), "spam and abuse");
        assert_eq!(f.get("missing"), "");
        assert!(FormBody::parse(b"a=1&a=2").is_err());
        assert!(FormBody::parse(b"a=%ff").is_err());
        assert!(FormBody::parse(b"a=%4").is_err());
        assert!(FormBody::parse(b"a=%zz").is_err());
        assert!(FormBody::parse(&[b'a', b'=', 0xff]).is_err());
        let long = format!("a={}", "x".repeat(MAX_FIELD_CHARS + 1));
        assert!(FormBody::parse(long.as_bytes()).is_err());
        let many: Vec<String> = (0..40).map(|i| format!("f{i}=1")).collect();
        assert!(FormBody::parse(many.join("&").as_bytes()).is_err());
    }
}
