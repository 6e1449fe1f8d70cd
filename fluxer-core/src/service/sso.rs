//! Single sign-on for self-hosters: this instance as an OpenID Connect relying party, with
//! upstream's routes (`/auth/sso/status`, `/start`, `/complete`). The [`OidcProvider`] port
//! speaks the protocol and validates ID tokens; here a flow's PKCE verifier and nonce are kept in
//! the [`Cache`] port under its `state` (ten minutes, single use), the person is matched to an
//! account (a linked identity, else a verified email, else a new account when allowed) and a
//! normal session is opened. The settings in effect are staff's, stored with the instance config
//! (`/admin/instance-config/update`'s `sso`), else the config file's; the [`OidcConnector`] port
//! gives a client for whichever provider they name.
//!
//! [`OidcProvider`]: crate::ports::OidcProvider
//! [`OidcConnector`]: crate::ports::OidcConnector
//! [`Cache`]: crate::ports::Cache

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Fluxer;
use super::auth::{ClientInfo, derive_username};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::model::{SsoSettings, User};
use crate::ports::{
    OidcAuthorizationRequest, OidcClientSettings, OidcError, OidcIdentity, OidcProvider, conflict,
    is_conflict,
};
use crate::secret::{random_base62, random_hex};
use crate::validation::Validator;

/// How long a user may take at the provider (upstream: ten minutes).
const SSO_STATE_TTL: Duration = Duration::from_secs(600);

/// The client of the provider settings last used (see [`OidcConnector`](crate::ports::OidcConnector)).
#[derive(Default)]
pub(super) struct SsoClient(Mutex<Option<(OidcClientSettings, Arc<dyn OidcProvider>)>>);

/// `/admin/instance-config/update`'s `sso` (upstream's body, with `enforced` added): what to
/// change; absent or `null` fields stay, an empty string clears an optional text (the display
/// name, the client secret, the redirect URI). Upstream's explicit endpoints
/// (`authorization_url`, ...) are refused when set: the client reads them from the issuer's
/// discovery document.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoUpdate {
    /// Offer sign-in through the provider.
    pub enabled: Option<bool>,
    /// Make it the only way in.
    pub enforced: Option<bool>,
    /// The button's name.
    pub display_name: Option<String>,
    /// The issuer (an http(s) URL).
    pub issuer: Option<String>,
    /// Not supported: discovery finds it.
    pub authorization_url: Option<String>,
    /// Not supported: discovery finds it.
    pub token_url: Option<String>,
    /// Not supported: discovery finds it.
    pub userinfo_url: Option<String>,
    /// Not supported: discovery finds it.
    pub jwks_url: Option<String>,
    /// The client ID.
    pub client_id: Option<String>,
    /// The client secret (write-only).
    pub client_secret: Option<String>,
    /// Space-separated scopes (`openid email profile`; `openid` is always asked for).
    pub scope: Option<String>,
    /// Email domains allowed (at most 100); empty allows every one.
    pub allowed_domains: Option<Vec<String>>,
    /// Create accounts at a first sign-in.
    pub auto_provision: Option<bool>,
    /// Where the provider sends people back (an http(s) URL).
    pub redirect_uri: Option<String>,
}

// By hand, so that a new client secret never reaches a log through `{:?}`.
impl std::fmt::Debug for SsoUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoUpdate")
            .field("enabled", &self.enabled)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `Some("")` → `None`, `Some(text)` → `Some(trimmed)`.
fn optional_text(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

impl SsoUpdate {
    /// `current` with this update applied, or the fields that are wrong (checked on the result:
    /// turning SSO on needs an issuer and a client ID).
    pub(crate) fn apply(&self, current: &SsoSettings) -> Result<SsoSettings> {
        let mut v = Validator::new();
        for (path, value) in [
            ("sso.authorization_url", &self.authorization_url),
            ("sso.token_url", &self.token_url),
            ("sso.userinfo_url", &self.userinfo_url),
            ("sso.jwks_url", &self.jwks_url),
        ] {
            v.check(
                value.as_deref().is_none_or(|u| u.trim().is_empty()),
                path,
                "BASE_TYPE_INVALID",
                "Not supported: the endpoints come from the issuer's discovery document.",
            );
        }
        v.opt_length("sso.display_name", self.display_name.as_deref(), 0, 100);
        v.opt_length("sso.client_id", self.client_id.as_deref(), 0, 512);
        v.opt_length("sso.client_secret", self.client_secret.as_deref(), 0, 1024);
        v.opt_length("sso.scope", self.scope.as_deref(), 0, 1024);
        if let Some(domains) = &self.allowed_domains {
            v.count("sso.allowed_domains", domains.len(), 100);
            for (i, d) in domains.iter().enumerate() {
                v.length(&format!("sso.allowed_domains.{i}"), d.trim(), 1, 253);
            }
        }
        let mut next = current.clone();
        if let Some(x) = self.enabled {
            next.enabled = x;
        }
        if let Some(x) = self.enforced {
            next.enforced = x;
        }
        if let Some(x) = &self.display_name {
            next.display_name = optional_text(x);
        }
        if let Some(x) = &self.issuer {
            next.issuer = x.trim().to_owned();
        }
        if let Some(x) = &self.client_id {
            next.client_id = x.trim().to_owned();
        }
        if let Some(x) = &self.client_secret {
            // Not trimmed: a secret is what it is; empty clears it.
            next.client_secret = Some(x.clone()).filter(|s| !s.is_empty());
        }
        if let Some(x) = &self.scope {
            let mut scopes: Vec<String> = x.split_whitespace().map(str::to_owned).collect();
            if !scopes.iter().any(|s| s == "openid") {
                scopes.insert(0, "openid".to_owned());
            }
            next.scopes = scopes;
        }
        if let Some(x) = &self.allowed_domains {
            next.allowed_domains = x
                .iter()
                .map(|d| d.trim().trim_start_matches('@').to_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
        }
        if let Some(x) = self.auto_provision {
            next.auto_provision = x;
        }
        if let Some(x) = &self.redirect_uri {
            next.redirect_uri = optional_text(x);
        }
        if next.enabled || !next.issuer.is_empty() {
            v.check(
                is_http_url(&next.issuer),
                "sso.issuer",
                "URL_TYPE_INVALID_URL",
                "Must be an http(s) URL (needed to turn single sign-on on).",
            );
        }
        if next.enabled {
            v.check(
                !next.client_id.is_empty(),
                "sso.client_id",
                "BASE_TYPE_REQUIRED",
                "Needed to turn single sign-on on.",
            );
        }
        if let Some(uri) = &next.redirect_uri {
            v.check(
                is_http_url(uri),
                "sso.redirect_uri",
                "URL_TYPE_INVALID_URL",
                "Must be an http(s) URL.",
            );
        }
        v.finish()?;
        Ok(next)
    }
}

/// `GET /auth/sso/status` (and `/.well-known/fluxer`'s `sso`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoStatus {
    /// Whether the login page offers SSO.
    pub enabled: bool,
    /// Whether SSO is the only way in.
    pub enforced: bool,
    /// The provider's name, for the button.
    pub display_name: Option<String>,
    /// Where the provider sends people back.
    pub redirect_uri: String,
}

/// `POST /auth/sso/start`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoStart {
    /// Where to send the browser.
    pub authorization_url: String,
    /// The flow's single-use state, also in the URL.
    pub state: String,
    /// Where the provider sends the browser back.
    pub redirect_uri: String,
}

/// `POST /auth/sso/complete`'s answer: a session, as a login's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoCompletion {
    /// The session token.
    pub token: String,
    /// The account signed in to.
    pub user_id: UserId,
    /// The app path `start` was given (empty when none).
    pub redirect_to: String,
}

/// What a flow keeps between start and complete.
#[derive(Serialize, Deserialize)]
struct PendingSso {
    code_verifier: String,
    nonce: String,
    redirect_to: Option<String>,
}

fn sso_state_key(state: &str) -> String {
    format!("sso:state:{state}")
}

/// An app path to return to: relative to the app (`/channels/@me`), never another origin.
fn sanitize_redirect_to(raw: Option<&str>) -> Option<String> {
    let t = raw?.trim();
    let ok = t.starts_with('/')
        && !t.starts_with("//")
        && !t.starts_with("/\\")
        && t.len() <= 2048
        && !t.chars().any(char::is_control);
    ok.then(|| t.to_owned())
}

fn sso_disabled() -> Error {
    Error::forbidden(
        "FEATURE_TEMPORARILY_DISABLED",
        "Single sign-on is not enabled on this instance.",
    )
}

fn provider_unavailable() -> Error {
    Error::Unavailable {
        code: "SSO_PROVIDER_UNAVAILABLE",
        message: "The single sign-on provider cannot be reached.".into(),
    }
}

fn sso_required() -> Error {
    Error::forbidden("SSO_REQUIRED", "Single sign-on is required")
}

fn invalid_state() -> Error {
    Error::field("state", "INVALID_SSO_STATE", "Invalid or expired SSO state")
}

impl Fluxer {
    /// The single sign-on settings in effect: staff's, once stored with the instance config, else
    /// the config file's.
    pub async fn sso_settings(&self) -> Result<SsoSettings> {
        Ok(self
            .instance_config()
            .await?
            .sso
            .unwrap_or_else(|| self.config().sso.clone()))
    }

    /// Whether SSO is offered and enforced, as the login page needs it.
    pub async fn sso_status(&self) -> Result<SsoStatus> {
        let settings = self.sso_settings().await?;
        let enabled = settings.enabled && self.ports().sso.is_some();
        Ok(SsoStatus {
            enabled,
            enforced: enabled && settings.enforced,
            display_name: settings.display_name.clone(),
            redirect_uri: self.sso_redirect_uri(&settings),
        })
    }

    /// Where the provider sends people back under `settings`.
    pub fn sso_redirect_uri(&self, settings: &SsoSettings) -> String {
        settings.redirect_uri.clone().unwrap_or_else(|| {
            format!(
                "{}/auth/sso/callback",
                self.config().web_url.trim_end_matches('/')
            )
        })
    }

    /// Refuses password sign-in, registration and recovery when SSO is enforced
    /// (`SSO_REQUIRED`, 403, as upstream's `LocalAuthMiddleware`).
    pub async fn require_local_auth(&self) -> Result<()> {
        if self.sso_status().await?.enforced {
            return Err(sso_required());
        }
        Ok(())
    }

    /// `POST /auth/sso/start`: begins a sign-in at the provider. `redirect_to` (an app path) comes
    /// back from `complete`.
    pub async fn start_sso(&self, redirect_to: Option<&str>) -> Result<SsoStart> {
        let mut v = Validator::new();
        v.opt_length("redirect_to", redirect_to, 1, 2048);
        v.finish()?;
        let settings = self.sso_settings().await?;
        let provider = self.sso_provider(&settings)?;
        let state = random_hex(16);
        let nonce = random_base62(32);
        let code_verifier = random_base62(64);
        let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let redirect_uri = self.sso_redirect_uri(&settings);
        let authorization_url = provider
            .authorization_url(&OidcAuthorizationRequest {
                state: &state,
                nonce: &nonce,
                code_challenge: &code_challenge,
                redirect_uri: &redirect_uri,
            })
            .await
            // The adapter logs why; the caller learns that it failed.
            .map_err(|_| provider_unavailable())?;
        let pending = PendingSso {
            code_verifier,
            nonce,
            redirect_to: sanitize_redirect_to(redirect_to),
        };
        let pending = serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.to_string()))?;
        self.ports()
            .cache
            .set(&sso_state_key(&state), &pending, Some(SSO_STATE_TTL))
            .await?;
        Ok(SsoStart {
            authorization_url,
            state,
            redirect_uri,
        })
    }

    /// `POST /auth/sso/complete`: ends a flow with the provider's `code` and `state`, finds or
    /// creates the account and opens a session. A state works once; a code is the provider's to
    /// refuse when replayed.
    pub async fn complete_sso(
        &self,
        code: &str,
        state: &str,
        client: &ClientInfo,
    ) -> Result<SsoCompletion> {
        let mut v = Validator::new();
        v.length("code", code, 1, 4096);
        v.length("state", state, 1, 256);
        v.finish()?;
        let settings = self.sso_settings().await?;
        let provider = self.sso_provider(&settings)?;
        let key = sso_state_key(state);
        let cache = &self.ports().cache;
        let pending = cache.get(&key).await?;
        // Single use: of two completions with one state, only the one that removes it goes on.
        if !cache.delete(&key).await? {
            return Err(invalid_state());
        }
        let pending: PendingSso = pending
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or_else(invalid_state)?;
        let identity = provider
            .redeem(
                code,
                &pending.code_verifier,
                &self.sso_redirect_uri(&settings),
                &pending.nonce,
            )
            .await
            .map_err(|e| match e {
                OidcError::Rejected(_) => {
                    Error::field("code", "INVALID_SSO_TOKEN", "Invalid SSO token")
                }
                _ => provider_unavailable(),
            })?;
        let user = self.sso_account(&identity, &settings).await?;
        self.cancel_account_deletion(&user).await?;
        self.remember_ip(user.id, client.ip.as_deref()).await?;
        let token = self.open_session(user.id, client).await?;
        Ok(SsoCompletion {
            token,
            user_id: user.id,
            redirect_to: pending.redirect_to.unwrap_or_default(),
        })
    }

    /// The client of the provider `settings` name (the same one while they stay the same, so
    /// its discovery and keys stay cached).
    fn sso_provider(&self, settings: &SsoSettings) -> Result<Arc<dyn OidcProvider>> {
        if !settings.enabled {
            return Err(sso_disabled());
        }
        let connector = self.ports().sso.as_ref().ok_or_else(sso_disabled)?;
        let wanted = OidcClientSettings {
            issuer: settings.issuer.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone().filter(|s| !s.is_empty()),
            scopes: settings.scopes.clone(),
        };
        let mut cached = self
            .inner
            .sso_client
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((held, client)) = cached.as_ref()
            && *held == wanted
        {
            return Ok(client.clone());
        }
        let client = connector.connect(&wanted);
        *cached = Some((wanted, client.clone()));
        Ok(client)
    }

    /// The account `identity` signs in to: the one it is linked to, else the one with its
    /// (provider-verified) email, else a new one when the instance provisions accounts.
    async fn sso_account(&self, identity: &OidcIdentity, settings: &SsoSettings) -> Result<User> {
        let email = identity
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        let allowed = &settings.allowed_domains;
        if !allowed.is_empty() {
            let domain = email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d);
            if !domain.is_some_and(|d| allowed.iter().any(|a| a.eq_ignore_ascii_case(d))) {
                return Err(Error::field(
                    "email",
                    "SSO_EMAIL_DOMAIN_NOT_ALLOWED",
                    "Email domain is not allowed for SSO",
                ));
            }
        }
        let store = self.store();
        if let Some(id) = store
            .find_sso_identity(&identity.issuer, &identity.subject)
            .await?
            && let Some(user) = store.get_user(id).await?.filter(|u| u.deleted_at.is_none())
        {
            return Ok(user);
        }
        let Some(email) = email else {
            return Err(Error::field(
                "email",
                "SSO_EMAIL_MISSING",
                "SSO provider did not return an email",
            ));
        };
        let existing = store
            .find_user_by_email(&email)
            .await?
            .filter(|u| u.deleted_at.is_none());
        let user = match existing {
            // Only an address the provider vouches for may take over an existing account.
            Some(user) if identity.email_verified => user,
            Some(_) => {
                return Err(Error::field(
                    "email",
                    "SSO_EMAIL_NOT_VERIFIED",
                    "An account has this email, but the SSO provider has not verified it.",
                ));
            }
            None if !settings.auto_provision => return Err(sso_required()),
            None => self.provision_sso_account(identity, &email).await?,
        };
        match store
            .link_sso_identity(&identity.issuer, &identity.subject, user.id)
            .await
        {
            Ok(()) => Ok(user),
            // A concurrent first sign-in linked it: use that link.
            Err(e) if is_conflict(&e, conflict::SSO_IDENTITY) => {
                let id = store
                    .find_sso_identity(&identity.issuer, &identity.subject)
                    .await?
                    .ok_or_else(|| Error::Internal("SSO link vanished".into()))?;
                store
                    .get_user(id)
                    .await?
                    .filter(|u| u.deleted_at.is_none())
                    .ok_or(Error::Unknown(crate::error::Unknown::User))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn provision_sso_account(&self, identity: &OidcIdentity, email: &str) -> Result<User> {
        let source = identity
            .preferred_username
            .as_deref()
            .or(identity.name.as_deref())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(email);
        let global_name = identity
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(32).collect::<String>());
        let user = User {
            global_name,
            email_verified: identity.email_verified,
            ..User::new(
                self.next_id(),
                derive_username(source),
                Some(email.to_owned()),
            )
        };
        let user = self.insert_user_with_free_discriminator(user).await?;
        self.index_user_later(user.id).await;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::{SsoSettings, SsoUpdate, sanitize_redirect_to};

    fn on() -> SsoSettings {
        SsoSettings {
            enabled: true,
            issuer: "https://id.example.com".into(),
            client_id: "fluxer".into(),
            client_secret: Some("s3cret".into()),
            ..SsoSettings::default()
        }
    }

    #[test]
    fn updates_keep_what_they_leave_out_and_clear_with_empty_text() {
        let kept = SsoUpdate {
            display_name: Some("Corp".into()),
            ..SsoUpdate::default()
        }
        .apply(&on())
        .unwrap();
        assert_eq!(kept.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(kept.display_name.as_deref(), Some("Corp"));
        let cleared = SsoUpdate {
            client_secret: Some(String::new()),
            display_name: Some("  ".into()),
            scope: Some("email profile".into()),
            allowed_domains: Some(vec![" @Corp.Example ".into()]),
            ..SsoUpdate::default()
        }
        .apply(&kept)
        .unwrap();
        assert_eq!(cleared.client_secret, None);
        assert_eq!(cleared.display_name, None);
        assert_eq!(cleared.scopes, ["openid", "email", "profile"]);
        assert_eq!(cleared.allowed_domains, ["corp.example"]);
        // The secret never shows through `{:?}`.
        assert!(
            !format!(
                "{:?} {:?}",
                on(),
                SsoUpdate {
                    client_secret: Some("s3cret".into()),
                    ..SsoUpdate::default()
                }
            )
            .contains("s3cret")
        );
    }

    #[test]
    fn updates_that_cannot_work_are_refused() {
        let off = SsoSettings::default();
        let no_issuer = SsoUpdate {
            enabled: Some(true),
            client_id: Some("fluxer".into()),
            ..SsoUpdate::default()
        };
        assert!(no_issuer.apply(&off).is_err());
        let no_client = SsoUpdate {
            enabled: Some(true),
            issuer: Some("https://id.example.com".into()),
            ..SsoUpdate::default()
        };
        assert!(no_client.apply(&off).is_err());
        let endpoints = SsoUpdate {
            token_url: Some("https://id.example.com/token".into()),
            ..SsoUpdate::default()
        };
        assert!(endpoints.apply(&on()).is_err());
        let bad_redirect = SsoUpdate {
            redirect_uri: Some("javascript:alert(1)".into()),
            ..SsoUpdate::default()
        };
        assert!(bad_redirect.apply(&on()).is_err());
        // Turning it off needs nothing else.
        let off_again = SsoUpdate {
            enabled: Some(false),
            ..SsoUpdate::default()
        };
        assert!(!off_again.apply(&on()).unwrap().enabled);
    }

    #[test]
    fn redirect_to_stays_in_the_app() {
        assert_eq!(
            sanitize_redirect_to(Some(" /channels/@me ")),
            Some("/channels/@me".to_owned())
        );
        for bad in [
            "https://evil.test/",
            "//evil.test",
            "/\\evil.test",
            "/a\nb",
            "",
        ] {
            assert_eq!(sanitize_redirect_to(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(sanitize_redirect_to(None), None);
    }
}
