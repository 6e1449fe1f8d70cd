//! The OAuth2 provider ("Log in with Fluxer"): consent issues a one-time authorization code, the
//! token endpoint exchanges it (and refresh tokens, rotated at each use) for bearer access tokens,
//! and applications revoke and introspect them. Every credential is stored only as its SHA-256.
//!
//! As upstream, every client is confidential (it authenticates with its client secret); PKCE
//! (`S256` only) binds a code to the client that asked for it when the client sends a challenge.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::tokens::{hash_token, random_base62, secrets_equal};
use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{ApplicationId, GuildId};
use crate::model::{
    Application, ConsentRedirect, Introspection, OAuth2Scope, OAuth2Scopes, OAuth2Token,
    OAuth2TokenKind, TokenResponse,
};
use crate::permission::Permissions;
use crate::time::Timestamp;

/// Random characters in every code, access token, refresh token and client secret (base62, about
/// 256 bits; the length of upstream's 32 random bytes in base64url).
pub(crate) const OAUTH2_SECRET_LEN: usize = 43;

/// How long each OAuth2 credential lives (upstream: 10 minutes, 7 days, 30 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuth2Lifetimes {
    /// An authorization code, from consent to its exchange.
    pub code_secs: i64,
    /// An access token.
    pub access_token_secs: i64,
    /// A refresh token (each rotation issues a new one with a full lifetime).
    pub refresh_token_secs: i64,
}

impl Default for OAuth2Lifetimes {
    fn default() -> Self {
        OAuth2Lifetimes {
            code_secs: 600,
            access_token_secs: 7 * 24 * 3600,
            refresh_token_secs: 30 * 24 * 3600,
        }
    }
}

/// RFC 6749's error codes (section 5.2) that the provider answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuth2ErrorCode {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest,
    /// The client is unknown or its authentication failed.
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, or was issued to another client or
    /// redirect URI; or the PKCE verifier does not match.
    InvalidGrant,
    /// The grant type is not one the provider supports.
    UnsupportedGrantType,
    /// A requested scope is unknown or not allowed to this client.
    InvalidScope,
}

impl OAuth2ErrorCode {
    /// The wire code (`invalid_grant`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OAuth2ErrorCode::InvalidRequest => "invalid_request",
            OAuth2ErrorCode::InvalidClient => "invalid_client",
            OAuth2ErrorCode::InvalidGrant => "invalid_grant",
            OAuth2ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuth2ErrorCode::InvalidScope => "invalid_scope",
        }
    }
}

/// An OAuth2 protocol error ([`Error::OAuth2`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Failure {
    /// RFC 6749's code.
    pub error: OAuth2ErrorCode,
    /// `error_description`, for developers.
    pub description: String,
    /// Whether the client authenticated with HTTP Basic: a failed client authentication is then
    /// 401 with a `WWW-Authenticate: Basic` challenge (RFC 6749 section 5.2), else 400 as upstream.
    pub basic_auth: bool,
}

impl OAuth2Failure {
    /// The HTTP status it is served with.
    pub fn status(&self) -> u16 {
        if self.error == OAuth2ErrorCode::InvalidClient && self.basic_auth {
            401
        } else {
            400
        }
    }
}

fn oauth2_error(error: OAuth2ErrorCode, description: &str) -> Error {
    Error::OAuth2(OAuth2Failure {
        error,
        description: description.to_owned(),
        basic_auth: false,
    })
}

fn invalid_grant() -> Error {
    oauth2_error(
        OAuth2ErrorCode::InvalidGrant,
        "The provided authorization grant is invalid, expired, or revoked",
    )
}

/// How a client authenticates at the token, revocation and introspection endpoints: HTTP Basic
/// (`client_id:client_secret`) or the `client_id` and `client_secret` body parameters (where both
/// are sent, the header's values win, as upstream parses them).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// The application ID, as sent.
    pub client_id: Option<String>,
    /// The client secret, as sent.
    pub client_secret: Option<String>,
    /// Whether they came (at least in part) from an `Authorization: Basic` header.
    pub basic_auth: bool,
}

/// `POST /oauth2/authorize/consent`: the signed-in user grants an application the scopes it asks
/// for. Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeConsent {
    /// `code` (the default, and the only type, except for a `bot`-only consent, which needs none).
    pub response_type: Option<String>,
    /// The application.
    pub client_id: ApplicationId,
    /// One of the application's registered redirect URIs, matched exactly; required unless the
    /// scope is `bot` alone.
    pub redirect_uri: Option<String>,
    /// Space-separated scopes (`identify email guilds connections bot`).
    pub scope: String,
    /// Echoed in the redirect, for the client's CSRF check.
    pub state: Option<String>,
    /// With `bot`: the permissions of a role for the bot (a decimal string or integer).
    pub permissions: Option<Permissions>,
    /// With `bot`: the guild to add the bot to (the user needs MANAGE_GUILD there).
    pub guild_id: Option<GuildId>,
    /// PKCE (RFC 7636): base64url of the SHA-256 of the client's `code_verifier`.
    pub code_challenge: Option<String>,
    /// PKCE: `S256`, the only method accepted.
    pub code_challenge_method: Option<String>,
}

/// `POST /oauth2/token`'s form (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// For `authorization_code`: the code from consent.
    pub code: Option<String>,
    /// For `authorization_code`: the redirect URI the code was issued for, repeated exactly.
    pub redirect_uri: Option<String>,
    /// For `authorization_code` of a code with a PKCE challenge: the verifier.
    pub code_verifier: Option<String>,
    /// For `refresh_token`: the refresh token (used up by the exchange).
    pub refresh_token: Option<String>,
}

/// The bearer side of an [`Actor`] that authenticated with an OAuth2 access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Bearer {
    /// The application the token was granted to.
    pub application_id: ApplicationId,
    /// What the token allows.
    pub scopes: OAuth2Scopes,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// PKCE S256: base64url (no padding) of the verifier's SHA-256.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636's `code_verifier` / `code_challenge` alphabet and lengths (43 to 128).
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl Fluxer {
    /// Resolves `Authorization: Bearer <token>`: a live OAuth2 access token gives an actor limited
    /// to its scopes; a login session token sent as a bearer token is accepted as a session (as
    /// upstream). The account must be usable: not deleted, disabled or awaiting deletion.
    pub(crate) async fn authenticate_bearer(&self, raw: &str) -> Result<Actor> {
        if raw.len() != OAUTH2_SECRET_LEN {
            if super::tokens::SessionToken::looks_valid(raw) {
                return self.authenticate_session(raw).await;
            }
            return Err(Error::Unauthorized);
        }
        let now = self.now();
        let token = self
            .store()
            .get_oauth2_token(OAuth2TokenKind::AccessToken, &hash_token(raw), now)
            .await?
            .ok_or(Error::Unauthorized)?;
        let user = self
            .store()
            .get_user(token.user_id)
            .await?
            .filter(|u| {
                u.deleted_at.is_none()
                    && u.deletion_requested_at.is_none()
                    && u.flags & super::accounts::DISABLED == 0
            })
            .ok_or(Error::Unauthorized)?;
        Ok(Actor {
            user,
            session: None,
            reason: None,
            oauth2: Some(OAuth2Bearer {
                application_id: token.application_id,
                scopes: token.scopes,
                expires_at: token.expires_at,
            }),
        })
    }

    /// The user's consent: checks the client, scopes and redirect URI, issues a one-time code bound
    /// to them (and to the PKCE challenge), and with `bot` and a guild adds the bot there.
    pub async fn authorize_consent(
        &self,
        actor: &Actor,
        req: AuthorizeConsent,
    ) -> Result<ConsentRedirect> {
        actor.require_person("Only people can authorize applications.")?;
        let scopes = OAuth2Scopes::parse(&req.scope).map_err(|e| {
            oauth2_error(
                OAuth2ErrorCode::InvalidScope,
                &format!("The requested scope is invalid or unsupported ({})", e.0),
            )
        })?;
        if scopes.is_empty() {
            return Err(Error::field(
                "scope",
                "BASE_TYPE_REQUIRED",
                "This field is required.",
            ));
        }
        // Upstream's admin scope belongs to its own admin panel application, which this server
        // does not have.
        if scopes.contains(OAuth2Scope::Admin) {
            return Err(oauth2_error(
                OAuth2ErrorCode::InvalidScope,
                "The requested scope is invalid or unsupported",
            ));
        }
        let bot_only = scopes == OAuth2Scopes::from_iter([OAuth2Scope::Bot]);
        let response_type = req
            .response_type
            .as_deref()
            .or((!bot_only).then_some("code"));
        if !bot_only && response_type != Some("code") {
            return Err(oauth2_error(
                OAuth2ErrorCode::InvalidRequest,
                "response_type must be code for non-bot scopes",
            ));
        }
        if !bot_only && req.redirect_uri.is_none() {
            return Err(oauth2_error(
                OAuth2ErrorCode::InvalidRequest,
                "redirect_uri required for non-bot scopes",
            ));
        }
        let code_challenge = match (&req.code_challenge, req.code_challenge_method.as_deref()) {
            (None, None) => None,
            (Some(c), Some("S256")) if is_pkce_string(c) => Some(c.clone()),
            (Some(_), Some("S256")) => {
                return Err(oauth2_error(
                    OAuth2ErrorCode::InvalidRequest,
                    "code_challenge must be 43 to 128 characters of base64url",
                ));
            }
            _ => {
                return Err(oauth2_error(
                    OAuth2ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256, with a code_challenge",
                ));
            }
        };
        let app = self
            .store()
            .get_application(req.client_id)
            .await?
            .ok_or_else(|| {
                oauth2_error(OAuth2ErrorCode::InvalidClient, "Invalid client credentials")
            })?;
        if scopes.contains(OAuth2Scope::Bot) && !app.bot_public && app.owner_id != actor.id() {
            return Err(Error::forbidden(
                "ACCESS_DENIED",
                "Only the owner can add this bot.",
            ));
        }
        // A bot-only consent needs a redirect URI too when the bot asks for the code grant.
        if app.bot_require_code_grant && req.redirect_uri.is_none() {
            return Err(oauth2_error(
                OAuth2ErrorCode::InvalidRequest,
                "Missing redirect_uri",
            ));
        }
        if let Some(uri) = &req.redirect_uri
            && !app.redirect_uris.iter().any(|r| r == uri)
        {
            return Err(oauth2_error(
                OAuth2ErrorCode::InvalidRequest,
                "Invalid redirect_uri",
            ));
        }
        let redirect_uri = req
            .redirect_uri
            .clone()
            .unwrap_or_else(|| self.config().web_url.clone());
        let mut location = url::Url::parse(&redirect_uri)
            .map_err(|_| oauth2_error(OAuth2ErrorCode::InvalidRequest, "Invalid redirect_uri"))?;

        let code = random_base62(OAUTH2_SECRET_LEN);
        let now = self.now();
        let row = OAuth2Token {
            token_hash: hash_token(&code),
            kind: OAuth2TokenKind::AuthorizationCode,
            application_id: app.id,
            user_id: actor.id(),
            scopes,
            created_at: now,
            expires_at: now.plus_secs(self.config().oauth2.code_secs),
            redirect_uri: Some(redirect_uri),
            code_challenge,
        };
        self.store().put_oauth2_token(&row).await?;
        if scopes.contains(OAuth2Scope::Bot)
            && let Some(guild_id) = req.guild_id
        {
            let added = self
                .authorize_bot(
                    actor,
                    app.id,
                    super::BotAuthorize {
                        client_id: Some(app.id),
                        guild_id,
                        permissions: req.permissions,
                        scope: None,
                    },
                )
                .await;
            if let Err(e) = added {
                // The consent failed: its code must not outlive it.
                self.store()
                    .take_oauth2_token(OAuth2TokenKind::AuthorizationCode, &row.token_hash, now)
                    .await?;
                return Err(e);
            }
        }
        {
            let mut query = location.query_pairs_mut();
            query.append_pair("code", &code);
            if let Some(state) = &req.state {
                query.append_pair("state", state);
            }
        }
        Ok(ConsentRedirect {
            redirect_to: location.to_string(),
        })
    }

    /// Authenticates an OAuth2 client by its secret (compared in constant time).
    async fn authenticate_client(&self, client: &ClientCredentials) -> Result<Application> {
        let fail = |description: &str| {
            Error::OAuth2(OAuth2Failure {
                error: OAuth2ErrorCode::InvalidClient,
                description: description.to_owned(),
                basic_auth: client.basic_auth,
            })
        };
        let id: ApplicationId = client
            .client_id
            .as_deref()
            .and_then(|id| id.trim().parse().ok())
            .ok_or_else(|| fail("Invalid client credentials"))?;
        let app = self
            .store()
            .get_application(id)
            .await?
            .ok_or_else(|| fail("Invalid client credentials"))?;
        let secret = client
            .client_secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail("Missing client_secret"))?;
        match &app.client_secret_hash {
            Some(stored) if secrets_equal(stored, &hash_token(secret)) => Ok(app),
            _ => Err(fail("Invalid client_secret")),
        }
    }

    /// `POST /oauth2/token`: exchanges a code or a refresh token for a new access token and a new
    /// refresh token. The code, and the refresh token, are used up by the exchange.
    pub async fn exchange_oauth2_token(
        &self,
        client: &ClientCredentials,
        req: TokenRequest,
    ) -> Result<TokenResponse> {
        let grant_type = req
            .grant_type
            .as_deref()
            .ok_or_else(|| oauth2_error(OAuth2ErrorCode::InvalidRequest, "Missing grant_type"))?;
        if !matches!(grant_type, "authorization_code" | "refresh_token") {
            return Err(oauth2_error(
                OAuth2ErrorCode::UnsupportedGrantType,
                "The authorization grant type is not supported",
            ));
        }
        let app = self.authenticate_client(client).await?;
        let now = self.now();
        let (kind, presented) = if grant_type == "authorization_code" {
            (OAuth2TokenKind::AuthorizationCode, req.code.as_deref())
        } else {
            (OAuth2TokenKind::RefreshToken, req.refresh_token.as_deref())
        };
        let presented = presented.filter(|t| !t.is_empty()).ok_or_else(|| {
            let name = match kind {
                OAuth2TokenKind::AuthorizationCode => "code",
                _ => "refresh_token",
            };
            oauth2_error(OAuth2ErrorCode::InvalidRequest, &format!("Missing {name}"))
        })?;
        let hash = hash_token(presented);
        // Another client's code or token is refused without using it up.
        match self.store().get_oauth2_token(kind, &hash, now).await? {
            Some(t) if t.application_id == app.id => {}
            Some(_) => return Err(invalid_grant()),
            None => {
                self.revoke_if_replayed(&hash, app.id, now).await?;
                return Err(invalid_grant());
            }
        }
        // From here the credential is spent, whatever follows: a wrong redirect URI or verifier
        // cannot be retried against the same code.
        let grant = self
            .store()
            .take_oauth2_token(kind, &hash, now)
            .await?
            .ok_or_else(invalid_grant)?;
        if kind == OAuth2TokenKind::AuthorizationCode {
            if grant.redirect_uri.as_deref() != req.redirect_uri.as_deref() {
                return Err(invalid_grant());
            }
            match (&grant.code_challenge, req.code_verifier.as_deref()) {
                (None, None) => {}
                (Some(challenge), Some(verifier))
                    if is_pkce_string(verifier)
                        && secrets_equal(challenge.as_bytes(), s256(verifier).as_bytes()) => {}
                _ => return Err(invalid_grant()),
            }
        }
        // Tokens are issued from it: it is remembered until it would have expired, so that a
        // second presentation is recognised. (One refused above gave nothing away.)
        self.store()
            .put_oauth2_token(&OAuth2Token {
                kind: OAuth2TokenKind::Spent,
                redirect_uri: None,
                code_challenge: None,
                ..grant.clone()
            })
            .await?;
        self.issue_oauth2_tokens(&grant, now).await
    }

    /// A code or refresh token presented after its exchange was copied: by an attacker who now
    /// holds the tokens, or by the client after an attacker used it first. Either way the grant's
    /// tokens are no longer the user's alone, so all of them are revoked (the user authorizes anew).
    async fn revoke_if_replayed(
        &self,
        hash: &[u8; 32],
        app: ApplicationId,
        now: Timestamp,
    ) -> Result<()> {
        if let Some(spent) = self
            .store()
            .get_oauth2_token(OAuth2TokenKind::Spent, hash, now)
            .await?
            && spent.application_id == app
        {
            self.store().delete_oauth2_grant(spent.user_id, app).await?;
        }
        Ok(())
    }

    async fn issue_oauth2_tokens(
        &self,
        grant: &OAuth2Token,
        now: Timestamp,
    ) -> Result<TokenResponse> {
        let lifetimes = self.config().oauth2;
        let access = random_base62(OAUTH2_SECRET_LEN);
        let refresh = random_base62(OAUTH2_SECRET_LEN);
        let base = OAuth2Token {
            token_hash: hash_token(&access),
            kind: OAuth2TokenKind::AccessToken,
            application_id: grant.application_id,
            user_id: grant.user_id,
            scopes: grant.scopes,
            created_at: now,
            expires_at: now.plus_secs(lifetimes.access_token_secs),
            redirect_uri: None,
            code_challenge: None,
        };
        self.store().put_oauth2_token(&base).await?;
        let authorized_at = match grant.kind {
            OAuth2TokenKind::RefreshToken => grant.created_at,
            _ => now,
        };
        self.store()
            .put_oauth2_token(&OAuth2Token {
                token_hash: hash_token(&refresh),
                kind: OAuth2TokenKind::RefreshToken,
                created_at: authorized_at,
                expires_at: now.plus_secs(lifetimes.refresh_token_secs),
                ..base
            })
            .await?;
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: lifetimes.access_token_secs,
            refresh_token: refresh,
            scope: grant.scopes.to_string(),
        })
    }

    /// `POST /oauth2/token/revoke` (RFC 7009): revoking an access or refresh token of the calling
    /// client revokes the whole grant (every token the user gave that client). An unknown token,
    /// or another client's, is no error.
    pub async fn revoke_oauth2_token(
        &self,
        client: &ClientCredentials,
        token: &str,
        hint: Option<&str>,
    ) -> Result<()> {
        let app = self.authenticate_client(client).await?;
        let now = self.now();
        let hash = hash_token(token);
        let kinds = match hint {
            Some("refresh_token") => [OAuth2TokenKind::RefreshToken, OAuth2TokenKind::AccessToken],
            _ => [OAuth2TokenKind::AccessToken, OAuth2TokenKind::RefreshToken],
        };
        for kind in kinds {
            if let Some(found) = self.store().get_oauth2_token(kind, &hash, now).await?
                && found.application_id == app.id
            {
                self.store()
                    .delete_oauth2_grant(found.user_id, app.id)
                    .await?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// `POST /oauth2/introspect` (RFC 7662): what a live access token of the calling client is.
    pub async fn introspect_oauth2_token(
        &self,
        client: &ClientCredentials,
        token: &str,
    ) -> Result<Introspection> {
        let app = self.authenticate_client(client).await?;
        let Some(found) = self
            .store()
            .get_oauth2_token(OAuth2TokenKind::AccessToken, &hash_token(token), self.now())
            .await?
            .filter(|t| t.application_id == app.id)
        else {
            return Ok(Introspection::default());
        };
        let username = self
            .store()
            .get_user(found.user_id)
            .await?
            .map(|u| u.username);
        Ok(Introspection {
            active: true,
            scope: Some(found.scopes.to_string()),
            client_id: Some(found.application_id),
            username,
            token_type: Some("Bearer"),
            exp: Some(found.expires_at.unix_secs()),
            iat: Some(found.created_at.unix_secs()),
            sub: Some(found.user_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_pkce_string(verifier));
        assert!(!is_pkce_string("short"));
        assert!(!is_pkce_string(&"a+".repeat(30)));
    }

    #[test]
    fn only_a_basic_client_failure_is_401() {
        let mut f = OAuth2Failure {
            error: OAuth2ErrorCode::InvalidClient,
            description: String::new(),
            basic_auth: true,
        };
        assert_eq!(f.status(), 401);
        f.basic_auth = false;
        assert_eq!(f.status(), 400);
        f.error = OAuth2ErrorCode::InvalidGrant;
        f.basic_auth = true;
        assert_eq!(f.status(), 400);
    }
}
