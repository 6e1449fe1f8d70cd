//! WebAuthn credentials (passkeys and security keys) as stored.

use serde::{Deserialize, Serialize};

use crate::id::UserId;
use crate::time::Timestamp;

/// A WebAuthn credential registered to an account: a passkey or security key that logs in without
/// a password (`/auth/webauthn/*`) or serves as the second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnCredential {
    /// The credential ID the authenticator chose, base64url without padding (upstream's form);
    /// unique across the instance.
    pub id: String,
    /// The account it logs in to.
    pub user_id: UserId,
    /// The owner's name for it, 1-100 characters.
    pub name: String,
    /// The verifying library's record of the credential (public key, algorithm, policy), opaque
    /// to the domain.
    pub passkey: String,
    /// The authenticator's signature counter at its last accepted use; a use that does not raise
    /// it (unless the authenticator keeps no counter, always 0) is refused as a cloned key.
    pub sign_count: u32,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it last logged in or confirmed an action; `None` if never.
    pub last_used_at: Option<Timestamp>,
}

impl WebAuthnCredential {
    /// What `GET /users/@me/mfa/webauthn/credentials` shows of it.
    pub fn response(&self) -> WebAuthnCredentialResponse {
        WebAuthnCredentialResponse {
            id: self.id.clone(),
            name: self.name.clone(),
            created_at: self.created_at.to_iso8601(),
            last_used_at: self.last_used_at.map(|t| t.to_iso8601()),
        }
    }
}

/// `WebAuthnCredentialResponse`: a credential as its owner lists it (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnCredentialResponse {
    /// The credential ID, base64url.
    pub id: String,
    /// The owner's name for it.
    pub name: String,
    /// ISO 8601 time of registration.
    pub created_at: String,
    /// ISO 8601 time of the last use; `null` if never used.
    pub last_used_at: Option<String>,
}
