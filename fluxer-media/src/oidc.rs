//! An OpenID Connect relying party: the [`OidcProvider`] port over HTTP. It discovers the
//! provider's endpoints (cached an hour), sends people to its authorization endpoint with PKCE
//! (`S256`), exchanges codes at its token endpoint, and validates the ID token: the signature
//! against the provider's key set (cached, refetched when a token names an unknown key), `iss`,
//! `aud` (and `azp` when there are several audiences), `exp` and `iat` with a minute of leeway,
//! and the `nonce`. The user info endpoint fills in the email when the ID token leaves it out.
//!
//! The issuer is the operator's (often on the LAN: Authentik, Keycloak, Authelia), so it is not
//! held to the public-only address policy of the media proxy; every answer is still bounded in
//! size and time. Codes and tokens never reach the logs or the errors.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use fluxer_core::ports::{
    OidcAuthorizationRequest, OidcClientSettings, OidcConnector, OidcError, OidcIdentity,
    OidcProvider,
};
use serde::Deserialize;
use serde_json::Value;

use crate::proxy::ExternalConfig;
use crate::proxy::external::{Agent, Call, Reply, call_operator_server};

pub(crate) mod jwt;

pub use jwt::{Jwk, JwtError};

const AGENT: Agent = Agent {
    user_agent: "Mozilla/5.0 (compatible; Fluxer/1.0)",
    accept: "application/json",
};
const FORM: &str = "application/x-www-form-urlencoded";
/// How long discovery and the key set are trusted before being read again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// A token naming an unknown key refetches the key set at most this often (key rotation without
/// letting forged `kid`s hammer the provider).
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECS: i64 = 60;

/// The provider and this instance's registration with it.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer identifier (`https://id.example.com/application/o/fluxer/`); discovery reads
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must match.
    pub issuer: String,
    /// The client ID registered at the provider.
    pub client_id: String,
    /// The client secret (sent with HTTP Basic); `None` for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// The scopes asked for; `openid` is added when missing.
    pub scopes: Vec<String>,
    /// For each call to the provider.
    pub timeout: Duration,
}

/// The endpoints discovery finds.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

#[derive(Default)]
struct Cached {
    metadata: Option<(Instant, Metadata)>,
    jwks: Option<(Instant, Vec<Jwk>)>,
}

/// The OpenID Connect client. Cheap to share behind an `Arc`.
pub struct OidcClient {
    settings: OidcSettings,
    fetch: ExternalConfig,
    cached: Mutex<Cached>,
}

impl OidcClient {
    /// A client for `settings`; nothing is fetched until the first sign-in.
    pub fn new(settings: OidcSettings) -> Self {
        OidcClient {
            fetch: ExternalConfig {
                enabled: true,
                max_bytes: 1 << 20,
                timeout: settings.timeout,
                allowed_content_types: vec!["*/*".into()],
                allow_addresses: Vec::new(),
            },
            settings,
            cached: Mutex::new(Cached::default()),
        }
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, OidcError> {
        let headers = bearer
            .map(|t| vec![("authorization", format!("Bearer {t}"))])
            .unwrap_or_default();
        let reply = self
            .call(
                url,
                Call {
                    method: Method::GET,
                    headers,
                    body: None,
                },
            )
            .await?;
        if !reply.status.is_success() {
            return Err(OidcError::Unavailable(format!(
                "{} answered {}",
                url_for_log(url),
                reply.status
            )));
        }
        parse_json(&reply, url)
    }

    async fn call(&self, url: &str, call: Call) -> Result<Reply, OidcError> {
        call_operator_server(&self.fetch, url, AGENT, call)
            .await
            .map_err(|e| OidcError::Unavailable(format!("{}: {e}", url_for_log(url))))
    }

    async fn metadata(&self) -> Result<Metadata, OidcError> {
        if let Some((at, m)) = &self.cached().metadata
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let doc = self.get_json(&url, None).await?;
        let metadata: Metadata = serde_json::from_value(doc).map_err(|e| {
            OidcError::Unavailable(format!("discovery document is incomplete: {e}"))
        })?;
        if metadata.issuer.trim_end_matches('/') != issuer {
            return Err(OidcError::Unavailable(format!(
                "discovery names issuer {:?}, not the configured {:?}",
                metadata.issuer, self.settings.issuer
            )));
        }
        self.cached().metadata = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// The provider's keys; `refresh` reads them again unless they were read moments ago.
    async fn keys(&self, metadata: &Metadata, refresh: bool) -> Result<Vec<Jwk>, OidcError> {
        if let Some((at, keys)) = &self.cached().jwks {
            let fresh = at.elapsed() < METADATA_TTL;
            if fresh && (!refresh || at.elapsed() < JWKS_REFETCH_INTERVAL) {
                return Ok(keys.clone());
            }
        }
        let doc = self.get_json(&metadata.jwks_uri, None).await?;
        let keys: Vec<Jwk> = doc
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| serde_json::from_value(k.clone()).ok())
                    .collect()
            })
            .ok_or_else(|| OidcError::Unavailable("the key set has no keys".into()))?;
        self.cached().jwks = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    fn scope(&self) -> String {
        let mut scopes: Vec<&str> = self.settings.scopes.iter().map(String::as_str).collect();
        if !scopes.contains(&"openid") {
            scopes.insert(0, "openid");
        }
        scopes.join(" ")
    }

    /// Validates an ID token and returns its claims.
    async fn verify_id_token(
        &self,
        metadata: &Metadata,
        id_token: &str,
        nonce: &str,
    ) -> Result<Value, OidcError> {
        let token = jwt::Jws::parse(id_token).map_err(rejected)?;
        let keys = self.keys(metadata, false).await?;
        let claims = match token.verify(&keys) {
            Err(JwtError::UnknownKey) => {
                let keys = self.keys(metadata, true).await?;
                token.verify(&keys)
            }
            other => other,
        }
        .map_err(rejected)?;
        let now = crate::unix_now_secs() as i64;
        jwt::check_id_token_claims(
            &claims,
            &metadata.issuer,
            &self.settings.client_id,
            nonce,
            now,
            LEEWAY_SECS,
        )
        .map_err(rejected)?;
        Ok(claims)
    }
}

fn rejected(e: JwtError) -> OidcError {
    OidcError::Rejected(e.to_string())
}

/// A URL without its query (which may carry secrets), for logs and errors.
fn url_for_log(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

fn parse_json(reply: &Reply, url: &str) -> Result<Value, OidcError> {
    serde_json::from_slice(&reply.bytes)
        .map_err(|_| OidcError::Unavailable(format!("{} did not answer JSON", url_for_log(url))))
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// `client_secret_basic` (RFC 6749 2.3.1): both halves form-encoded before base64.
fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// A claim that should be a string.
fn string_claim(claims: &Value, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `email_verified` as a boolean or the strings some providers send.
fn verified_claim(claims: &Value) -> Option<bool> {
    match claims.get("email_verified")? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The [`OidcConnector`] port: an [`OidcClient`] for each provider settings, every call to the
/// provider bounded by the same timeout.
#[derive(Debug, Clone)]
pub struct OidcConnections {
    timeout: Duration,
}

impl OidcConnections {
    /// Clients whose calls each take at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        OidcConnections { timeout }
    }
}

impl OidcConnector for OidcConnections {
    fn connect(&self, settings: &OidcClientSettings) -> std::sync::Arc<dyn OidcProvider> {
        std::sync::Arc::new(OidcClient::new(OidcSettings {
            issuer: settings.issuer.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            scopes: settings.scopes.clone(),
            timeout: self.timeout,
        }))
    }
}

#[async_trait]
impl OidcProvider for OidcClient {
    async fn authorization_url(
        &self,
        request: &OidcAuthorizationRequest<'_>,
    ) -> Result<String, OidcError> {
        let url = self.authorization_url_for(request).await;
        if let Err(e) = &url {
            tracing::warn!(issuer = %self.settings.issuer, error = %e, "single sign-on cannot start");
        }
        url
    }

    async fn redeem(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let redeemed = self
            .redeem_code(code, code_verifier, redirect_uri, nonce)
            .await;
        if let Err(e) = &redeemed {
            // The reason, never the code or a token: the caller only learns that it failed.
            tracing::warn!(issuer = %self.settings.issuer, error = %e, "single sign-on refused");
        }
        redeemed
    }
}

impl OidcClient {
    async fn authorization_url_for(
        &self,
        request: &OidcAuthorizationRequest<'_>,
    ) -> Result<String, OidcError> {
        let metadata = self.metadata().await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint).map_err(|_| {
            OidcError::Unavailable("the authorization endpoint is not a URL".into())
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(OidcError::Unavailable(
                "the authorization endpoint is not http(s)".into(),
            ));
        }
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", &self.scope())
            .append_pair("state", request.state)
            .append_pair("nonce", request.nonce)
            .append_pair("code_challenge", request.code_challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    async fn redeem_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let metadata = self.metadata().await?;
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", &self.settings.client_id),
            ("code_verifier", code_verifier),
        ]);
        let headers = self
            .settings
            .client_secret
            .as_deref()
            .map(|secret| {
                vec![(
                    "authorization",
                    basic_auth(&self.settings.client_id, secret),
                )]
            })
            .unwrap_or_default();
        let reply = self
            .call(
                &metadata.token_endpoint,
                Call {
                    method: Method::POST,
                    headers,
                    body: Some((FORM, Bytes::from(body))),
                },
            )
            .await?;
        if reply.status.is_client_error() {
            // The provider's error code (`invalid_grant` for a replayed code) is safe to log.
            let error = serde_json::from_slice::<Value>(&reply.bytes)
                .ok()
                .and_then(|v| string_claim(&v, "error"))
                .unwrap_or_default();
            return Err(OidcError::Rejected(format!(
                "the token endpoint answered {} {error}",
                reply.status
            )));
        }
        if !reply.status.is_success() {
            return Err(OidcError::Unavailable(format!(
                "the token endpoint answered {}",
                reply.status
            )));
        }
        let tokens = parse_json(&reply, &metadata.token_endpoint)?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Rejected("the token response has no id_token".into()))?;
        let claims = self.verify_id_token(&metadata, id_token, nonce).await?;
        let subject = string_claim(&claims, "sub")
            .ok_or_else(|| OidcError::Rejected("the ID token has no sub".into()))?;
        let mut identity = OidcIdentity {
            issuer: metadata.issuer.clone(),
            subject,
            email: string_claim(&claims, "email"),
            email_verified: verified_claim(&claims).unwrap_or(false),
            name: string_claim(&claims, "name"),
            preferred_username: string_claim(&claims, "preferred_username"),
        };
        let access_token = tokens.get("access_token").and_then(Value::as_str);
        if identity.email.is_none()
            && let (Some(endpoint), Some(access_token)) =
                (metadata.userinfo_endpoint.as_deref(), access_token)
        {
            let info = self.get_json(endpoint, Some(access_token)).await?;
            // OpenID Connect Core 5.3.2: user info about someone else is not to be used.
            if string_claim(&info, "sub").as_deref() != Some(identity.subject.as_str()) {
                return Err(OidcError::Rejected(
                    "user info is about another subject".into(),
                ));
            }
            identity.email = string_claim(&info, "email");
            identity.email_verified = verified_claim(&info).unwrap_or(false);
            identity.name = identity.name.or_else(|| string_claim(&info, "name"));
            identity.preferred_username = identity
                .preferred_username
                .or_else(|| string_claim(&info, "preferred_username"));
        }
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_both_halves() {
        assert_eq!(
            basic_auth("a b", "p:w"),
            format!("Basic {}", STANDARD.encode("a+b:p%3Aw"))
        );
    }

    #[test]
    fn logged_urls_lose_their_query() {
        assert_eq!(
            url_for_log("https://id.test/userinfo?access_token=s3cret"),
            "https://id.test/userinfo"
        );
    }

    #[test]
    fn email_verified_accepts_strings() {
        let v = serde_json::json!({ "email_verified": "TRUE" });
        assert_eq!(verified_claim(&v), Some(true));
        assert_eq!(verified_claim(&serde_json::json!({})), None);
    }
}
