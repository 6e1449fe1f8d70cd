use std::sync::Arc;

use async_trait::async_trait;

/// What the domain asks an OpenID provider's authorization endpoint for: the values it keeps
/// under `state` until the user comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcAuthorizationRequest<'a> {
    /// The single-use value the callback carries back (CSRF protection).
    pub state: &'a str,
    /// The value the ID token must carry back (replay protection).
    pub nonce: &'a str,
    /// PKCE: base64url(SHA-256(verifier)), sent with method `S256`.
    pub code_challenge: &'a str,
    /// Where the provider sends the user back (the web app's `/auth/sso/callback`).
    pub redirect_uri: &'a str,
}

/// Who an OpenID provider says signed in, from a validated ID token (and the user info endpoint
/// when the token leaves out the email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The provider's issuer identifier (`iss`).
    pub issuer: String,
    /// The provider's stable ID for the person (`sub`).
    pub subject: String,
    /// Their email address, when the provider shares it.
    pub email: Option<String>,
    /// Whether the provider vouches for `email` (`email_verified`); `false` when it does not say.
    pub email_verified: bool,
    /// Their display name (`name`).
    pub name: Option<String>,
    /// The username they go by at the provider (`preferred_username`).
    pub preferred_username: Option<String>,
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The provider refused the code, or its answer failed validation (signature, issuer,
    /// audience, expiry, nonce). The reason is for logs, never the token itself.
    #[error("rejected by the OpenID provider or its token failed validation: {0}")]
    Rejected(String),
    /// The provider could not be reached, or answered something that is not OpenID Connect.
    #[error("OpenID provider unavailable: {0}")]
    Unavailable(String),
}

/// An OpenID Connect provider this instance signs people in with (as a relying party): the
/// authorization code flow with PKCE. An implementation discovers the provider's endpoints,
/// exchanges codes and validates ID tokens (signature against the provider's keys, `iss`,
/// `aud`/`azp`, `exp`/`iat`, `nonce`); the domain keeps flows, links accounts and opens sessions.
#[async_trait]
pub trait OidcProvider: Send + Sync {
    /// The provider's authorization URL for this request.
    async fn authorization_url(
        &self,
        request: &OidcAuthorizationRequest<'_>,
    ) -> Result<String, OidcError>;
    /// Exchanges `code` (with the PKCE `code_verifier` and the `redirect_uri` the request used)
    /// and returns who signed in, once the ID token is valid and carries `nonce`.
    async fn redeem(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, OidcError>;
}

/// Which OpenID provider a client speaks to, and this instance's registration with it.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcClientSettings {
    /// The issuer identifier; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client ID registered at the provider.
    pub client_id: String,
    /// The client secret; `None` for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
}

// By hand, so that the client secret never reaches a log through `{:?}`.
impl std::fmt::Debug for OidcClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClientSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Makes [`OidcProvider`] clients, one per provider settings: staff can change single sign-on
/// while the instance runs, and the domain connects to whatever provider the settings in effect
/// name (reusing the client while they stay the same).
pub trait OidcConnector: Send + Sync {
    /// A client for `settings`; nothing is fetched until it is used.
    fn connect(&self, settings: &OidcClientSettings) -> Arc<dyn OidcProvider>;
}
