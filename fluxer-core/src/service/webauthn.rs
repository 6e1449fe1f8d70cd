//! Passkeys and security keys (WebAuthn), as upstream: registering credentials in sudo mode,
//! listing, renaming and deleting them, logging in with one alone (a discoverable credential) or
//! as the second factor after the password, and confirming sudo mode with one.
//!
//! Every ceremony's state stays on the server, in the cache, under its challenge: it is good for
//! five minutes and one answer, and only in the context it was made for (registration, passwordless
//! login, the login ticket it belongs to, sudo mode of its account). The cryptography is the
//! [`WebAuthnCeremonies`](crate::ports::WebAuthnCeremonies) port's.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::{Actor, ClientInfo, Fluxer, LoginOutcome};
use crate::error::{Error, Result, Unknown};
use crate::id::UserId;
use crate::model::{ActionTokenKind, User, WebAuthnCredential, WebAuthnCredentialResponse};
use crate::ports::{WebAuthnCeremonies, WebAuthnChallenge, WebAuthnFailure, conflict, is_conflict};
use crate::secret::{hash_token, to_hex};
use crate::validation::Validator;

/// Credentials one account may register (upstream's).
pub const MAX_WEBAUTHN_CREDENTIALS: usize = 10;

/// How long a challenge may be answered (upstream's five minutes).
const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);

/// Why a bot is refused: passkeys belong to people.
const PEOPLE_ONLY: &str = "Only user accounts can use passkeys.";

/// The longest challenge or credential ID looked at; longer ones are no ceremony of ours.
const MAX_ID_LEN: usize = 2048;

/// What a challenge was issued for; an answer is accepted in that context alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Purpose {
    Registration,
    Discoverable,
    Mfa,
    Sudo,
}

/// A ceremony waiting for its answer, kept in the cache under its challenge.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    purpose: Purpose,
    /// The account it belongs to (all but passwordless login).
    user: Option<UserId>,
    /// The SHA-256 (hex) of the login ticket it belongs to (second-factor login).
    ticket: Option<String>,
    /// The verifier's state.
    state: String,
}

/// The proof of identity a sensitive action carries ("sudo mode"), upstream's
/// `SudoVerificationSchema`: the password, or with two-factor authentication on a TOTP or backup
/// code, or a WebAuthn assertion answering `POST /users/@me/sudo/webauthn/authentication-options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SudoProof {
    /// The account's password (accounts without a second factor).
    pub password: Option<String>,
    /// `totp`, `sms` or `webauthn`: which second factor the client offers.
    pub mfa_method: Option<String>,
    /// A TOTP or backup code.
    pub mfa_code: Option<String>,
    /// A WebAuthn `AuthenticationResponseJSON`.
    pub webauthn_response: Option<serde_json::Value>,
    /// The challenge of the options `webauthn_response` answers.
    pub webauthn_challenge: Option<String>,
}

impl SudoProof {
    /// A proof of a password and/or a code.
    pub fn password_or_code(password: Option<&str>, mfa_code: Option<&str>) -> SudoProof {
        SudoProof {
            password: password.map(str::to_owned),
            mfa_code: mfa_code.map(str::to_owned),
            ..SudoProof::default()
        }
    }

    /// Whether the proof offers anything at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.password.is_none()
            && self.mfa_code.is_none()
            && self.webauthn_response.is_none()
            && self.webauthn_challenge.is_none()
    }

    /// Whether the client chose WebAuthn (by name, or by sending an assertion).
    pub(crate) fn offers_webauthn(&self) -> bool {
        self.mfa_method.as_deref() == Some("webauthn")
            || (self.mfa_method.is_none() && self.webauthn_response.is_some())
    }
}

fn cache_key(challenge: &str) -> String {
    format!("webauthn:challenge:{}", to_hex(&hash_token(challenge)))
}

fn passkey_failed() -> Error {
    Error::PasskeyAuthenticationFailed
}

fn invalid_credential() -> Error {
    Error::rejected(
        "INVALID_WEBAUTHN_CREDENTIAL",
        "Failed to verify WebAuthn credential.",
    )
}

/// The credential ID an answer names (`rawId`, else `id`), as base64url without padding; `None`
/// when it is missing or not base64.
pub(crate) fn response_credential_id(response: &serde_json::Value) -> Option<String> {
    let raw = response
        .get("rawId")
        .or_else(|| response.get("id"))?
        .as_str()?;
    if raw.is_empty() || raw.len() > MAX_ID_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(raw))
        .ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    let mut v = Validator::new();
    v.length("name", name, 1, 100);
    v.finish()?;
    Ok(name.to_owned())
}

impl Fluxer {
    fn ceremonies(&self) -> Result<&dyn WebAuthnCeremonies> {
        self.ports()
            .webauthn
            .as_deref()
            .ok_or_else(|| Error::Unavailable {
                code: "WEBAUTHN_UNAVAILABLE",
                message: "Passkeys are not enabled on this instance.".to_owned(),
            })
    }

    /// Keeps a ceremony's state for its answer.
    async fn remember(&self, challenge: &WebAuthnChallenge, pending: Pending) -> Result<()> {
        let value = serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.to_string()))?;
        self.ports()
            .cache
            .set(
                &cache_key(&challenge.challenge),
                &value,
                Some(CHALLENGE_TTL),
            )
            .await?;
        Ok(())
    }

    /// Takes the ceremony `challenge` names: once, and only for `purpose`, `user` and `ticket`.
    async fn take_pending(
        &self,
        challenge: &str,
        purpose: Purpose,
        user: Option<UserId>,
        ticket: Option<&str>,
    ) -> Result<Option<Pending>> {
        if challenge.is_empty() || challenge.len() > MAX_ID_LEN {
            return Ok(None);
        }
        let key = cache_key(challenge);
        let cache = &self.ports().cache;
        let Some(raw) = cache.get(&key).await? else {
            return Ok(None);
        };
        // Whoever deletes it owns it: of two answers to one challenge, one goes on.
        if !cache.delete(&key).await? {
            return Ok(None);
        }
        let Ok(pending) = serde_json::from_slice::<Pending>(&raw) else {
            return Ok(None);
        };
        let ticket_hash = ticket.map(|t| to_hex(&hash_token(t)));
        let matches = pending.purpose == purpose
            && (user.is_none() || pending.user == user)
            && (ticket_hash.is_none() || pending.ticket == ticket_hash);
        Ok(matches.then_some(pending))
    }

    /// `GET /users/@me/mfa/webauthn/credentials`, oldest first.
    pub async fn webauthn_credentials(
        &self,
        actor: &Actor,
    ) -> Result<Vec<WebAuthnCredentialResponse>> {
        actor.require_person(PEOPLE_ONLY)?;
        let credentials = self.store().list_webauthn_credentials(actor.id()).await?;
        Ok(credentials
            .iter()
            .map(WebAuthnCredential::response)
            .collect())
    }

    /// `POST /users/@me/mfa/webauthn/credentials/registration-options` (sudo mode): the options
    /// for `navigator.credentials.create()`.
    pub async fn webauthn_registration_options(
        &self,
        actor: &Actor,
        sudo: &SudoProof,
    ) -> Result<serde_json::Value> {
        actor.require_person(PEOPLE_ONLY)?;
        self.require_sudo_proof(actor, sudo).await?;
        let user = &actor.user;
        let existing = self.store().list_webauthn_credentials(user.id).await?;
        if existing.len() >= MAX_WEBAUTHN_CREDENTIALS {
            return Err(limit_reached());
        }
        let exclude: Vec<String> = existing.into_iter().map(|c| c.id).collect();
        let challenge = self
            .ceremonies()?
            .start_registration(user.id.to_string().as_bytes(), &user.username, &exclude)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.remember(
            &challenge,
            Pending {
                purpose: Purpose::Registration,
                user: Some(user.id),
                ticket: None,
                state: challenge.state.clone(),
            },
        )
        .await?;
        Ok(challenge.options)
    }

    /// `POST /users/@me/mfa/webauthn/credentials` (sudo mode): stores the credential answering
    /// `challenge`; the account then has WebAuthn as a second factor.
    pub async fn register_webauthn_credential(
        &self,
        actor: &Actor,
        response: &serde_json::Value,
        challenge: &str,
        name: &str,
        sudo: &SudoProof,
    ) -> Result<()> {
        actor.require_person(PEOPLE_ONLY)?;
        let name = validate_name(name)?;
        self.require_sudo_proof(actor, sudo).await?;
        let user_id = actor.id();
        let pending = self
            .take_pending(challenge, Purpose::Registration, Some(user_id), None)
            .await?
            .ok_or_else(invalid_credential)?;
        if self.store().list_webauthn_credentials(user_id).await?.len() >= MAX_WEBAUTHN_CREDENTIALS
        {
            return Err(limit_reached());
        }
        let registered = self
            .ceremonies()?
            .finish_registration(&pending.state, response)
            .map_err(|e| match e {
                WebAuthnFailure::Internal(detail) => Error::Internal(detail),
                _ => invalid_credential(),
            })?;
        let credential = WebAuthnCredential {
            id: registered.id,
            user_id,
            name,
            passkey: registered.passkey,
            sign_count: registered.sign_count,
            created_at: self.now(),
            last_used_at: None,
        };
        match self.store().create_webauthn_credential(&credential).await {
            Ok(()) => {}
            Err(e) if is_conflict(&e, conflict::WEBAUTHN_CREDENTIAL) => {
                return Err(invalid_credential());
            }
            Err(e) => return Err(e.into()),
        }
        self.set_webauthn_flag(user_id, true).await
    }

    /// `PATCH /users/@me/mfa/webauthn/credentials/{id}` (sudo mode).
    pub async fn rename_webauthn_credential(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        sudo: &SudoProof,
    ) -> Result<()> {
        actor.require_person(PEOPLE_ONLY)?;
        let name = validate_name(name)?;
        self.require_sudo_proof(actor, sudo).await?;
        if !self
            .store()
            .rename_webauthn_credential(actor.id(), id, &name)
            .await?
        {
            return Err(Error::Unknown(Unknown::WebAuthnCredential));
        }
        Ok(())
    }

    /// `DELETE /users/@me/mfa/webauthn/credentials/{id}` (sudo mode). Without credentials left the
    /// account no longer has WebAuthn as a second factor.
    pub async fn delete_webauthn_credential(
        &self,
        actor: &Actor,
        id: &str,
        sudo: &SudoProof,
    ) -> Result<()> {
        actor.require_person(PEOPLE_ONLY)?;
        self.require_sudo_proof(actor, sudo).await?;
        let user_id = actor.id();
        if !self.store().delete_webauthn_credential(user_id, id).await? {
            return Err(Error::Unknown(Unknown::WebAuthnCredential));
        }
        if self
            .store()
            .list_webauthn_credentials(user_id)
            .await?
            .is_empty()
        {
            self.set_webauthn_flag(user_id, false).await?;
        }
        Ok(())
    }

    /// Keeps the account's WebAuthn flag in step with its credentials, and tells its sessions.
    pub(crate) async fn set_webauthn_flag(&self, user_id: UserId, on: bool) -> Result<()> {
        let mut user = self
            .store()
            .get_user(user_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        if user.webauthn == on {
            return Ok(());
        }
        user.webauthn = on;
        self.store().update_user(&user).await?;
        self.emit_user_update(&user).await;
        Ok(())
    }

    /// Options allowing `credentials`, remembered for `purpose`.
    async fn authentication_options(
        &self,
        credentials: &[WebAuthnCredential],
        pending: Pending,
    ) -> Result<serde_json::Value> {
        let allow: Vec<&str> = credentials.iter().map(|c| c.passkey.as_str()).collect();
        let challenge = self
            .ceremonies()?
            .start_authentication(&allow)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.remember(
            &challenge,
            Pending {
                state: challenge.state.clone(),
                ..pending
            },
        )
        .await?;
        Ok(challenge.options)
    }

    /// `POST /auth/webauthn/authentication-options`: options for a passwordless login with any
    /// passkey of this instance.
    pub async fn webauthn_login_options(&self) -> Result<serde_json::Value> {
        self.authentication_options(
            &[],
            Pending {
                purpose: Purpose::Discoverable,
                user: None,
                ticket: None,
                state: String::new(),
            },
        )
        .await
    }

    /// `POST /auth/webauthn/authenticate`: a passwordless login with a passkey.
    pub async fn webauthn_login(
        &self,
        response: &serde_json::Value,
        challenge: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome> {
        let credential = self
            .verify_assertion(challenge, response, Purpose::Discoverable, None, None)
            .await?;
        let user = self.login_user(credential.user_id).await?;
        self.finish_login(&user, &client).await
    }

    /// `POST /auth/login/mfa/webauthn/authentication-options`: options for the second factor of
    /// the login `ticket` belongs to. The ticket stays good for its other methods.
    pub async fn webauthn_mfa_options(&self, ticket: &str) -> Result<serde_json::Value> {
        let user_id = self.peek_mfa_ticket(ticket).await?;
        let credentials = self.store().list_webauthn_credentials(user_id).await?;
        if credentials.is_empty() {
            return Err(no_passkeys());
        }
        self.authentication_options(
            &credentials,
            Pending {
                purpose: Purpose::Mfa,
                user: Some(user_id),
                ticket: Some(to_hex(&hash_token(ticket))),
                state: String::new(),
            },
        )
        .await
    }

    /// `POST /auth/login/mfa/webauthn`: completes a password login with a WebAuthn assertion. The
    /// ticket is used up by the attempt, as a TOTP attempt uses it up.
    pub async fn login_webauthn_mfa(
        &self,
        ticket: &str,
        response: &serde_json::Value,
        challenge: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome> {
        let token = self
            .store()
            .take_action_token(ActionTokenKind::MfaTicket, &hash_token(ticket), self.now())
            .await?
            .ok_or_else(bad_ticket)?;
        self.verify_assertion(
            challenge,
            response,
            Purpose::Mfa,
            Some(token.user_id),
            Some(ticket),
        )
        .await?;
        let user = self.login_user(token.user_id).await?;
        self.finish_login(&user, &client).await
    }

    /// `POST /users/@me/sudo/webauthn/authentication-options`: options for confirming sudo mode
    /// with one of the caller's credentials.
    pub async fn sudo_webauthn_options(&self, actor: &Actor) -> Result<serde_json::Value> {
        actor.require_person(PEOPLE_ONLY)?;
        let credentials = self.store().list_webauthn_credentials(actor.id()).await?;
        if credentials.is_empty() {
            return Err(no_passkeys());
        }
        self.authentication_options(
            &credentials,
            Pending {
                purpose: Purpose::Sudo,
                user: Some(actor.id()),
                ticket: None,
                state: String::new(),
            },
        )
        .await
    }

    /// Checks a sudo-mode assertion by one of `user`'s credentials.
    pub(crate) async fn verify_sudo_webauthn(
        &self,
        user: UserId,
        response: &serde_json::Value,
        challenge: &str,
    ) -> Result<()> {
        self.verify_assertion(challenge, response, Purpose::Sudo, Some(user), None)
            .await
            .map(|_| ())
    }

    /// Verifies an assertion answering `challenge` in its context and records the credential's
    /// use; the credential it was made with.
    async fn verify_assertion(
        &self,
        challenge: &str,
        response: &serde_json::Value,
        purpose: Purpose,
        user: Option<UserId>,
        ticket: Option<&str>,
    ) -> Result<WebAuthnCredential> {
        let pending = self
            .take_pending(challenge, purpose, user, ticket)
            .await?
            .ok_or_else(passkey_failed)?;
        let id = response_credential_id(response).ok_or_else(passkey_failed)?;
        let credential = self
            .store()
            .get_webauthn_credential(&id)
            .await?
            .filter(|c| user.is_none_or(|u| c.user_id == u))
            .ok_or_else(passkey_failed)?;
        // A user handle, when the authenticator gives one, must name the credential's owner.
        if let Some(handle) = response["response"]["userHandle"].as_str()
            && !handle.is_empty()
            && URL_SAFE_NO_PAD.decode(handle.trim_end_matches('=')).ok()
                != Some(credential.user_id.to_string().into_bytes())
        {
            return Err(passkey_failed());
        }
        let verified = self
            .ceremonies()?
            .finish_authentication(&pending.state, response, &credential)
            .map_err(|e| match e {
                WebAuthnFailure::Internal(detail) => Error::Internal(detail),
                // A counter that went back (a cloned key) is refused like any failed
                // assertion, as upstream's verifier refuses it.
                _ => passkey_failed(),
            })?;
        let used = WebAuthnCredential {
            sign_count: verified.sign_count,
            passkey: verified.passkey,
            last_used_at: Some(self.now()),
            ..credential
        };
        // The store refuses a counter that another use already reached (two answers at once).
        if !self.store().record_webauthn_use(&used).await? {
            return Err(passkey_failed());
        }
        Ok(used)
    }

    /// The ticket's account, leaving the ticket in place.
    async fn peek_mfa_ticket(&self, ticket: &str) -> Result<UserId> {
        let token = self
            .store()
            .take_action_token(ActionTokenKind::MfaTicket, &hash_token(ticket), self.now())
            .await?
            .ok_or_else(bad_ticket)?;
        // The port only takes tokens: put it back as it was, for the login that follows.
        self.store().create_action_token(&token).await?;
        Ok(token.user_id)
    }

    /// The account a passkey logs in to, if it may log in.
    async fn login_user(&self, id: UserId) -> Result<User> {
        self.store()
            .get_user(id)
            .await?
            .filter(|u| u.deleted_at.is_none() && !u.bot)
            .ok_or_else(passkey_failed)
    }

    async fn finish_login(&self, user: &User, client: &ClientInfo) -> Result<LoginOutcome> {
        self.cancel_account_deletion(user).await?;
        let token = self.open_session(user.id, client).await?;
        Ok(LoginOutcome::Session {
            token,
            user_id: user.id,
        })
    }
}

fn limit_reached() -> Error {
    Error::rejected(
        "WEBAUTHN_CREDENTIAL_LIMIT_REACHED",
        format!("You've reached the maximum of {MAX_WEBAUTHN_CREDENTIALS} WebAuthn credentials."),
    )
}

fn no_passkeys() -> Error {
    Error::rejected("NO_PASSKEYS_REGISTERED", "No passkeys are registered.")
}

fn bad_ticket() -> Error {
    Error::field(
        "ticket",
        "INVALID_MFA_TICKET",
        "The login ticket is invalid or expired.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_credential_id_is_read_from_raw_id_in_either_base64() {
        let url = json!({ "id": "x", "rawId": "-_8" });
        assert_eq!(response_credential_id(&url).as_deref(), Some("-_8"));
        let std_padded = json!({ "rawId": "+/8=" });
        assert_eq!(response_credential_id(&std_padded).as_deref(), Some("-_8"));
        let id_only = json!({ "id": "AAEC" });
        assert_eq!(response_credential_id(&id_only).as_deref(), Some("AAEC"));
        assert_eq!(response_credential_id(&json!({ "rawId": "!!" })), None);
        assert_eq!(response_credential_id(&json!({ "rawId": 5 })), None);
        assert_eq!(response_credential_id(&json!({})), None);
    }

    #[test]
    fn a_sudo_proof_offers_webauthn_by_name_or_by_assertion() {
        let named = SudoProof {
            mfa_method: Some("webauthn".to_owned()),
            ..SudoProof::default()
        };
        assert!(named.offers_webauthn());
        let implied = SudoProof {
            webauthn_response: Some(json!({})),
            ..SudoProof::default()
        };
        assert!(implied.offers_webauthn());
        let totp = SudoProof {
            mfa_method: Some("totp".to_owned()),
            webauthn_response: Some(json!({})),
            ..SudoProof::default()
        };
        assert!(!totp.offers_webauthn());
        assert!(SudoProof::default().is_empty());
    }
}
