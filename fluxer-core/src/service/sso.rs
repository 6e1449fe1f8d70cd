//! Single sign-on for self-hosters: this instance as an OpenID Connect relying party, with
//! upstream's routes (`/auth/sso/status`, `/start`, `/complete`). The [`OidcProvider`] port
//! speaks the protocol and validates ID tokens; here a flow's PKCE verifier and nonce are kept in
//! the [`Cache`] port under its `state` (ten minutes, single use), the person is matched to an
//! account (a linked identity, else a verified email, else a new account when allowed) and a
//! normal session is opened.
//!
//! [`OidcProvider`]: crate::ports::OidcProvider
//! [`Cache`]: crate::ports::Cache

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Fluxer;
use super::auth::{ClientInfo, derive_username};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::model::User;
use crate::ports::{OidcAuthorizationRequest, OidcError, OidcIdentity, conflict, is_conflict};
use crate::secret::{random_base62, random_hex};
use crate::validation::Validator;

/// How long a user may take at the provider (upstream: ten minutes).
const SSO_STATE_TTL: Duration = Duration::from_secs(600);

/// Single sign-on settings (upstream keeps them in its admin instance config; here they come from
/// the config file). The provider's own settings (issuer, client) belong to the
/// [`OidcProvider`](crate::ports::OidcProvider) adapter.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// Whether sign-in through the provider is offered (it also needs a provider port).
    pub enabled: bool,
    /// Whether it is the only way in: password login, registration and password reset answer
    /// `SSO_REQUIRED` (upstream enforces whenever SSO is on; here the operator chooses).
    pub enforced: bool,
    /// The provider's name on the login button (`Continue with ...`).
    pub display_name: Option<String>,
    /// Where the provider sends people back; `None`: the web app's `/auth/sso/callback`.
    pub redirect_uri: Option<String>,
    /// Email domains allowed to sign in (lower-case); empty allows every domain.
    pub allowed_domains: Vec<String>,
    /// Whether a first sign-in with no matching account creates one (upstream's default: yes).
    pub auto_provision: bool,
}

impl Default for SsoSettings {
    fn default() -> Self {
        SsoSettings {
            enabled: false,
            enforced: false,
            display_name: None,
            redirect_uri: None,
            allowed_domains: Vec::new(),
            auto_provision: true,
        }
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
    /// Whether SSO is offered and enforced, as the login page needs it.
    pub fn sso_status(&self) -> SsoStatus {
        let settings = &self.config().sso;
        let enabled = settings.enabled && self.ports().sso.is_some();
        SsoStatus {
            enabled,
            enforced: enabled && settings.enforced,
            display_name: settings.display_name.clone(),
            redirect_uri: self.sso_redirect_uri(),
        }
    }

    fn sso_redirect_uri(&self) -> String {
        self.config().sso.redirect_uri.clone().unwrap_or_else(|| {
            format!(
                "{}/auth/sso/callback",
                self.config().web_url.trim_end_matches('/')
            )
        })
    }

    /// Refuses password sign-in, registration and recovery when SSO is enforced
    /// (`SSO_REQUIRED`, 403, as upstream's `LocalAuthMiddleware`).
    pub fn require_local_auth(&self) -> Result<()> {
        if self.sso_status().enforced {
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
        let provider = self.sso_provider()?;
        let state = random_hex(16);
        let nonce = random_base62(32);
        let code_verifier = random_base62(64);
        let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let redirect_uri = self.sso_redirect_uri();
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
        let provider = self.sso_provider()?;
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
                &self.sso_redirect_uri(),
                &pending.nonce,
            )
            .await
            .map_err(|e| match e {
                OidcError::Rejected(_) => {
                    Error::field("code", "INVALID_SSO_TOKEN", "Invalid SSO token")
                }
                _ => provider_unavailable(),
            })?;
        let user = self.sso_account(&identity).await?;
        self.cancel_account_deletion(&user).await?;
        self.remember_ip(user.id, client.ip.as_deref()).await?;
        let token = self.open_session(user.id, client).await?;
        Ok(SsoCompletion {
            token,
            user_id: user.id,
            redirect_to: pending.redirect_to.unwrap_or_default(),
        })
    }

    fn sso_provider(&self) -> Result<std::sync::Arc<dyn crate::ports::OidcProvider>> {
        if !self.config().sso.enabled {
            return Err(sso_disabled());
        }
        self.ports().sso.clone().ok_or_else(sso_disabled)
    }

    /// The account `identity` signs in to: the one it is linked to, else the one with its
    /// (provider-verified) email, else a new one when the instance provisions accounts.
    async fn sso_account(&self, identity: &OidcIdentity) -> Result<User> {
        let email = identity
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        let allowed = &self.config().sso.allowed_domains;
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
            None if !self.config().sso.auto_provision => return Err(sso_required()),
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
    use super::sanitize_redirect_to;

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
