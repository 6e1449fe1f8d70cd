//! WebAuthn: where credentials are kept ([`WebAuthnCredentialRepository`], part of the
//! [`Store`](super::Store)) and who runs the ceremonies' cryptography ([`WebAuthnCeremonies`]).

use async_trait::async_trait;

use super::PortResult;
use crate::id::UserId;
use crate::model::WebAuthnCredential;

/// Registered WebAuthn credentials, unique by ID across the instance.
#[async_trait]
pub trait WebAuthnCredentialRepository: Send + Sync {
    /// Stores a new credential; [`Conflict`](crate::error::StoreError::Conflict) named
    /// [`WEBAUTHN_CREDENTIAL`](super::conflict::WEBAUTHN_CREDENTIAL) when one with its ID exists,
    /// whoever owns it.
    async fn create_webauthn_credential(&self, credential: &WebAuthnCredential) -> PortResult<()>;
    /// The credential with this ID, whoever owns it.
    async fn get_webauthn_credential(&self, id: &str) -> PortResult<Option<WebAuthnCredential>>;
    /// `user`'s credentials, oldest first.
    async fn list_webauthn_credentials(&self, user: UserId) -> PortResult<Vec<WebAuthnCredential>>;
    /// Renames `user`'s credential `id`; `false` when `user` has none with that ID.
    async fn rename_webauthn_credential(
        &self,
        user: UserId,
        id: &str,
        name: &str,
    ) -> PortResult<bool>;
    /// Records an accepted use: replaces the stored credential with `credential` (its new
    /// `sign_count`, `last_used_at` and `passkey`) only if its `sign_count` is above the stored one,
    /// or both are 0 (an authenticator without a counter). `false`, changing nothing, when the
    /// counter did not rise or the credential is gone; of two uses with the same counter, at most
    /// one is recorded.
    async fn record_webauthn_use(&self, credential: &WebAuthnCredential) -> PortResult<bool>;
    /// Deletes `user`'s credential `id`; `false` when `user` has none with that ID.
    async fn delete_webauthn_credential(&self, user: UserId, id: &str) -> PortResult<bool>;
    /// Deletes every credential of `user` (account erasure); returns how many.
    async fn delete_user_webauthn_credentials(&self, user: UserId) -> PortResult<u64>;
}

/// The first half of a ceremony: what the client passes to `navigator.credentials.create()` or
/// `.get()`, and what the server keeps to check the answer.
#[derive(Debug, Clone)]
pub struct WebAuthnChallenge {
    /// The `PublicKeyCredentialCreationOptionsJSON` or `...RequestOptionsJSON` (without a
    /// `publicKey` wrapper), as upstream returns them.
    pub options: serde_json::Value,
    /// The challenge, base64url, as it appears in `options`; the client sends it back beside its
    /// answer.
    pub challenge: String,
    /// The verifier's state for the second half, opaque text; kept server-side only.
    pub state: String,
}

/// A credential the authenticator created, checked against its registration challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCredential {
    /// The credential ID, base64url without padding.
    pub id: String,
    /// The verifier's record of it, to store in [`WebAuthnCredential::passkey`].
    pub passkey: String,
    /// The authenticator's signature counter at creation.
    pub sign_count: u32,
}

/// An assertion that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The authenticator's new signature counter.
    pub sign_count: u32,
    /// The credential record, updated with what the assertion showed (backup state).
    pub passkey: String,
}

/// Why a ceremony's second half failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebAuthnFailure {
    /// The client's answer is not a well formed WebAuthn response (bad JSON shape or base64).
    #[error("malformed WebAuthn response: {0}")]
    Malformed(String),
    /// The answer is well formed but does not verify: wrong challenge, origin or RP, bad
    /// signature, user verification missing, a credential not allowed.
    #[error("WebAuthn verification failed: {0}")]
    Rejected(String),
    /// The signature counter did not rise: the key may have been cloned.
    #[error("WebAuthn signature counter did not increase")]
    CounterRegression,
    /// The verifier itself failed (its state or a stored record is unreadable).
    #[error("WebAuthn verifier failure: {0}")]
    Internal(String),
}

/// The relying party's WebAuthn cryptography: builds challenges and verifies what authenticators
/// answer. Every ceremony requires user verification and discoverable (resident) credentials, as
/// upstream's do. Implementations hold the RP ID and the allowed origins.
pub trait WebAuthnCeremonies: Send + Sync {
    /// Registration options for the account whose user handle is `user_handle` (upstream's: the
    /// user ID's decimal digits), excluding the credentials in `exclude` (base64url IDs).
    fn start_registration(
        &self,
        user_handle: &[u8],
        user_name: &str,
        exclude: &[String],
    ) -> Result<WebAuthnChallenge, WebAuthnFailure>;
    /// Verifies a `RegistrationResponseJSON` against the state `start_registration` returned.
    fn finish_registration(
        &self,
        state: &str,
        response: &serde_json::Value,
    ) -> Result<RegisteredCredential, WebAuthnFailure>;
    /// Authentication options allowing `allow` (stored `passkey` records), or any discoverable
    /// credential of this RP when `allow` is empty (passwordless login).
    fn start_authentication(&self, allow: &[&str]) -> Result<WebAuthnChallenge, WebAuthnFailure>;
    /// Verifies an `AuthenticationResponseJSON` by `credential`'s key against the state
    /// `start_authentication` returned. `credential.sign_count` is the counter the answer must
    /// exceed (unless both are 0).
    fn finish_authentication(
        &self,
        state: &str,
        response: &serde_json::Value,
        credential: &WebAuthnCredential,
    ) -> Result<VerifiedAssertion, WebAuthnFailure>;
}
