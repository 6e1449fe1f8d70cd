//! Bearer tokens: generation, hashing and parsing. Tokens are stored only as SHA-256 hashes; comparisons
//! of secrets are constant-time.

pub(crate) use crate::secret::secrets_equal;
pub use crate::secret::{hash_token, random_base62};

use crate::id::ApplicationId;

/// A user session token: `flx_` + 36 base62 characters (upstream's format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken(pub String);

impl SessionToken {
    /// A fresh random session token.
    pub fn generate() -> Self {
        SessionToken(format!("flx_{}", random_base62(36)))
    }

    /// Whether `raw` has the shape of a session token (cheap pre-check before a lookup).
    pub fn looks_valid(raw: &str) -> bool {
        raw.len() == 40
            && raw.starts_with("flx_")
            && raw[4..].bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

/// A bot token: `{application_id}.{secret}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotToken {
    /// The application whose bot the token belongs to.
    pub application_id: ApplicationId,
    /// The random part, base62 (48 characters when generated; up to 128 accepted when parsing).
    pub secret: String,
}

impl BotToken {
    /// A fresh token for `application_id`, with a 48-character random secret.
    pub fn generate(application_id: ApplicationId) -> Self {
        BotToken {
            application_id,
            secret: random_base62(48),
        }
    }

    /// Reads `{application_id}.{secret}`; `None` when the shape is wrong (the secret is not checked
    /// against anything here).
    pub fn parse(raw: &str) -> Option<Self> {
        let (id, secret) = raw.split_once('.')?;
        if secret.is_empty()
            || secret.len() > 128
            || !secret.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        Some(BotToken {
            application_id: id.parse().ok()?,
            secret: secret.to_owned(),
        })
    }

    /// The SHA-256 of the secret, as the application record stores it.
    pub fn secret_hash(&self) -> [u8; 32] {
        hash_token(&self.secret)
    }

    /// The token in the clear, `{application_id}.{secret}`, to hand to the owner once.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.application_id, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_have_upstream_shape_and_are_unique() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert!(SessionToken::looks_valid(&a.0), "{}", a.0);
        assert_ne!(a, b);
        assert!(!SessionToken::looks_valid("flx_short"));
        assert!(!SessionToken::looks_valid(&format!("abc_{}", &a.0[4..])));
    }

    #[test]
    fn bot_tokens_round_trip() {
        let t = BotToken::generate(ApplicationId::new(1234));
        let parsed = BotToken::parse(&t.expose()).unwrap();
        assert_eq!(parsed, t);
        assert!(BotToken::parse("1234").is_none());
        assert!(BotToken::parse("abc.def").is_none());
        assert!(BotToken::parse("1234.").is_none());
        assert!(BotToken::parse("1234.a-b").is_none());
    }

    #[test]
    fn constant_time_equality() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
