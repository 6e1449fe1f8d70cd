//! OAuth2 grants: the scopes a user hands an application, and the credentials that carry them
//! (authorization codes, access tokens, refresh tokens), stored only as hashes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{ApplicationId, UserId};
use crate::time::Timestamp;

/// One OAuth2 scope (upstream's set). Each names what a bearer token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuth2Scope {
    /// The user's profile: `GET /users/@me`, `/oauth2/userinfo`, the user in `/oauth2/@me`.
    Identify,
    /// The email address (and whether it is verified) wherever the profile is served.
    Email,
    /// The user's guilds: `GET /users/@me/guilds`.
    Guilds,
    /// The user's external connections.
    Connections,
    /// Adds the application's bot to a guild at consent.
    Bot,
    /// Upstream's admin panel scope; only its own admin application may ask for it.
    Admin,
}

impl OAuth2Scope {
    /// Every scope, in upstream's preferred order (the order scope strings are written in).
    pub const ALL: [OAuth2Scope; 6] = [
        OAuth2Scope::Identify,
        OAuth2Scope::Email,
        OAuth2Scope::Guilds,
        OAuth2Scope::Connections,
        OAuth2Scope::Bot,
        OAuth2Scope::Admin,
    ];

    /// The wire name (`identify`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OAuth2Scope::Identify => "identify",
            OAuth2Scope::Email => "email",
            OAuth2Scope::Guilds => "guilds",
            OAuth2Scope::Connections => "connections",
            OAuth2Scope::Bot => "bot",
            OAuth2Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl TryFrom<&str> for OAuth2Scope {
    type Error = UnknownScope;

    fn try_from(s: &str) -> Result<Self, UnknownScope> {
        OAuth2Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl fmt::Display for OAuth2Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`OAuth2Scope`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OAuth2 scope `{0}`")]
pub struct UnknownScope(pub String);

/// A set of scopes. Written as upstream writes it: space-separated names in preferred order
/// (`"identify email guilds"`); that is also its serialized form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OAuth2Scopes(u8);

impl OAuth2Scopes {
    /// No scope.
    pub const fn empty() -> Self {
        OAuth2Scopes(0)
    }

    /// Reads a space-separated list (runs of spaces, and `+` as some clients send it, separate);
    /// repeated names count once. Fails on the first unknown name.
    pub fn parse(s: &str) -> Result<Self, UnknownScope> {
        let mut set = OAuth2Scopes::empty();
        for name in s.split([' ', '+']).filter(|n| !n.is_empty()) {
            set.insert(OAuth2Scope::try_from(name)?);
        }
        Ok(set)
    }

    /// Adds a scope.
    pub fn insert(&mut self, scope: OAuth2Scope) {
        self.0 |= scope.bit();
    }

    /// Whether the set holds `scope`.
    pub fn contains(self, scope: OAuth2Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether the set holds no scope.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets.
    pub fn union(self, other: OAuth2Scopes) -> OAuth2Scopes {
        OAuth2Scopes(self.0 | other.0)
    }

    /// The set without `scope`.
    pub fn without(self, scope: OAuth2Scope) -> OAuth2Scopes {
        OAuth2Scopes(self.0 & !scope.bit())
    }

    /// The scopes held, in preferred order.
    pub fn iter(self) -> impl Iterator<Item = OAuth2Scope> {
        OAuth2Scope::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }

    /// The names, in preferred order (`/oauth2/@me`'s `scopes`).
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(OAuth2Scope::as_str).collect()
    }
}

impl FromIterator<OAuth2Scope> for OAuth2Scopes {
    fn from_iter<I: IntoIterator<Item = OAuth2Scope>>(iter: I) -> Self {
        let mut set = OAuth2Scopes::empty();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Display for OAuth2Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

impl Serialize for OAuth2Scopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OAuth2Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OAuth2Scopes::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What an OAuth2 credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OAuth2TokenKind {
    /// A one-time code from consent, exchanged at `POST /oauth2/token` for the two others.
    AuthorizationCode,
    /// Sent as `Authorization: Bearer <token>`.
    AccessToken,
    /// Exchanged once for a new access token and a new refresh token (rotation).
    RefreshToken,
}

impl OAuth2TokenKind {
    /// The number backends store for this kind.
    pub fn code(self) -> i16 {
        match self {
            OAuth2TokenKind::AuthorizationCode => 1,
            OAuth2TokenKind::AccessToken => 2,
            OAuth2TokenKind::RefreshToken => 3,
        }
    }
}

/// One OAuth2 credential of a grant (a user's authorization of an application), as stored: the
/// token itself is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2Token {
    /// SHA-256 of the token; the key it is found by.
    pub token_hash: [u8; 32],
    /// Code, access token or refresh token.
    pub kind: OAuth2TokenKind,
    /// The application (client) the grant was given to.
    pub application_id: ApplicationId,
    /// The user who gave it.
    pub user_id: UserId,
    /// What it allows.
    pub scopes: OAuth2Scopes,
    /// When it was issued. A refresh token keeps the grant's first date (`authorized_at`).
    pub created_at: Timestamp,
    /// When it stops working (excluded).
    pub expires_at: Timestamp,
    /// For a code: the redirect URI it was issued for, which the exchange must repeat exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// For a code: the PKCE `code_challenge` (S256: base64url of the verifier's SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_in_preferred_order() {
        let s = OAuth2Scopes::parse("guilds  identify+email identify").unwrap();
        assert_eq!(s.to_string(), "identify email guilds");
        assert!(s.contains(OAuth2Scope::Email) && !s.contains(OAuth2Scope::Bot));
        assert_eq!(
            OAuth2Scopes::parse("identify nope"),
            Err(UnknownScope("nope".to_owned()))
        );
        assert!(OAuth2Scopes::parse("").unwrap().is_empty());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"identify email guilds\"");
        assert_eq!(serde_json::from_str::<OAuth2Scopes>(&json).unwrap(), s);
        assert_eq!(
            s.without(OAuth2Scope::Email).names(),
            ["identify", "guilds"]
        );
    }
}
