//! Input validation with field-level errors, the shape of Fluxer's `INVALID_FORM_BODY`:
//! `{"code":"INVALID_FORM_BODY","errors":[{"path":"content","code":"BASE_TYPE_MAX_LENGTH","message":"..."}]}`.

use crate::error::Error;
pub use crate::error::FieldError;

/// Collects every broken rule of one input, so the client sees them all at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// A validator with no errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error unconditionally.
    pub fn error(
        &mut self,
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.errors.push(FieldError::new(path, code, message));
    }

    /// Checks a string's length in Unicode scalar values.
    pub fn length(&mut self, path: &str, value: &str, min: usize, max: usize) {
        let len = value.chars().count();
        if len < min {
            self.error(
                path,
                "BASE_TYPE_MIN_LENGTH",
                format!("Must be at least {min} characters long."),
            );
        } else if len > max {
            self.error(
                path,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {max} or fewer characters long."),
            );
        }
    }

    /// Checks an optional string's length when present.
    pub fn opt_length(&mut self, path: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(v) = value {
            self.length(path, v, min, max);
        }
    }

    /// Checks an integer range.
    pub fn range(&mut self, path: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.error(
                path,
                "NUMBER_TYPE_OUT_OF_RANGE",
                format!("Must be between {min} and {max}."),
            );
        }
    }

    /// Checks the number of items of a list.
    pub fn count(&mut self, path: &str, len: usize, max: usize) {
        if len > max {
            self.error(
                path,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must have {max} or fewer items."),
            );
        }
    }

    /// Checks an arbitrary rule.
    pub fn check(&mut self, ok: bool, path: &str, code: &'static str, message: &str) {
        if !ok {
            self.error(path, code, message);
        }
    }

    /// Whether no rule has broken so far.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when nothing broke, otherwise [`Error::InvalidForm`] with every error.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidForm(self.errors))
        }
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254 chars.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        }
        None => false,
    }
}

/// Usernames: 1–32 characters of ASCII letters, digits, `_` and `.` (Fluxer's rule).
pub fn is_valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// Trims and checks that a display string is not blank.
pub fn non_blank(value: &str) -> Option<&str> {
    let t = value.trim();
    (!t.is_empty()).then_some(t)
}

/// `s` safe to place in HTML text or a quoted attribute.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_error() {
        let mut v = Validator::new();
        v.length("name", "", 1, 100);
        v.length("topic", &"x".repeat(1025), 0, 1024);
        v.range("limit", 0, 1, 100);
        v.count("ids", 101, 100);
        let Err(Error::InvalidForm(errors)) = v.finish() else {
            panic!("expected InvalidForm");
        };
        let paths: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
        assert_eq!(
            paths,
            [
                ("name", "BASE_TYPE_MIN_LENGTH"),
                ("topic", "BASE_TYPE_MAX_LENGTH"),
                ("limit", "NUMBER_TYPE_OUT_OF_RANGE"),
                ("ids", "BASE_TYPE_MAX_LENGTH"),
            ]
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut v = Validator::new();
        v.length("content", &"é".repeat(2000), 1, 2000);
        assert!(v.is_ok());
    }

    #[test]
    fn emails_and_usernames() {
        assert!(is_valid_email("a@b.co"));
        assert!(!is_valid_email("a@b"));
        assert!(!is_valid_email("a b@c.de"));
        assert!(!is_valid_email("@c.de"));
        assert!(!is_valid_email("a@@c.de"));
        assert!(is_valid_username("alice_01.x"));
        assert!(!is_valid_username(""));
        assert!(!is_valid_username("has space"));
        assert!(!is_valid_username(&"a".repeat(33)));
    }
}
