//! The relying party's WebAuthn cryptography on `webauthn-rs-core` (the kanidm project's
//! verifier): the [`WebAuthnCeremonies`] port for passkeys and security keys.
//!
//! The core API rather than `webauthn-rs`'s wrapper, because upstream's user handle is the user
//! ID's digits and the wrapper only takes UUIDs; the policy the wrapper would enforce is set here
//! instead: user verification required, discoverable credentials, no attestation asked for, a
//! signature counter that must rise.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fluxer_core::model::WebAuthnCredential;
use fluxer_core::ports::{
    RegisteredCredential, VerifiedAssertion, WebAuthnCeremonies, WebAuthnChallenge, WebAuthnFailure,
};
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationState, Credential, CredentialID,
    PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

/// How long the browser waits for the authenticator (the challenge lives as long on the server).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The instance as a WebAuthn relying party.
pub struct WebAuthnRelyingParty {
    core: WebauthnCore,
}

impl std::fmt::Debug for WebAuthnRelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebAuthnRelyingParty")
            .field("rp_name", &self.core.rp_name())
            .field("origins", &self.core.get_allowed_origins())
            .finish()
    }
}

impl WebAuthnRelyingParty {
    /// A relying party named `rp_name` (what authenticators show), with credentials scoped to
    /// `rp_id` (a domain), accepting ceremonies from `origins` (the web app's, exactly: scheme,
    /// host and port). The RP ID must be the origins' host or a parent domain of it.
    pub fn new(rp_name: &str, rp_id: &str, origins: &[String]) -> Result<Self, String> {
        if rp_id.is_empty() {
            return Err("the WebAuthn RP ID is empty".to_owned());
        }
        let mut allowed = Vec::new();
        for origin in origins {
            let url = Url::parse(origin).map_err(|e| format!("WebAuthn origin {origin}: {e}"))?;
            let host = url.host_str().unwrap_or_default();
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(format!(
                    "WebAuthn origin {origin} is not on the RP ID {rp_id} or a subdomain of it"
                ));
            }
            allowed.push(url);
        }
        if allowed.is_empty() {
            return Err("no WebAuthn origin".to_owned());
        }
        Ok(WebAuthnRelyingParty {
            core: WebauthnCore::new_unsafe_experts_only(
                rp_name,
                rp_id,
                allowed,
                TIMEOUT,
                Some(false),
                Some(false),
            ),
        })
    }
}

fn internal(e: impl std::fmt::Display) -> WebAuthnFailure {
    WebAuthnFailure::Internal(e.to_string())
}

/// Sorts the verifier's refusals: a response it could not read, a counter that went back, and
/// everything else that does not verify.
fn refusal(e: WebauthnError) -> WebAuthnFailure {
    match e {
        WebauthnError::CredentialPossibleCompromise => WebAuthnFailure::CounterRegression,
        WebauthnError::ParseBase64Failure(_)
        | WebauthnError::ParseCBORFailure(_)
        | WebauthnError::ParseNOMFailure
        | WebauthnError::ParseJSONFailure(_) => WebAuthnFailure::Malformed(e.to_string()),
        other => WebAuthnFailure::Rejected(other.to_string()),
    }
}

/// What a ceremony's start gives the caller: the options for the browser, their challenge, and the
/// library's state to keep until the answer.
fn challenge(
    options: &impl serde::Serialize,
    state: &impl serde::Serialize,
) -> Result<WebAuthnChallenge, WebAuthnFailure> {
    let options = serde_json::to_value(options).map_err(internal)?;
    Ok(WebAuthnChallenge {
        challenge: challenge_of(&options)?,
        options,
        state: serde_json::to_string(state).map_err(internal)?,
    })
}

fn challenge_of(options: &serde_json::Value) -> Result<String, WebAuthnFailure> {
    options["challenge"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| internal("the options carry no challenge"))
}

fn credential_id(id: &str) -> Result<CredentialID, WebAuthnFailure> {
    URL_SAFE_NO_PAD
        .decode(id)
        .map(CredentialID::from)
        .map_err(|_| internal("a stored credential ID is not base64url"))
}

impl WebAuthnCeremonies for WebAuthnRelyingParty {
    fn start_registration(
        &self,
        user_handle: &[u8],
        user_name: &str,
        exclude: &[String],
    ) -> Result<WebAuthnChallenge, WebAuthnFailure> {
        let exclude = exclude
            .iter()
            .map(|id| credential_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = self
            .core
            .new_challenge_register_builder(user_handle, user_name, user_name)
            .map_err(internal)?
            .attestation(AttestationConveyancePreference::None)
            .user_verification_policy(UserVerificationPolicy::Required)
            .require_resident_key(true)
            .exclude_credentials((!exclude.is_empty()).then_some(exclude));
        let (options, state) = self
            .core
            .generate_challenge_register(builder)
            .map_err(internal)?;
        challenge(&options.public_key, &state)
    }

    fn finish_registration(
        &self,
        state: &str,
        response: &serde_json::Value,
    ) -> Result<RegisteredCredential, WebAuthnFailure> {
        let state: RegistrationState = serde_json::from_str(state).map_err(internal)?;
        let response: RegisterPublicKeyCredential = serde_json::from_value(response.clone())
            .map_err(|e| WebAuthnFailure::Malformed(e.to_string()))?;
        let credential = self
            .core
            .register_credential(&response, &state, None)
            .map_err(refusal)?;
        Ok(RegisteredCredential {
            id: URL_SAFE_NO_PAD.encode(credential.cred_id.as_slice()),
            sign_count: credential.counter,
            passkey: serde_json::to_string(&credential).map_err(internal)?,
        })
    }

    fn start_authentication(&self, allow: &[&str]) -> Result<WebAuthnChallenge, WebAuthnFailure> {
        let credentials = allow
            .iter()
            .map(|p| serde_json::from_str::<Credential>(p).map_err(internal))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = self
            .core
            .new_challenge_authenticate_builder(credentials, Some(UserVerificationPolicy::Required))
            .map_err(internal)?
            // A passkey may start syncing (become backup eligible) after registration.
            .allow_backup_eligible_upgrade(true);
        let (options, state) = self
            .core
            .generate_challenge_authenticate(builder)
            .map_err(internal)?;
        challenge(&options.public_key, &state)
    }

    fn finish_authentication(
        &self,
        state: &str,
        response: &serde_json::Value,
        credential: &WebAuthnCredential,
    ) -> Result<VerifiedAssertion, WebAuthnFailure> {
        let mut state: AuthenticationState = serde_json::from_str(state).map_err(internal)?;
        let response: PublicKeyCredential = serde_json::from_value(response.clone())
            .map_err(|e| WebAuthnFailure::Malformed(e.to_string()))?;
        let mut stored: Credential = serde_json::from_str(&credential.passkey).map_err(internal)?;
        // The counter to beat is the store's, which every accepted use raises.
        stored.counter = credential.sign_count;
        // Only the credential the caller looked up may answer; for a passwordless login the
        // options allowed any.
        state.set_allowed_credentials(vec![stored.clone()]);
        let result = self
            .core
            .authenticate_credential(&response, &state)
            .map_err(refusal)?;
        stored.counter = result.counter();
        stored.backup_state = result.backup_state();
        stored.backup_eligible = result.backup_eligible();
        Ok(VerifiedAssertion {
            sign_count: result.counter(),
            passkey: serde_json::to_string(&stored).map_err(internal)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_sit_on_the_rp_id() {
        assert!(
            WebAuthnRelyingParty::new("Fluxer", "example.com", &["https://example.com".to_owned()])
                .is_ok()
        );
        assert!(
            WebAuthnRelyingParty::new(
                "Fluxer",
                "example.com",
                &["https://app.example.com".to_owned()]
            )
            .is_ok()
        );
        assert!(
            WebAuthnRelyingParty::new(
                "Fluxer",
                "example.com",
                &["https://evil-example.com".to_owned()]
            )
            .is_err()
        );
        assert!(WebAuthnRelyingParty::new("Fluxer", "example.com", &[]).is_err());
        assert!(
            WebAuthnRelyingParty::new("Fluxer", "", &["https://example.com".to_owned()]).is_err()
        );
    }

    #[test]
    fn registration_options_carry_the_user_handle_and_demand_verification() {
        let rp =
            WebAuthnRelyingParty::new("Fluxer", "localhost", &["http://localhost:8088".to_owned()])
                .unwrap();
        let c = rp.start_registration(b"1234", "alice", &[]).unwrap();
        assert_eq!(c.options["user"]["id"], "MTIzNA");
        assert_eq!(c.options["rp"]["id"], "localhost");
        assert_eq!(c.options["challenge"], c.challenge);
        assert_eq!(
            c.options["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(
            c.options["authenticatorSelection"]["residentKey"],
            "required"
        );
        // An answer that is not a registration response is malformed, not a server failure.
        let err = rp
            .finish_registration(&c.state, &serde_json::json!({ "id": 1 }))
            .unwrap_err();
        assert!(matches!(err, WebAuthnFailure::Malformed(_)), "{err:?}");
    }
}
